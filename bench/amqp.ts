/**
 * `deno task bench:amqp` (or `bun bench/amqp.ts`): this project's AMQP broker against raw
 * amqplib, in one run, on the same RabbitMQ and the same runtime.
 *
 * - raw amqplib: N persistent publishes with publisher confirms, consumed with manual acks on
 *   one queue at the same prefetch; the time until the last ack.
 * - end-to-end: `sendTask` N no-op tasks, the worker runs them; the time until the last one ran.
 *   Once with no result stored (a backend that keeps nothing) and once with the Redis backend.
 * - enqueue: N `sendTask` calls with no worker (confirmed publishes), in flight together;
 *   latency p50/p99 of one `sendTask` at a time.
 *
 * Prints a table, writes JSON to `bench/results/`, and ends with
 * `amqp end-to-end vs raw amqplib: <ratio>x` (no result stored).
 *
 * The raw and end-to-end runs alternate (raw, ours, raw, ours …) and the best of each counts, so
 * a burst of load from other processes (RabbitMQ shares the machine's cores with us) does not
 * decide the ratio. Every round is printed.
 *
 * Env: AMQP_URL (amqp://guest:guest@127.0.0.1:5672/), REDIS_URL (redis://127.0.0.1:6379),
 * BENCH_N (10000), BENCH_CONCURRENCY (100), BENCH_LATENCY_N (1000), BENCH_ROUNDS (7),
 * BENCH_TIMEOUT_MS (120000: a run that takes longer fails the benchmark instead of hanging it).
 */
import process from "node:process";
import { Buffer } from "node:buffer";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "amqplib";
import {
  type Backend,
  newSignature,
  Server,
  type Server as ServerT,
  silentLogger,
} from "../mod.ts";
import { encodeSignature } from "../src/wire/mod.ts";
import { AMQPBroker } from "../src/amqp/mod.ts";

const AMQP_URL = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672/";
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const N = Number(process.env.BENCH_N || "10000");
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || "100");
const LATENCY_N = Number(process.env.BENCH_LATENCY_N || "1000");
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || "7"));
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS || "120000");
const RUN = crypto.randomUUID().slice(0, 8);
const runtime = "Deno" in globalThis ? "deno" : "bun";
const exchange = `bench_exchange_${RUN}`;

