/**
 * `deno task bench:redis` (or `bun bench/redis.ts`): this project's Redis broker and backend
 * against BullMQ, in one run, on the same Redis and the same runtime.
 *
 * - end-to-end: send N no-op tasks (results stored) until all are SUCCESS; BullMQ: `addBulk`
 *   plus a Worker at the same concurrency. In both, the worker is a separate process and the
 *   sender is this one.
 * - enqueue: N `sendTask` calls (PENDING state + RPUSH) with no worker.
 * - latency: enqueue-to-start p50/p99 at a steady 1,000 tasks/s.
 * - delayed: how late tasks with an ETA start, p50/p99.
 * - memory: the worker process's RSS when idle and its peak during the end-to-end run.
 *
 * Prints a table, writes JSON to `bench/results/`, and ends with
 * `redis end-to-end vs BullMQ: <ratio>x`.
 *
 * The end-to-end runs alternate (ours, BullMQ, ours, BullMQ …) and the best of each counts, so a
 * burst of load from other processes does not decide the ratio.
 *
 * Env: REDIS_URL (redis://127.0.0.1:6379), BENCH_N (20000), BENCH_CONCURRENCY (100),
 * BENCH_ROUNDS (3), BENCH_V8_FLAGS (Deno, `--max-semi-space-size=2`; empty for none),
 * BENCH_BUN_FLAGS (Bun, `--smol`; empty for none), BENCH_METRICS (`1`: our worker keeps
 * Prometheus metrics in every run), BENCH_TASK_TIMEOUT_MS (0: none; otherwise our worker
 * registers its task with this timeout), BENCH_PRIORITY_QUEUES (`1`: sender and worker run with
 * `redis.priorityQueues`; the tasks keep priority 0).
 *
 * BENCH_COMPARE measures what one feature costs: only our end-to-end run, alternating the feature
 * off and on for BENCH_ROUNDS pairs, then its cost in throughput (best against best, median
 * against median) and in the worker's CPU time per task (median against median, which load from
 * other processes moves less than throughput):
 * - `metrics`: the worker keeps Prometheus metrics (`BENCH_METRICS=compare` says the same);
 * - `timeout`: every task has a timeout (BENCH_TASK_TIMEOUT_MS, else 30 s, which never fires);
 * - `dashboard`: `machinery dashboard` runs beside, on the same Redis, with a queue of
 *   BENCH_DASHBOARD_TASKS (100,000) tasks; "on" fetches its overview and that queue's page every
 *   BENCH_DASHBOARD_POLL_MS (2,000, the rate of an open page's refresh), as two open pages do;
 * - `checkout`: a change before and after it: "off" runs the worker of the checkout at
 *   BENCH_BEFORE (`git worktree add /tmp/before <commit>`, then `deno install` there), "on" this
 *   one's or BENCH_AFTER's; the sender is this checkout's in both. An older checkout needs this
 *   one's `bench/redis_worker.ts` and `bench/_support.ts` copied in (they report the CPU time).
 */
import process from "node:process";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { Queue } from "bullmq";
import {
  BUN_FLAGS,
  cleanup,
  onJsonLines,
  ourServer,
  scriptCommand,
  sendMany,
  V8_FLAGS,
  wallNow,
  withTimeout,
  workerCommand,
} from "./_support.ts";

const URL_ = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const N = Number(process.env.BENCH_N || "20000");
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || "100");
const ROUNDS = Number(process.env.BENCH_ROUNDS || "3");
const WORKER = fileURLToPath(new URL("./redis_worker.ts", import.meta.url));
const RUN = crypto.randomUUID().slice(0, 8);
const runtime = "Deno" in globalThis ? "deno" : "bun";
/** `1`: the worker keeps metrics in every run. */
const METRICS = process.env.BENCH_METRICS ?? "";
/** The feature to measure off against on (see above); empty for the full benchmark. */
const COMPARE = process.env.BENCH_COMPARE || (METRICS === "compare" ? "metrics" : "");
const TASK_TIMEOUT_MS = Number(process.env.BENCH_TASK_TIMEOUT_MS || "0");

