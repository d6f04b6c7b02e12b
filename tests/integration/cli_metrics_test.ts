/**
 * `machinery worker --metrics-port N --log-format json` on Redis: `/metrics` parses strictly and
 * counts the tasks sent to it, `/readyz` answers 200 while it consumes, the queue depth comes from
 * the inspector, and every line it logs is a JSON object with a time and a level.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, Server, silentLogger } from "../../mod.ts";
import { newArg } from "../../src/wire/signature.ts";
import { startWorker, stopWorker } from "../cli_support.ts";
import { waitFor } from "../helpers.ts";
import { parsePrometheus, valueOf } from "../prometheus_parser.ts";
import { sparePort } from "./net_support.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";

const skip = await redisSkipReason();

describe("worker --metrics-port on Redis", { skip }, () => {
  const queue = uniqueName("cli_metrics");
  const uuids: string[] = [];
  after(async () => {
    if (!skip) await deleteRedisKeys(uuids, [queue]);
  });

  it("serves metrics that count what ran, and logs JSON lines", { timeout: 90_000 }, async () => {
    const port = await sparePort();
    const env = { BROKER: REDIS_URL, RESULT_BACKEND: REDIS_URL, DEFAULT_QUEUE: queue };
    const worker = await startWorker(
      ["--metrics-port", String(port), "--log-format", "json", "--heartbeat-ttl", "3"],
      env,
    );
    const server = await Server.fromConfig(
      { broker: REDIS_URL, resultBackend: REDIS_URL, defaultQueue: queue },
      silentLogger,
    );
    server.setPrePublishHandler((sig) => uuids.push(sig.uuid));
    const base = `http://127.0.0.1:${port}`;
    try {
      // The banner can come before the consumer's first connection is ready: wait for it.
      await waitFor(async () => {
        const ready = await fetch(`${base}/readyz`);
        await ready.body?.cancel();
        return ready.status === 200;
      }, "/readyz to answer 200");
      for (let i = 0; i < 2; i++) {
        await server.sendTask(newSignature("add", [newArg("int64", 1), newArg("int64", i)]));
      }
      await server.sendTask(newSignature("panic_task", []));
      const scrape = await waitFor(
        async () => {
          const s = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
          const ok = valueOf(s, "machinery_tasks_total", {
            task: "add",
            queue,
            outcome: "success",
          });
          const failed = valueOf(s, "machinery_tasks_total", {
            task: "panic_task",
            queue,
            outcome: "failure",
          });
          return ok === 2 && failed === 1 ? s : undefined;
        },
        "the worker's counts",
        20_000,
      );
      assert.ok(valueOf(scrape, "machinery_worker_concurrency", {}) > 0);
      await waitFor(
        async () => {
          const s = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
          return s.samples.some((x) =>
            x.name === "machinery_queue_depth" && x.labels.queue === queue &&
            x.labels.state === "held"
          );
        },
        "a held count from the inspector",
        20_000,
      );
    } finally {
      await server.close();
      await stopWorker(worker);
    }
    const lines = worker.stderr().trimEnd().split("\n").map((line) => JSON.parse(line));
    for (const line of lines) {
      assert.ok(!Number.isNaN(Date.parse(line.time)), line.time);
      assert.ok(["debug", "info", "warn", "error"].includes(line.level), line.level);
    }
    const start = lines.find((l) => l.message.includes("start of task handler for: panic_task"));
    const end = lines.find((l) => l.message.includes("end of task handler for: panic_task"));
    assert.match(start?.task_uuid, /^task_/);
    assert.equal(end?.task_uuid, start?.task_uuid);
    assert.ok(lines.some((l) => l.level === "error"), "the failure is logged at error");
  });
});
