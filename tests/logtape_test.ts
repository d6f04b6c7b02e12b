/**
 * machinery's logs through LogTape: an app that configures LogTape gets a worker's records under
 * the category `["machinery"]`, with the task's UUID and name as properties and messages as the
 * worker wrote them; `verbose` follows the configured level; and `logtapeFormatter` writes the
 * same lines as `createLogger`.
 */
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  createLogger,
  type LogFormat,
  logtapeFormatter,
  logtapeLogger,
  MemoryBackend,
  MemoryBroker,
  newSignature,
  Server,
} from "../mod.ts";
import { waitFor } from "./helpers.ts";

/** Configures LogTape as an app would, with a sink that keeps the records of `category`. */
async function recordInto(
  records: LogRecord[],
  lowestLevel: "debug" | "info",
  category = ["machinery"],
): Promise<void> {
  await configure({
    sinks: { memory: (record) => void records.push(record) },
    loggers: [
      { category, sinks: ["memory"], lowestLevel },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
}

/** The message of a record as a sink renders it: LogTape's parts joined. */
function text(record: LogRecord): string {
  return record.message.map(String).join("");
}

describe("logtapeLogger", () => {
  afterEach(async () => {
    await reset();
  });

  it(
    "hands a worker's task start and end to the app's LogTape sink under machinery",
    { timeout: 20_000 },
    async () => {
      const records: LogRecord[] = [];
      await recordInto(records, "debug");
      const server = new Server({
        broker: new MemoryBroker(),
        backend: new MemoryBackend(),
        config: { noUnixSignals: true },
        logger: logtapeLogger(),
      });
      // A result with braces: LogTape must not read `{…}` in our messages as its placeholders.
      server.registerTask("braces", () => "{total} }}{{");
      const worker = server.newWorker("logtape", 1);
      const running = worker.launch();
      const signature = newSignature("braces", null);
      await server.sendTask(signature);
      const about = (prefix: string) =>
        records.find((r) => text(r).startsWith(`${prefix} ${signature.uuid}`));
      await waitFor(() => about("Started task") && about("Processed task"), "start and end");
      await worker.quit();
      await running;
      await server.close();

      const started = about("Started task")!;
      const processed = about("Processed task")!;
      for (const record of [started, processed]) {
        assert.deepEqual(record.category, ["machinery"]);
        assert.equal(record.level, "debug");
        assert.equal(record.properties.task_uuid, signature.uuid);
        assert.equal(record.properties.task_name, "braces");
      }
      assert.ok(text(processed).includes("{total} }}{{"), text(processed));
      assert.ok(records.every((r) => r.category[0] === "machinery"));
    },
  );

  it("is verbose only when LogTape keeps debug records of its category", async () => {
    const records: LogRecord[] = [];
    await recordInto(records, "info");
    const logger = logtapeLogger();
    assert.equal(logger.verbose, false);
    logger.debug("dropped");
    logger.warn("kept", { task_uuid: "task_1" });
    assert.deepEqual(records.map((r) => [r.level, text(r), r.properties]), [
      ["warning", "kept", { task_uuid: "task_1" }],
    ]);
    await reset();
    await recordInto(records, "debug", ["app", "queue"]);
    assert.equal(logtapeLogger(["app", "queue"]).verbose, true);
    assert.equal(logtapeLogger().verbose, false, "machinery is not configured");
  });
});

describe("logtapeFormatter", () => {
  afterEach(async () => {
    await reset();
  });

  for (const format of ["text", "json"] as LogFormat[]) {
    it(`writes the lines createLogger writes (${format})`, async () => {
      const records: LogRecord[] = [];
      await recordInto(records, "debug");
      const expected: string[] = [];
      const direct = createLogger({ level: "debug", format, write: (l) => expected.push(l) });
      const logger = logtapeLogger();
      const fields = { task_uuid: "task_{1}", task_name: "add\nINFO: forged" };
      for (const target of [direct, logger]) {
        target.debug("Started {task} \u001b[2J", fields);
        target.info("plain");
        target.warn('quote " and }} {{', fields);
        target.error("failed");
      }
      const format_ = logtapeFormatter(format);
      const actual = records.map((r) => format_(r));
      const stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;
      const untimed = (lines: string[]) => lines.map((l) => l.replace(stamp, "TIME"));
      assert.equal(actual.length, 4);
      assert.deepEqual(untimed(actual), untimed(expected));
    });
  }
});
