#!/usr/bin/env -S deno run -A
/**
 * The `machinery` command line: `demo`, `worker`, `send` and `state`, like Go machinery's
 * example program. Logs go to stderr, results to stdout. Exit status: 0 ok, 1 failure, 2 usage.
 * Each command lives in `cli/`, one file each; `cli/main.ts` dispatches.
 *
 * ```sh
 * deno run -A cli.ts demo --long-running-seconds 1
 * deno run -A cli.ts worker --broker redis://127.0.0.1:6379 --result-backend redis://127.0.0.1:6379
 * deno run -A cli.ts send add --arg int64:1 --arg int64:2 --wait
 * ```
 *
 * @module
 */
import { main } from "./cli/main.ts";
import { args, exit } from "./src/runtime.ts";

export { main };

if (import.meta.main) {
  exit(await main(args()));
}
