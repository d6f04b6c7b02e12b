/**
 * Operator logs: `createLogger` stamps each line with the time and filters by level; its JSON
 * lines carry `time`, `level`, `message` and the task's fields; and `machinery worker
 * --log-format json` writes only JSON lines, with a task's UUID on its start and end lines.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createLogger } from "../mod.ts";
import { waitFor } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("createLogger", () => {
  it("writes JSON lines with time, level, message and fields", () => {
    const lines: string[] = [];
    const logger = createLogger({ format: "json", write: (l) => lines.push(l) });
    logger.info("Started", { task_uuid: "task_1", task_name: "add" });
    logger.error('bad "quote"\nnext');
    const [first, second] = lines.map((l) => JSON.parse(l));
    assert.match(first.time, ISO);
    assert.deepEqual({ ...first, time: "" }, {
      time: "",
      level: "info",
      message: "Started",
      task_uuid: "task_1",
      task_name: "add",
    });
    assert.equal(second.level, "error");
    assert.equal(second.message, 'bad "quote"\nnext');
    assert.equal(lines.length, 2, "one line per call");
    assert.ok(!lines[1].includes("\n"), "a line break in a message stays escaped");
  });

  it("filters by level and stamps text lines", () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "warn", write: (l) => lines.push(l) });
    logger.debug("no");
    logger.info("no");
    logger.warn("yes", { task_uuid: "task_2" });
    assert.equal(logger.verbose, false);
    assert.equal(lines.length, 1);
    const [time, level, ...rest] = lines[0].split(" ");
    assert.match(time, ISO);
    assert.equal(level, "WARNING");
    assert.equal(rest.join(" "), "yes task_uuid=task_2");
  });
});

describe("worker --log-format json", () => {
  it("writes one JSON object per line", { timeout: 60_000 }, async () => {
    const IS_DENO = "Deno" in globalThis;
    const args = [
      "worker",
      "--broker",
      "memory://",
      "--result-backend",
      "memory://",
      "--log-format",
      "json",
      "--log-level",
      "debug",
      "--periodic",
      "add=@every 1s",
    ];
    const argv = IS_DENO ? ["run", "-A", "--quiet", "cli.ts", ...args] : ["cli.ts", ...args];
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: "pipe" });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const killer = setTimeout(() => child.kill("SIGKILL"), 50_000);
    try {
      // The periodic `add` runs in the worker: its start and end lines carry its UUID.
      await waitFor(() => stderr.includes("Processed task"), "a task to run", 30_000);
      // Deno's ChildProcess.kill reports a signalled exit even when the child exits 0 itself.
      process.kill(child.pid!, "SIGTERM");
      assert.equal(await exited, 0, stderr);
    } finally {
      clearTimeout(killer);
      child.kill("SIGKILL");
    }
    const lines = stderr.trimEnd().split("\n").map((line) => JSON.parse(line));
    for (const line of lines) {
      assert.match(line.time, ISO);
      assert.ok(["debug", "info", "warn", "error"].includes(line.level), line.level);
      assert.equal(typeof line.message, "string");
    }
    const started = lines.find((l) => l.message.startsWith("Started task"));
    const processed = lines.find((l) => l.message.startsWith("Processed task"));
    assert.equal(started?.task_name, "add");
    assert.match(started?.task_uuid, /^task_/);
    assert.equal(processed?.task_uuid, started?.task_uuid);
  });
});
