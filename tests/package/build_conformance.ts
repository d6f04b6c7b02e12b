/**
 * Compiles the conformance suite's memory and Redis scenarios to JavaScript for Node, into the
 * directory given as the first argument (the repository's layout, `tests/…`). `run.sh` then
 * points the compiled tests' `src/` and `mod.js` at the installed package, so Node runs the
 * suite against the built package rather than the sources.
 *
 * ```sh
 * deno run -A tests/package/build_conformance.ts /tmp/project
 * ```
 *
 * @module
 */
import { compile } from "../../scripts/build_npm.ts";
import { args } from "../../src/runtime.ts";

const [outDir] = args();
if (!outDir) throw new Error("Usage: build_conformance.ts <output directory>");
compile(["tests/conformance/memory_test.ts", "tests/conformance/redis_test.ts"], outDir, false);
