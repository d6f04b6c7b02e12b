/**
 * Control characters in values that come from messages (a task UUID or name) must not forge
 * log lines or reach the terminal raw: the worker escapes them where it interpolates them, and
 * the console logger escapes whole lines.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  consoleLogger,
  type Logger,
  logSafe,
  MemoryBackend,
  MemoryBroker,
  newSignature,
  Server,
} from "../mod.ts";
import { waitFor } from "./helpers.ts";

const HOSTILE = "id\nINFO: forged line\r\u001b[2J\u2028end";

// deno-lint-ignore no-control-regex -- looking for control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

describe("log lines", () => {
  it("logSafe escapes control characters and leaves other text alone", () => {
    assert.equal(logSafe(HOSTILE), "id\\nINFO: forged line\\r\\u001b[2J\\u2028end");
    assert.equal(logSafe("plain ünïcode ✓"), "plain ünïcode ✓");
    assert.equal(logSafe("tab\there\u007f"), "tab\\there\\u007f");
  });

  it("the console logger writes one line per call", () => {
    const lines: string[] = [];
    const original = console.error;
    console.error = (line: string) => lines.push(line);
    try {
      const logger = consoleLogger(true);
      logger.debug(HOSTILE);
      logger.info(HOSTILE);
      logger.warn(HOSTILE);
      logger.error(HOSTILE);
    } finally {
      console.error = original;
    }
    assert.equal(lines.length, 4);
    for (const line of lines) assert.doesNotMatch(line, CONTROL);
    assert.equal(lines[1], `INFO: ${logSafe(HOSTILE)}`);
  });

  it(
    "the worker escapes hostile UUIDs and task names for any logger",
    { timeout: 20_000 },
    async () => {
      const messages: string[] = [];
      const record = (m: string) => void messages.push(m);
      const logger: Logger = {
        verbose: true,
        debug: record,
        info: record,
        warn: record,
        error: record,
      };
      const broker = new MemoryBroker();
      const backend = new MemoryBackend();
      const server = new Server({ broker, backend, config: { noUnixSignals: true }, logger });
      server.registerTask("fails", () => {
        throw new Error("fails");
      });
      server.registerTask("works", () => 1);
      const worker = server.newWorker("w", 2);
      const running = worker.launch();
      const failing = newSignature("fails", null, { uuid: `${HOSTILE}1` });
      const working = newSignature("works", null, { uuid: `${HOSTILE}2` });
      const unknown = newSignature(`nobody\n${HOSTILE}`, null, { uuid: `${HOSTILE}3` });
      for (const sig of [failing, working, unknown]) await server.sendTask(sig);
      await waitFor(
        () =>
          messages.some((m) => m.startsWith("Failed processing task")) &&
          messages.some((m) => m.startsWith("Processed task")) &&
          messages.some((m) => m.startsWith("Task not registered")),
        "the three log lines",
      );
      await worker.quit();
      await running;
      await server.close();
      for (const message of messages) assert.doesNotMatch(message, CONTROL, message);
    },
  );
});
