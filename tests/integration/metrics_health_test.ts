/**
 * A worker's `/metrics`, `/healthz` and `/readyz` against the real brokers: on Redis and on
 * RabbitMQ (with a Redis backend) `machinery_tasks_total` counts what ran by outcome and the
 * scrape parses strictly; `/readyz` is 200 while the worker consumes and 503 once its broker
 * is gone (a redis-server of the test's own, killed by pid; a proxy to RabbitMQ, closed).
 */
import { after, describe, it } from "node:test";
import { spawn } from "node:child_process";
import { Redis } from "ioredis";
import assert from "node:assert/strict";
import {
  inspectorDepthSampler,
  inspectorFromURL,
  newSignature,
  Server,
  silentLogger,
  type Worker,
} from "../../mod.ts";
import { parsePrometheus, type Scrape, valueOf } from "../prometheus_parser.ts";
import { waitFor } from "../helpers.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP } from "./amqp_support.ts";
import { ownRedisSkipReason, startOwnRedis } from "../faults/own_redis.ts";
import { startProxy } from "./net_support.ts";

const TIMEOUT = { timeout: 60_000 };

/** A redis-server on `port` again (the port of one just killed), answering; stopped by pid. */
async function restartOwnRedis(port: string): Promise<{ stop(): Promise<void> }> {
  const proc = spawn("redis-server", [
    "--port",
    port,
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  const client = new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 100 });
  client.on("error", () => {});
  try {
    await waitFor(
      () => client.ping().then((r) => r === "PONG", () => false),
      "redis again",
      20_000,
    );
  } finally {
    client.disconnect();
  }
  return {
    async stop() {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

function registerTasks(server: Server): void {
  server.registerTask("ok", () => 1);
  server.registerTask("fail", () => {
    throw new Error("boom");
  });
}

/** Launches a worker serving metrics on a free port; resolves with its base URL. */
async function launch(
  server: Server,
): Promise<{ worker: Worker; base: string; done: Promise<void> }> {
  const worker = server.newWorker("metrics_test", 2, {
    metricsPort: 0,
    metricsHostname: "127.0.0.1",
    queueDepthIntervalMs: 200,
  });
  const done = worker.launch();
  done.catch(() => {});
  await waitFor(() => worker.metricsServer, "the metrics server to start");
  const { port } = await worker.metricsServer!;
  return { worker, base: `http://127.0.0.1:${port}`, done };
}

async function status(url: string): Promise<number> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

async function scrape(base: string): Promise<Scrape> {
  const response = await fetch(`${base}/metrics`);
  assert.equal(response.status, 200);
  return parsePrometheus(await response.text());
}

/** Stops a worker and its server within a bound, whatever state the broker is in. */
async function stop(worker: Worker, done: Promise<void>, server: Server): Promise<void> {
  worker.abort();
  await done.catch(() => {});
  await Promise.race([server.close(), new Promise((r) => setTimeout(r, 5_000))]);
}

/** Sends 3 `ok` and 1 `fail`, and checks the counts and the health endpoints. */
async function countsWhatRan(server: Server, base: string, queue: string): Promise<void> {
  await waitFor(async () => (await status(`${base}/readyz`)) === 200, "/readyz to answer 200");
  assert.equal(await status(`${base}/healthz`), 200);
  for (let i = 0; i < 3; i++) await server.sendTask(newSignature("ok", []));
  await server.sendTask(newSignature("fail", []));
  const total = (s: Scrape, task: string, outcome: string) =>
    valueOf(s, "machinery_tasks_total", { task, queue, outcome });
  const s = await waitFor(async () => {
    const s = await scrape(base);
    return total(s, "ok", "success") === 3 && total(s, "fail", "failure") === 1 ? s : undefined;
  }, "the counts of what ran");
  assert.equal(total(s, "ok", "failure"), 0);
  assert.equal(total(s, "fail", "success"), 0);
  assert.equal(valueOf(s, "machinery_task_duration_seconds_count", { task: "ok", queue }), 3);
  assert.equal(valueOf(s, "machinery_task_wait_seconds_count", { task: "ok", queue }), 3);
  await waitFor(async () => {
    const s = await scrape(base);
    return s.samples.some((x) => x.name === "machinery_queue_depth" && x.labels.queue === queue);
  }, "a queue depth sample");
}

const redisSkip = await redisSkipReason();

describe("metrics and health on Redis", { skip: redisSkip }, () => {
  const queue = uniqueName("metrics_redis");
  const uuids: string[] = [];
  after(async () => {
    if (!redisSkip) await deleteRedisKeys(uuids, [queue, `machinery:ts:dead:${queue}`]);
  });

  it("counts what ran by outcome", TIMEOUT, async () => {
    const server = await Server.fromConfig(
      {
        broker: REDIS_URL,
        resultBackend: REDIS_URL,
        defaultQueue: queue,
        noUnixSignals: true,
        sendTimeHeader: true,
      },
      silentLogger,
    );
    server.setPrePublishHandler((sig) => uuids.push(sig.uuid));
    registerTasks(server);
    const { worker, base, done } = await launch(server);
    try {
      await countsWhatRan(server, base, queue);
    } finally {
      await stop(worker, done, server);
    }
    assert.equal(await status(`${base}/healthz`), 0, "the metrics server stops with the worker");
  });

  it("samples ready, delayed, held and dead through the inspector", TIMEOUT, async () => {
    const depthQueue = `${queue}_depth`;
    const server = await Server.fromConfig(
      { broker: REDIS_URL, resultBackend: REDIS_URL, defaultQueue: depthQueue },
      silentLogger,
    );
    server.setPrePublishHandler((sig) => uuids.push(sig.uuid));
    const inspector = await inspectorFromURL(REDIS_URL, { logger: silentLogger });
    try {
      for (let i = 0; i < 5; i++) await server.sendTask(newSignature("ok", [])); // no worker
      const depth = await inspectorDepthSampler(inspector)(depthQueue);
      assert.equal(depth.ready, 5);
      assert.equal(depth.held, 0);
      assert.equal(depth.dead, 0);
    } finally {
      await inspector.close();
      await server.close();
      await deleteRedisKeys([depthQueue]);
    }
  });

  it("answers /readyz 503 while Redis is down, and 200 once it is back", {
    ...TIMEOUT,
    skip: ownRedisSkipReason(),
  }, async () => {
    let redis: { stop(): Promise<void>; url?: string } = await startOwnRedis();
    const url = redis.url!;
    const port = new URL(url).port;
    const server = await Server.fromConfig(
      { broker: url, resultBackend: url, defaultQueue: queue, noUnixSignals: true },
      silentLogger,
    );
    const { worker, base, done } = await launch(server);
    try {
      await waitFor(async () => (await status(`${base}/readyz`)) === 200, "/readyz 200");
      await redis.stop();
      await waitFor(async () => (await status(`${base}/readyz`)) === 503, "/readyz 503", 20_000);
      assert.equal(await status(`${base}/healthz`), 200, "the process is still up");
      redis = await restartOwnRedis(port);
      await waitFor(
        async () => (await status(`${base}/readyz`)) === 200,
        "/readyz 200 again",
        30_000,
      );
    } finally {
      await stop(worker, done, server);
      await redis.stop();
    }
  });
});

const amqpSkip = redisSkip || await amqpSkipReason();

describe("metrics and health on RabbitMQ", { skip: amqpSkip }, () => {
  const queue = uniqueName("metrics_amqp");
  const exchange = `${queue}_exchange`;
  const uuids: string[] = [];
  after(async () => {
    if (amqpSkip) return;
    await deleteAMQP([queue], [exchange]);
    await deleteRedisKeys(uuids);
  });

  const config = (broker: string) => ({
    broker,
    resultBackend: REDIS_URL,
    defaultQueue: queue,
    noUnixSignals: true,
    sendTimeHeader: true,
    amqp: { exchange, exchangeType: "direct", bindingKey: queue },
  });

  it("counts what ran by outcome", TIMEOUT, async () => {
    const server = await Server.fromConfig(config(AMQP_URL), silentLogger);
    server.setPrePublishHandler((sig) => uuids.push(sig.uuid));
    registerTasks(server);
    const { worker, base, done } = await launch(server);
    try {
      await countsWhatRan(server, base, queue);
    } finally {
      await stop(worker, done, server);
    }
  });

  it("answers /readyz 503 while RabbitMQ is unreachable", TIMEOUT, async () => {
    const target = new URL(AMQP_URL);
    const proxy = await startProxy({
      mode: "forward",
      target: { host: target.hostname, port: Number(target.port || 5672) },
    });
    const url = new URL(AMQP_URL);
    url.port = String(proxy.port);
    const server = await Server.fromConfig(config(url.href), silentLogger);
    const { worker, base, done } = await launch(server);
    try {
      await waitFor(async () => (await status(`${base}/readyz`)) === 200, "/readyz 200");
      await proxy.close();
      await waitFor(async () => (await status(`${base}/readyz`)) === 503, "/readyz 503", 20_000);
    } finally {
      await proxy.close();
      await stop(worker, done, server);
    }
  });
});
