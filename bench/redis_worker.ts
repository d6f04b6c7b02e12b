/**
 * The worker process of `bench/redis.ts` (not run by hand). `MODE=machinery` runs this
 * project's worker on the Redis broker and backend; `MODE=bullmq` runs a BullMQ Worker. Both
 * run a no-op task at `CONCURRENCY` and count completions. Output, one JSON object per line on
 * stdout: `{"ready":true}`, then `{"idleRss":n}` after a second idle, then, once `N` tasks ran,
 * `{"done":true,"peakRss":n,"cpuUs":µs,"delays":{"p50":…,"p99":…}}` where cpuUs is the CPU time
 * per task and a delay is start time minus the task's argument (a wall-clock time in ms: when it
 * was sent, or its ETA).
 *
 * `N=0` (bench/scaling.ts, several workers on one queue): the worker cannot know its share, so it
 * reports `{"count":k,"cpuMs":ms}` (tasks stored and CPU time since idle) every 100 ms and ends
 * with a last report when its stdin closes.
 *
 * Env: MODE, REDIS_URL, QUEUE, KEY_PREFIX, N, CONCURRENCY, TASK_TIMEOUT_MS, PRIORITY_QUEUES.
 */
import process from "node:process";
import { ourServer, wallNow } from "./_support.ts";

const mode = process.env.MODE ?? "machinery";
const url = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const queue = process.env.QUEUE!;
const keyPrefix = process.env.KEY_PREFIX!;
const n = Number(process.env.N);
const concurrency = Number(process.env.CONCURRENCY || "100");

let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 25);

const delays: number[] = [];
let count = 0;
let finish: () => void;
const finished = new Promise<void>((resolve) => (finish = resolve));

/** The task started: `arg` is when it was sent, or its ETA. */
function started(arg: number): void {
  delays.push(wallNow() - arg);
}

/** The task's result is stored (SUCCESS written, or BullMQ's job completed). */
function stored(): void {
  count++;
  if (count === n) finish();
}

function emit(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

let stop: () => Promise<void>;
if (mode === "bullmq") {
  const { Worker } = await import("bullmq");
  const parsed = new URL(url);
  const worker = new Worker(queue, (job) => {
    started(job.data.t as number);
    return Promise.resolve(null);
  }, {
    connection: { host: parsed.hostname, port: Number(parsed.port || 6379) },
    concurrency,
    prefix: keyPrefix.replace(/:$/, ""),
  });
  worker.on("error", () => {});
  worker.on("completed", stored);
  await worker.waitUntilReady();
  stop = () => worker.close();
} else {
  const server = ourServer(url, queue, keyPrefix, process.env.PRIORITY_QUEUES === "1");
  // TASK_TIMEOUT_MS > 0 gives every task a timeout, to measure what one costs.
  const timeout = Number(process.env.TASK_TIMEOUT_MS || "0") || undefined;
  server.registerTask("noop", (t: number) => {
    started(t);
  }, { timeout });
  // METRICS=1: keep Prometheus metrics (bench/redis.ts BENCH_METRICS), to measure their cost.
  const worker = server.newWorker("bench", concurrency, { metrics: process.env.METRICS === "1" });
  worker.setPostTaskHandler(stored);
  const launched = worker.launch();
  stop = async () => {
    await worker.quit();
    await launched;
    await server.close();
  };
}

emit({ ready: true });
await new Promise((r) => setTimeout(r, 1000));
emit({ idleRss: process.memoryUsage.rss() });
const cpuAtIdle = process.cpuUsage();
if (n === 0) {
  const report = () => {
    const cpu = process.cpuUsage(cpuAtIdle);
    emit({ count, cpuMs: (cpu.user + cpu.system) / 1000 });
  };
  const reporter = setInterval(report, 100);
  process.stdin.on("end", () => {
    clearInterval(reporter);
    report();
    finish();
  });
  process.stdin.resume();
}
await finished;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage.rss());
delays.sort((a, b) => a - b);
emit({
  done: true,
  peakRss,
  cpuUs: ((cpu) => (cpu.user + cpu.system) / n)(process.cpuUsage(cpuAtIdle)),
  delays: { p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays.at(-1) },
});
await stop();
process.exit(0);
