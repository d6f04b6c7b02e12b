/**
 * Prometheus metrics on the memory engine: the text parses strictly, `machinery_tasks_total`
 * counts each outcome, label values are escaped, the wait histogram needs the send-time header,
 * the HTTP endpoints answer, and a worker without metrics has none.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  MemoryBackend,
  MemoryBroker,
  Metrics,
  newSignature,
  RetryTaskLaterError,
  SENT_AT_HEADER,
  Server,
  silentLogger,
} from "../mod.ts";
import { escapeLabelValue } from "../src/metrics/prometheus.ts";
import { inspectorDepthSampler } from "../src/metrics/inspector_depth.ts";
import type { Inspector } from "../src/inspector.ts";
import { parsePrometheus, valueOf } from "./prometheus_parser.ts";
import { waitFor } from "./helpers.ts";

const TIMEOUT = { timeout: 30_000 };
const ODD = 'we"ird\nna\\me';

function makeServer(sendTimeHeader = true) {
  const broker = MemoryBroker.fromConfig({ defaultQueue: "metrics_q" });
  const backend = new MemoryBackend();
  const server = new Server({
    broker,
    backend,
    config: { noUnixSignals: true, defaultQueue: "metrics_q", sendTimeHeader },
    logger: silentLogger,
  });
  let flaky = 0;
  server.registerTask("ok", () => 1);
  server.registerTask("fail", () => {
    throw new Error("boom");
  });
  server.registerTask("flaky", () => {
    if (flaky++ === 0) throw new RetryTaskLaterError("later", 10);
    return 1;
  });
  server.registerTask(ODD, () => 1);
  return { server, broker, backend };
}

describe("metrics", () => {
  it("counts what ran by outcome, in strict Prometheus text", TIMEOUT, async () => {
    const { server, broker } = makeServer();
    const worker = server.newWorker("w", 2, { metrics: true });
    const running = worker.launch();
    try {
      for (let i = 0; i < 3; i++) await server.sendTask(newSignature("ok", []));
      await server.sendTask(newSignature("fail", []));
      await server.sendTask(newSignature("flaky", []));
      await server.sendTask(newSignature(ODD, []));
      broker.publishRaw("metrics_q", "{not json");
      const total = (task: string, outcome: string) =>
        valueOf(parsePrometheus(worker.metrics!.text()), "machinery_tasks_total", {
          task,
          queue: "metrics_q",
          outcome,
        });
      await waitFor(
        () => total("ok", "success") === 3 && total("flaky", "success") === 1,
        "the tasks to run",
      );
      await waitFor(() => total("", "dead") === 1, "the malformed message to be set aside");
      const scrape = parsePrometheus(worker.metrics!.text());
      assert.equal(total("fail", "failure"), 1);
      assert.equal(total("fail", "success"), 0);
      assert.equal(total("flaky", "retry"), 1);
      assert.equal(total(ODD, "success"), 1, "an odd task name round-trips through escaping");
      assert.equal(scrape.types.get("machinery_task_duration_seconds"), "histogram");
      const labels = { task: "ok", queue: "metrics_q" };
      assert.equal(valueOf(scrape, "machinery_task_duration_seconds_count", labels), 3);
      assert.equal(valueOf(scrape, "machinery_task_wait_seconds_count", labels), 3);
      assert.equal(valueOf(scrape, "machinery_worker_concurrency", {}), 2);
      assert.equal(valueOf(scrape, "machinery_tasks_running", {}), 0);
      assert.equal(
        valueOf(scrape, "machinery_queue_depth", { queue: "metrics_q", state: "ready" }),
        0,
      );
    } finally {
      await worker.quit();
      await running;
      await server.close();
    }
  });

  it("has no wait sample for a task sent without the send-time header", TIMEOUT, async () => {
    const { server, broker } = makeServer();
    const metrics = new Metrics();
    const worker = server.newWorker("w", 1, { metrics });
    const running = worker.launch();
    try {
      const sig = newSignature("ok", []);
      sig.uuid = "task_go_sent";
      sig.headers = {};
      await broker.publish(sig); // as a Go sender would: no machinery_ts_sent_at
      const labels = { task: "ok", queue: "metrics_q" };
      await waitFor(
        () =>
          valueOf(parsePrometheus(metrics.text()), "machinery_task_duration_seconds_count", labels),
        "the task to run",
      );
      const scrape = parsePrometheus(metrics.text());
      assert.equal(valueOf(scrape, "machinery_task_wait_seconds_count", labels), 0);
      assert.equal(sig.headers[SENT_AT_HEADER], undefined);
    } finally {
      await worker.quit();
      await running;
      await server.close();
    }
  });

  it("stamps the send time only when the config asks (Go's bytes otherwise)", async () => {
    for (const sendTimeHeader of [false, true]) {
      const { server } = makeServer(sendTimeHeader);
      try {
        const sig = newSignature("ok", []);
        await server.sendTask(sig);
        assert.equal(SENT_AT_HEADER in (sig.headers ?? {}), sendTimeHeader);
      } finally {
        await server.close();
      }
    }
  });

  it("serves /metrics, /healthz and /readyz", TIMEOUT, async () => {
    const { server } = makeServer();
    const worker = server.newWorker("w", 1, { metricsPort: 0, metricsHostname: "127.0.0.1" });
    const running = worker.launch();
    try {
      await waitFor(() => worker.metricsServer, "the metrics server to start");
      const { port } = await worker.metricsServer!;
      const base = `http://127.0.0.1:${port}`;
      await waitFor(() => worker.consuming, "the worker to consume");
      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      parsePrometheus(await metrics.text());
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      const missing = await fetch(`${base}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      await worker.quit();
      await running;
      await server.close();
    }
  });

  it("is off unless asked", TIMEOUT, () => {
    const { server } = makeServer();
    assert.equal(server.newWorker("w", 1).metrics, undefined);
  });

  it("samples the depth through the inspection API, leaving out what it cannot count", async () => {
    const inspector = {
      queues: (queues?: string[]) =>
        Promise.resolve([{ queue: queues![0], ready: 5, delayed: 2, held: null, dead: 1 }]),
    } as unknown as Inspector;
    const metrics = new Metrics();
    metrics.setQueueDepth("q", await inspectorDepthSampler(inspector)("q"));
    const scrape = parsePrometheus(metrics.text());
    const depth = (state: string) =>
      valueOf(scrape, "machinery_queue_depth", { queue: "q", state });
    assert.deepEqual([depth("ready"), depth("delayed"), depth("dead")], [5, 2, 1]);
    assert.ok(!scrape.samples.some((x) => x.labels.state === "held"), "held is unknown here");
  });

  it("escapes label values as the format requires", () => {
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  });
});
