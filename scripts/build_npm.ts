/**
 * Builds the npm package into `dist/npm/` from the same sources JSR publishes: ESM JavaScript and
 * `.d.ts` per source file (relative `.ts` specifiers rewritten to `.js`), a `package.json` whose
 * exports mirror `deno.json` `exports`, the `machinery` command, README and LICENSE.
 *
 * ```sh
 * deno task build:npm && (cd dist/npm && npm pack)
 * ```
 *
 * The TypeScript compiler only emits here (`noCheck`): `deno task check` is the type check.
 *
 * @module
 */
import ts from "typescript";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const OUT = join(ROOT, "dist", "npm");
/** The command's entry, generated: Node has no `import.meta.main` for `cli.ts` to test. */
const BIN = "bin/machinery.js";

interface DenoConfig {
  name: string;
  version: string;
  license: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
}

/**
 * Compiles `entries` (paths from the repository root) and every module they import into `outDir`,
 * keeping the repository's layout, as ESM JavaScript (and `.d.ts` with `declaration`) whose
 * relative `.ts` specifiers end in `.js`. Returns the files written.
 */
export function compile(entries: string[], outDir: string, declaration = true): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    declaration,
    noCheck: true,
    skipLibCheck: true,
    types: [],
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    rootDir: ROOT,
    outDir,
    newLine: ts.NewLineKind.LineFeed,
  };
  const program = ts.createProgram(entries.map((e) => join(ROOT, e)), options);
  const written: string[] = [];
  const result = program.emit(undefined, (file, text) => {
    written.push(file);
    ts.sys.writeFile(file, rewriteSpecifiers(text));
  });
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length) {
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => ROOT };
    throw new Error(ts.formatDiagnostics(errors, { ...host, getNewLine: () => "\n" }));
  }
  return written;
}

/** Relative `.ts` specifiers become `.js` (declaration files keep what the source wrote). */
function rewriteSpecifiers(text: string): string {
  return text.replace(
    /((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g,
    (_, lead, quote, path) => `${lead}${quote}${path}.js${quote}`,
  );
}

/** The bare packages the emitted JavaScript imports (not `node:` built-ins). */
async function bareImports(files: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const file of files.filter((f) => f.endsWith(".js"))) {
    const { importedFiles } = ts.preProcessFile(await readFile(file, "utf8"), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (spec.startsWith(".") || spec.startsWith("node:")) continue;
      found.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]);
    }
  }
  return found;
}

/** The versions `deno.lock` resolved, by `npm:<name>@<range>` specifier. */
async function lockedVersions(): Promise<Record<string, string>> {
  const lock = JSON.parse(await readFile(join(ROOT, "deno.lock"), "utf8"));
  return lock.specifiers ?? {};
}

/**
 * `dependencies`: each driver the package imports, at the version the tests ran on (`deno.lock`)
 * and within the major `deno.json` pins.
 */
async function dependencies(
  config: DenoConfig,
  packages: Set<string>,
): Promise<Record<string, string>> {
  const locked = await lockedVersions();
  const deps: Record<string, string> = {};
  for (const name of [...packages].sort()) {
    const mapped = config.imports[name];
    if (!mapped?.startsWith("npm:")) {
      throw new Error(`The package imports "${name}", which deno.json "imports" does not map`);
    }
    const version = locked[mapped.replace("^", "")];
    if (!version) throw new Error(`deno.lock has no version for "${mapped}": run deno install`);
    deps[name] = `^${version}`;
  }
  return deps;
}

/** `exports`: each `deno.json` subpath, with its types and its module. */
function packageExports(config: DenoConfig): Record<string, { types: string; import: string }> {
  const out: Record<string, { types: string; import: string }> = {};
  for (const [subpath, source] of Object.entries(config.exports)) {
    const js = source.replace(/\.ts$/, ".js");
    out[subpath] = { types: js.replace(/\.js$/, ".d.ts"), import: js };
  }
  return out;
}

async function main(): Promise<void> {
  const config: DenoConfig = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });

  const entries = [...Object.values(config.exports), "./cli.ts"];
  const written = compile(entries, OUT);

  await mkdir(join(OUT, dirname(BIN)), { recursive: true });
  await writeFile(
    join(OUT, BIN),
    [
      "#!/usr/bin/env node",
      'import { main } from "../cli.js";',
      'import { args, exit } from "../src/runtime.js";',
      "",
      "exit(await main(args()));",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );

  const pkg = {
    name: config.name,
    version: config.version,
    description: "A distributed task queue wire-compatible with Go's machinery: Redis, " +
      "AMQP, Memcache and MongoDB, for Node, Deno and Bun",
    license: config.license,
    type: "module",
    exports: packageExports(config),
    bin: { machinery: BIN },
    // mongodb 7 needs 20.19; the package itself needs Node 20 (tested on 20.20).
    engines: { node: ">=20.19.0" },
    dependencies: await dependencies(config, await bareImports(written)),
    keywords: ["machinery", "task queue", "redis", "amqp", "rabbitmq", "worker"],
  };
  await writeFile(join(OUT, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  await cp(join(ROOT, "README.md"), join(OUT, "README.md"));
  await cp(join(ROOT, "LICENSE"), join(OUT, "LICENSE"));
  console.log(`${relative(ROOT, OUT)}: ${pkg.name}@${pkg.version}, ${written.length} files`);
}

if (import.meta.main) await main();
