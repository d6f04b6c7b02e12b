/**
 * The README's TypeScript examples run as pasted: each ```ts block (not marked `ignore`) is written
 * to a temporary file, its `@machinery/machinery` imports pointed at this checkout, and run with
 * the runtime running this test (type-checked too under Deno).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const readme = await readFile(new URL("README.md", root), "utf8");
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]);
const isDeno = "Deno" in globalThis;

/**
 * Other packages the examples import. Deno maps them with deno.json; Bun resolves bare names from
 * the file's directory, so it is pointed at the checkout's copy, the one mod.ts loads.
 */
const PACKAGES = ["@logtape/logtape"];

function localise(code: string): string {
  const mod = new URL("mod.ts", root).href;
  let local = code.replace(
    /from "@machinery\/machinery(\/[a-z]+)?"/g,
    (_, sub) => `from "${sub ? new URL(`src${sub}/mod.ts`, root).href : mod}"`,
  );
  if (!isDeno) {
    for (const name of PACKAGES) {
      local = local.replaceAll(`from "${name}"`, `from "${import.meta.resolve(name)}"`);
    }
  }
  return local;
}

function run(file: string): Promise<{ code: number | null; output: string }> {
  const [cmd, args] = isDeno
    ? [Deno.execPath(), [
      "run",
      "--check",
      "-A",
      "--config",
      fileURLToPath(new URL("deno.json", root)),
      file,
    ]]
    : [process.execPath, [file]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: fileURLToPath(root), stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => output += d);
    child.stderr.on("data", (d) => output += d);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("README examples", () => {
  it("has runnable examples", () => assert.ok(blocks.length >= 3, "no ```ts blocks found"));
  blocks.forEach((code, i) => {
    const firstLine = code.split("\n").find((l) => l.startsWith("const") || l.startsWith("//"));
    it(`example ${i + 1} runs (${firstLine?.slice(0, 50)})`, { timeout: 60_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), "readme-"));
      try {
        const file = join(dir, `example_${i + 1}.ts`);
        await writeFile(file, localise(code));
        const { code: exit, output } = await run(file);
        assert.equal(exit, 0, `example ${i + 1} failed:\n${output}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