interface WorkerReport {
  idleRss: number;
  peakRss: number;
  /** The worker process's CPU time (user + system) per task, in µs, from idle to done. */
  cpuUs: number;
  delays: { p50: number; p99: number; max: number };
}

interface Child {
  idle: Promise<number>;
  exited: Promise<void>;
  done: Promise<WorkerReport>;
  process: ChildProcess;
}

/** What our worker turns on; the defaults come from BENCH_METRICS and BENCH_TASK_TIMEOUT_MS. */
interface Features {
  metrics?: boolean;
  timeoutMs?: number;
  /** The worker script to run (default: this checkout's). */
  worker?: string;
}

function spawnWorker(
  mode: string,
  queue: string,
  keyPrefix: string,
  n: number,
  { metrics = METRICS === "1", timeoutMs = TASK_TIMEOUT_MS, worker = WORKER }: Features = {},
): Child {
  const [cmd, args] = workerCommand(worker);
  const child = spawn(cmd, args, {
    env: {
      ...process.env,
      MODE: mode,
      REDIS_URL: URL_,
      QUEUE: queue,
      KEY_PREFIX: keyPrefix,
      N: String(n),
      CONCURRENCY: String(CONCURRENCY),
      METRICS: metrics ? "1" : "",
      TASK_TIMEOUT_MS: String(timeoutMs),
      PRIORITY_QUEUES: process.env.BENCH_PRIORITY_QUEUES ?? "",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let idleRss = 0;
  let resolveIdle: (rss: number) => void;
  let resolveDone: (r: WorkerReport) => void;
  let rejectAll: (e: Error) => void;
  const idle = new Promise<number>((res, rej) => {
    resolveIdle = res;
    rejectAll = rej;
  });
  const done = new Promise<WorkerReport>((res, rej) => {
    resolveDone = res;
    const prev = rejectAll;
    rejectAll = (e) => {
      prev(e);
      rej(e);
    };
  });
  idle.catch(() => {});
  onJsonLines(child, (msg) => {
    if (msg.idleRss) {
      idleRss = msg.idleRss;
      resolveIdle(msg.idleRss);
    }
    if (msg.done) {
      resolveDone({ idleRss, peakRss: msg.peakRss, delays: msg.delays, cpuUs: msg.cpuUs });
    }
  });
  child.on("exit", (code) => rejectAll(new Error(`The ${mode} worker exited with code ${code}`)));
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  return { idle, done, exited, process: child };
}

/** Sends `count` tasks with at most `window` sends in flight; `arg(i)` is the task argument. */

const MB = 1024 * 1024;
const redis = new Redis(URL_);
redis.on("error", () => {});
const results: Record<string, unknown> = {
  runtime,
  n: N,
  concurrency: CONCURRENCY,
  v8Flags: runtime === "deno" ? V8_FLAGS : "",
  bunFlags: runtime === "bun" ? BUN_FLAGS : "",
  date: new Date().toISOString(),
};

// 1 and 2. End to end: this project and BullMQ, alternating, best of ROUNDS each.
async function oursEndToEnd(
  round: number,
  features?: Features,
): Promise<Record<string, number>> {
  const queue = `bench_ours_${RUN}_${round}${features ? "_f" : ""}`;
  const prefix = `machinery:bench_${RUN}:`;
  const child = spawnWorker("machinery", queue, prefix, N, features);
  const idleRss = await withTimeout(child.idle, 30_000, "our worker to start");
  const server = ourServer(URL_, queue, prefix);
  const uuids: string[] = [];
  const t0 = performance.now();
  await sendMany(server, N, uuids, () => wallNow());
  const tSent = performance.now();
  const report = await withTimeout(child.done, 300_000, "our worker to finish");
  const t1 = performance.now();
  const sample = await Promise.all(
    uuids.filter((_, i) => i % 997 === 0).map((id) => server.backend.getState(id)),
  );
  if (!sample.every((s) => s.state === "SUCCESS")) throw new Error("A task is not SUCCESS");
  await server.close();
  await child.exited;
  await cleanup(redis, [...uuids, queue], prefix);
  return {
    endToEndPerSec: N / ((t1 - t0) / 1000),
    sendPhasePerSec: N / ((tSent - t0) / 1000),
    idleRssMB: idleRss / MB,
    peakRssMB: report.peakRss / MB,
    workerCpuUs: report.cpuUs,
  };
}

async function bullEndToEnd(round: number): Promise<Record<string, number>> {
  const queue = `bench_bull_${RUN}_${round}`;
  const prefix = `bullbench_${RUN}_${round}`;
  const child = spawnWorker("bullmq", queue, `${prefix}:`, N);
  const idleRss = await withTimeout(child.idle, 30_000, "the BullMQ worker to start");
  const parsed = new URL(URL_);
  const q = new Queue(queue, {
    connection: { host: parsed.hostname, port: Number(parsed.port || 6379) },
    prefix,
  });
  q.on("error", () => {});
  await q.waitUntilReady();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1000) {
    const jobs = Array.from(
      { length: Math.min(1000, N - i) },
      () => ({ name: "noop", data: { t: wallNow() } }),
    );
    await q.addBulk(jobs);
  }
  const report = await withTimeout(child.done, 300_000, "the BullMQ worker to finish");
  const t1 = performance.now();
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
  await child.exited;
  await cleanup(redis, [], `${prefix}:`);
  return {
    endToEndPerSec: N / ((t1 - t0) / 1000),
    idleRssMB: idleRss / MB,
    peakRssMB: report.peakRss / MB,
  };
}

/** One feature of BENCH_COMPARE: the worker's settings off and on, and what runs beside "on". */
interface Compared {
  off: Features;
  on: Features;
  during<T>(run: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

async function comparedFeature(name: string): Promise<Compared> {
  const plain = { off: {}, during: <T>(run: () => Promise<T>) => run(), stop: async () => {} };
  if (name === "metrics") return { ...plain, off: { metrics: false }, on: { metrics: true } };
  if (name === "timeout") return { ...plain, on: { timeoutMs: TASK_TIMEOUT_MS || 30_000 } };
  if (name === "dashboard") return await dashboardBeside();
  if (name === "checkout") {
    const before = process.env.BENCH_BEFORE;
    if (!before) throw new Error("BENCH_COMPARE=checkout needs BENCH_BEFORE, another checkout");
    const after = process.env.BENCH_AFTER;
    const on = after ? { worker: `${after}/bench/redis_worker.ts` } : {};
    return { ...plain, off: { worker: `${before}/bench/redis_worker.ts` }, on };
  }
  throw new Error(`BENCH_COMPARE=${name}: expected metrics, timeout, dashboard or checkout`);
}

/**
 * `machinery dashboard` in a child process on a queue of BENCH_DASHBOARD_TASKS tasks; during an
 * "on" run, the overview and that queue's page are fetched as their open pages poll them.
 */
async function dashboardBeside(): Promise<Compared> {
  const tasks = Number(process.env.BENCH_DASHBOARD_TASKS || "100000");
  const pollMs = Number(process.env.BENCH_DASHBOARD_POLL_MS || "2000");
  const queue = `bench_dashboard_${RUN}`;
  const prefix = `machinery:bench_${RUN}:`;
  const sender = ourServer(URL_, queue, prefix);
  const uuids: string[] = [];
  await sendMany(sender, tasks, uuids, () => wallNow());
  await sender.close();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const [cmd, runArgs] = scriptCommand(cli);
  const args = ["dashboard", "--port", String(port), "--broker", URL_, "--result-backend", URL_];
  const child = spawn(cmd, [...runArgs, ...args, "--queue", queue], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const pages = [`${base}/`, `${base}/queue/${queue}`];
  const fetchPage = async (page: string) => {
    const response = await fetch(page, { headers: { "x-dashboard-fragment": "1" } });
    const body = await response.text();
    if (!response.ok) throw new Error(`${page} answered ${response.status}`);
    return body;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetchPage(pages[1]).catch(() => "");
    if (ready.includes(tasks.toLocaleString("en-US")) || ready.includes(String(tasks))) break;
    if (Date.now() > deadline) throw new Error("The dashboard did not show the queue in 30 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    off: {},
    on: {},
    async during(run) {
      let polling = true;
      const poller = (async () => {
        while (polling) {
          await Promise.all(pages.map(fetchPage));
          await new Promise((r) => setTimeout(r, pollMs));
        }
      })();
      try {
        return await run();
      } finally {
        polling = false;
        await poller;
      }
    },
    async stop() {
      child.kill();
      await cleanup(redis, [...uuids, queue], prefix);
    },
  };
}

if (COMPARE) {
  const feature = await comparedFeature(COMPARE);
  const off: Record<string, number>[] = [];
  const on: Record<string, number>[] = [];
  // Off and on alternate, so a burst of load from elsewhere hits both alike.
  for (let round = 0; round < ROUNDS; round++) {
    off.push(await oursEndToEnd(round, feature.off));
    on.push(await feature.during(() => oursEndToEnd(round, feature.on)));
    const show = (r: Record<string, number>) =>
      `${Math.round(r.endToEndPerSec)}/s, ${r.workerCpuUs.toFixed(1)} µs`;
    console.log(`round ${round + 1}: off ${show(off[round])}; on ${show(on[round])}`);
  }
  await feature.stop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (rs: Record<string, number>[]) => rs.map((r) => r.endToEndPerSec);
  const cpu = (rs: Record<string, number>[]) => rs.map((r) => r.workerCpuUs);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log(
    `${COMPARE} cost, end to end (${runtime}, N=${N}, ${ROUNDS} pairs): throughput best ${
      pct(1 - Math.max(...rate(on)) / Math.max(...rate(off)))
    }, median ${pct(1 - median(rate(on)) / median(rate(off)))}; worker CPU per task median ${
      pct(median(cpu(on)) / median(cpu(off)) - 1)
    }`,
  );
  redis.disconnect();
  process.exit(0);
}

const oursRounds: Record<string, number>[] = [];
const bullRounds: Record<string, number>[] = [];
for (let round = 0; round < ROUNDS; round++) {
  oursRounds.push(await oursEndToEnd(round));
  bullRounds.push(await bullEndToEnd(round));
}
const best = (rounds: Record<string, number>[]) =>
  rounds.reduce((a, b) => (b.endToEndPerSec > a.endToEndPerSec ? b : a));
const summary = (rounds: Record<string, number>[]) => ({
  ...best(rounds),
  idleRssMB: Math.max(...rounds.map((r) => r.idleRssMB)),
  peakRssMB: Math.max(...rounds.map((r) => r.peakRssMB)),
  rounds: rounds.map((r) => r.endToEndPerSec),
});
results.ours = summary(oursRounds);
results.bullmq = summary(bullRounds);

// 3. This project, enqueue only.
{
  const queue = `bench_enqueue_${RUN}`;
  const prefix = `machinery:bench_${RUN}:`;
  const server = ourServer(URL_, queue, prefix);
  const uuids: string[] = [];
  const t0 = performance.now();
  await sendMany(server, N, uuids, () => wallNow());
  const t1 = performance.now();
  await server.close();
  await cleanup(redis, [...uuids, queue], prefix);
  (results.ours as Record<string, number>).enqueuePerSec = N / ((t1 - t0) / 1000);
}

// 4. Enqueue-to-start latency at a steady rate.
{
  const L = 3000;
  const queue = `bench_latency_${RUN}`;
  const prefix = `machinery:bench_${RUN}:`;
  const child = spawnWorker("machinery", queue, prefix, L);
  await withTimeout(child.idle, 30_000, "our worker to start");
  const server = ourServer(URL_, queue, prefix);
  const uuids: string[] = [];
  for (let i = 0; i < L; i += 10) {
    await sendMany(server, 10, uuids, () => wallNow(), undefined, 10);
    await new Promise((r) => setTimeout(r, 10));
  }
  const report = await withTimeout(child.done, 120_000, "the latency run");
  await server.close();
  await child.exited;
  await cleanup(redis, [...uuids, queue], prefix);
  Object.assign(results.ours as object, {
    latencyP50Ms: report.delays.p50,
    latencyP99Ms: report.delays.p99,
  });
}

// 5. Delayed-task lateness.
{
  const D = 500;
  const queue = `bench_delayed_${RUN}`;
  const prefix = `machinery:bench_${RUN}:`;
  const child = spawnWorker("machinery", queue, prefix, D);
  await withTimeout(child.idle, 30_000, "our worker to start");
  const server = ourServer(URL_, queue, prefix);
  const uuids: string[] = [];
  const base = Date.now() + 1000;
  const etaMs = (i: number) => base + i * 7;
  await sendMany(server, D, uuids, etaMs, (i) => new Date(etaMs(i)).toISOString(), 50);
  const report = await withTimeout(child.done, 60_000, "the delayed run");
  await server.close();
  await child.exited;
  await cleanup(redis, [...uuids, queue], prefix);
  Object.assign(results.ours as object, {
    delayedLatenessP50Ms: report.delays.p50,
    delayedLatenessP99Ms: report.delays.p99,
  });
}

redis.disconnect();

const ours = results.ours as Record<string, number>;
const bull = results.bullmq as Record<string, number>;
const ratio = ours.endToEndPerSec / bull.endToEndPerSec;
results.ratio = ratio;

const f0 = (x: number) => Math.round(x).toLocaleString("en-US");
const f1 = (x: number) => x.toFixed(1);
const rows: [string, string, string][] = [
  ["end-to-end (tasks/s)", f0(ours.endToEndPerSec), f0(bull.endToEndPerSec)],
  ["enqueue (tasks/s)", f0(ours.enqueuePerSec), "-"],
  ["enqueue-to-start p50 (ms)", f1(ours.latencyP50Ms), "-"],
  ["enqueue-to-start p99 (ms)", f1(ours.latencyP99Ms), "-"],
  ["delayed lateness p50 (ms)", f1(ours.delayedLatenessP50Ms), "-"],
  ["delayed lateness p99 (ms)", f1(ours.delayedLatenessP99Ms), "-"],
  ["worker RSS idle (MB)", f1(ours.idleRssMB), f1(bull.idleRssMB)],
  ["worker RSS peak (MB)", f1(ours.peakRssMB), f1(bull.peakRssMB)],
];
const w0 = Math.max(...rows.map((r) => r[0].length), 6);
const w1 = Math.max(...rows.map((r) => r[1].length), 9);
const w2 = Math.max(...rows.map((r) => r[2].length), 6);
console.log(
  `Redis benchmark: ${runtime}, N=${N}, concurrency ${CONCURRENCY}, best of ${ROUNDS} rounds${
    runtime === "deno" && V8_FLAGS
      ? `, workers run with --v8-flags=${V8_FLAGS}`
      : runtime === "bun" && BUN_FLAGS
      ? `, workers run with ${BUN_FLAGS}`
      : ""
  }\n`,
);
console.log(`| ${"metric".padEnd(w0)} | ${"machinery".padStart(w1)} | ${"BullMQ".padStart(w2)} |`);
console.log(`|${"-".repeat(w0 + 2)}|${"-".repeat(w1 + 1)}:|${"-".repeat(w2 + 1)}:|`);
for (const [a, b, c] of rows) {
  console.log(`| ${a.padEnd(w0)} | ${b.padStart(w1)} | ${c.padStart(w2)} |`);
}
const dir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}redis-${runtime}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
console.log(`\nResults written to ${file}`);
console.log(`redis end-to-end vs BullMQ: ${ratio.toFixed(2)}x`);
process.exit(0);