/** A backend that keeps nothing: "no result stored". */
const nullBackend: Backend = {
  connect: () => Promise.resolve(),
  initGroup: () => Promise.resolve(),
  groupCompleted: () => Promise.resolve(false),
  groupTaskStates: () => Promise.resolve([]),
  triggerChord: () => Promise.resolve(false),
  setStatePending: () => Promise.resolve(),
  setStateReceived: () => Promise.resolve(),
  setStateStarted: () => Promise.resolve(),
  setStateRetry: () => Promise.resolve(),
  setStateSuccess: () => Promise.resolve(),
  setStateFailure: () => Promise.resolve(),
  getState: () => Promise.reject(new Error("No state kept")),
  purgeState: () => Promise.resolve(),
  purgeGroupMeta: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

const queues: string[] = [];

function queueName(what: string): string {
  const q = `bench_${what}_${RUN}`;
  queues.push(q);
  return q;
}

/** Fails a run that does not finish in `TIMEOUT_MS` instead of hanging the benchmark. */
async function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${TIMEOUT_MS} ms: ${what}`)),
      TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Raw amqplib: confirmed persistent publishes plus acked consumption on one queue. */
async function rawAmqplib(): Promise<number> {
  const queue = queueName("raw");
  const body = Buffer.from(encodeSignature(newSignature("noop", null)));
  const pubConn = await connect(AMQP_URL);
  const subConn = await connect(AMQP_URL);
  pubConn.on("error", () => {});
  subConn.on("error", () => {});
  const pub = await pubConn.createConfirmChannel();
  const sub = await subConn.createChannel();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await sub.assertQueue(queue, { durable: true });
  await sub.prefetch(CONCURRENCY);
  let acked = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => resolveDone = r);
  await sub.consume(queue, (msg) => {
    if (!msg) return;
    sub.ack(msg);
    if (++acked === N) resolveDone();
  }, { noAck: false });
  const start = performance.now();
  const confirms: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    confirms.push(
      new Promise((resolve, reject) =>
        pub.publish(
          "",
          queue,
          body,
          { persistent: true, contentType: "application/json" },
          (e) => e ? reject(e) : resolve(),
        )
      ),
    );
  }
  await withTimeout(Promise.all(confirms).then(() => done), "raw amqplib run");
  const seconds = (performance.now() - start) / 1000;
  await sub.close();
  await subConn.close();
  await pub.close();
  await pubConn.close();
  return N / seconds;
}

function newServer(queue: string, backend: Backend): ServerT {
  return new Server({
    config: { defaultQueue: queue, noUnixSignals: true, amqp: { exchange } },
    broker: new AMQPBroker(AMQP_URL, {
      config: {
        defaultQueue: queue,
        amqp: { exchange, bindingKey: queue, prefetchCount: CONCURRENCY },
      },
      logger: silentLogger,
    }),
    backend,
    logger: silentLogger,
  });
}

/** This project end to end: N sendTask calls, the worker runs them all. */
async function endToEnd(backend: Backend, what: string): Promise<number> {
  const queue = queueName(what);
  const server = newServer(queue, backend);
  let ran = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => resolveDone = r);
  server.registerTask("noop", () => {
    if (++ran === N) resolveDone();
  });
  const worker = server.newWorker("bench", CONCURRENCY);
  // Broker and backend errors (an outage, say) make a round meaningless: count and report them.
  let errors = 0;
  let lastError = "";
  worker.setErrorHandler((error) => {
    errors++;
    lastError = error.message;
  });
  const launched = worker.launch();
  // Warm up: declarations and the consumer are in place before the clock starts.
  await server.sendTask(newSignature("noop", null));
  while (ran < 1) await new Promise((r) => setTimeout(r, 5));
  ran = 0;
  const start = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) sends.push(server.sendTask(newSignature("noop", null)));
  try {
    await withTimeout(Promise.all(sends).then(() => done), `end-to-end run (${what})`);
  } finally {
    if (errors > 0) console.error(`${what}: ${errors} errors, the last: ${lastError}`);
  }
  const seconds = (performance.now() - start) / 1000;
  await worker.quit();
  await launched;
  await server.close();
  return N / seconds;
}

/** Enqueue only: confirmed publishes in flight together, then one at a time for latency. */
async function enqueue(): Promise<{ perSecond: number; p50: number; p99: number }> {
  const queue = queueName("enqueue");
  const server = newServer(queue, nullBackend);
  await server.sendTask(newSignature("noop", null));
  const start = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) sends.push(server.sendTask(newSignature("noop", null)));
  await Promise.all(sends);
  const perSecond = N / ((performance.now() - start) / 1000);
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_N; i++) {
    const t = performance.now();
    await server.sendTask(newSignature("noop", null));
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  await server.close();
  return { perSecond, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

async function redisBackend(): Promise<Backend | undefined> {
  try {
    const { RedisBackend } = await import("../src/redis/mod.ts");
    const backend = new RedisBackend(REDIS_URL, {
      config: { resultsExpireIn: 120 },
      keyPrefix: `bench:${RUN}:`,
      onError: () => {},
    });
    await backend.connect();
    return backend;
  } catch (error) {
    console.error(`Redis backend skipped: ${error instanceof Error ? error.message : error}`);
    return undefined;
  }
}

async function cleanup(): Promise<void> {
  const conn = await connect(AMQP_URL);
  conn.on("error", () => {});
  const ch = await conn.createChannel();
  ch.on("error", () => {});
  for (const q of queues) await ch.deleteQueue(q);
  await ch.deleteExchange(exchange);
  await ch.close();
  await conn.close();
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

try {
  const raws: number[] = [];
  const ours: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    raws.push(await rawAmqplib());
    ours.push(await endToEnd(nullBackend, `e2e_null_${round}`));
    console.error(
      `round ${round}/${ROUNDS}: raw ${fmt(raws.at(-1)!)} msg/s, ours ${fmt(ours.at(-1)!)} tasks/s`,
    );
  }
  const raw = Math.max(...raws);
  const noResult = Math.max(...ours);
  const redis = await redisBackend();
  const withRedis = redis ? await endToEnd(redis, "e2e_redis") : undefined;
  const enq = await enqueue();
  const ratio = noResult / raw;
  const rows: [string, string][] = [
    ["raw amqplib (confirms + acks, one queue)", `${fmt(raw)} msg/s`],
    ["end-to-end, no result stored", `${fmt(noResult)} tasks/s`],
    [
      "end-to-end, Redis backend",
      withRedis === undefined ? "skipped" : `${fmt(withRedis)} tasks/s`,
    ],
    ["enqueue with confirms", `${fmt(enq.perSecond)} tasks/s`],
    ["enqueue latency p50 / p99", `${enq.p50.toFixed(2)} ms / ${enq.p99.toFixed(2)} ms`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(
    `AMQP benchmark: ${runtime}, N=${N}, concurrency=prefetch=${CONCURRENCY}, ` +
      `best of ${ROUNDS} alternating rounds`,
  );
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const file = new URL(`./results/amqp-${runtime}-${Date.now()}.json`, import.meta.url);
  writeFileSync(
    file,
    JSON.stringify(
      {
        runtime,
        n: N,
        concurrency: CONCURRENCY,
        rounds: ROUNDS,
        rawAmqplibPerSecond: raw,
        endToEndNoResultPerSecond: noResult,
        rawAmqplibRounds: raws,
        endToEndNoResultRounds: ours,
        endToEndRedisPerSecond: withRedis ?? null,
        enqueuePerSecond: enq.perSecond,
        enqueueLatencyMs: { p50: enq.p50, p99: enq.p99 },
        ratio,
      },
      null,
      2,
    ),
  );
  await redis?.close();
  console.log(`amqp end-to-end vs raw amqplib: ${ratio.toFixed(2)}x`);
} catch (error) {
  console.error(`Benchmark failed: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  await cleanup().catch(() => {});
}
// A failed run may leave connections open: do not wait for them.
process.exit(process.exitCode ?? 0);
