/**
 * `deno task bench:scaling` (or `bun bench/scaling.ts`): 1, 2 and 4 worker processes on one queue,
 * on one Redis and on a Redis Cluster of the benchmark's own (six nodes on spare loopback ports,
 * three masters), printing tasks/s end to end, the workers' CPU time per task and the Redis
 * commands per task.
 *
 * On a 2-core machine the sender, the workers and Redis share two cores, so more processes cannot
 * add throughput, and the CPU time of each grows as they crowd the cores. The commands per task,
 * which load does not move, say whether a task costs more work with more workers on its queue.
 * On a cluster one queue lives on one master (its keys share the queue's slot), so a cluster adds
 * capacity through more queues, not a faster single queue.
 *
 * Env: REDIS_URL (redis://127.0.0.1:6379), BENCH_N (20000), BENCH_CONCURRENCY (per worker
 * process, 100), BENCH_WORKERS (`1,2,4`), BENCH_ROUNDS (2; the best counts), BENCH_CLUSTER (`0`
 * skips the cluster).
 */
import process from "node:process";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import {
  cleanup,
  onJsonLines,
  ourServer,
  sendMany,
  wallNow,
  withTimeout,
  workerCommand,
} from "./_support.ts";
import { startOwnRedisCluster } from "../tests/faults/own_redis_cluster.ts";

const URL_ = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const N = Number(process.env.BENCH_N || "20000");
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || "100");
const WORKERS = (process.env.BENCH_WORKERS || "1,2,4").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS || "2");
const WORKER = fileURLToPath(new URL("./redis_worker.ts", import.meta.url));
const RUN = crypto.randomUUID().slice(0, 8);
const runtime = "Deno" in globalThis ? "deno" : "bun";

/** A worker process in count mode (`N=0`): its latest report. */
interface CountingWorker {
  process: ChildProcess;
  idle: Promise<void>;
  exited: Promise<void>;
  count: number;
  cpuMs: number;
}

function spawnCounting(url: string, queue: string, keyPrefix: string): CountingWorker {
  const [cmd, args] = workerCommand(WORKER);
  const child = spawn(cmd, args, {
    env: {
      ...process.env,
      MODE: "machinery",
      REDIS_URL: url,
      QUEUE: queue,
      KEY_PREFIX: keyPrefix,
      N: "0",
      CONCURRENCY: String(CONCURRENCY),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let markIdle: () => void;
  const worker: CountingWorker = {
    process: child,
    idle: new Promise<void>((resolve) => (markIdle = resolve)),
    exited: new Promise<void>((resolve) => child.once("exit", () => resolve())),
    count: 0,
    cpuMs: 0,
  };
  onJsonLines(child, (msg) => {
    if (msg.idleRss) markIdle();
    if (msg.count !== undefined) {
      worker.count = msg.count;
      worker.cpuMs = msg.cpuMs;
    }
  });
  return worker;
}

/** One run: `workers` processes take N tasks from one queue; tasks/s and CPU µs per task. */
/** Redis commands served so far, summed over `servers` (a cluster's masters and replicas). */
async function commandsServed(servers: Redis[]): Promise<number> {
  let calls = 0;
  for (const server of servers) {
    const stats = await server.info("commandstats");
    for (const match of stats.matchAll(/calls=(\d+)/g)) calls += Number(match[1]);
  }
  return calls;
}

/**
 * One run: `workers` processes take N tasks from one queue; tasks/s, their CPU µs per task, and
 * the Redis commands per task (replication included on a cluster), which no load from elsewhere
 * moves.
 */
async function run(
  url: string,
  servers: Redis[],
  topology: string,
  workers: number,
  round: number,
): Promise<{ perSec: number; cpuUs: number; commands: number }> {
  const queue = `bench_scaling_${RUN}_${topology}_${workers}_${round}`;
  const prefix = `machinery:bench_${RUN}:`;
  const pool = Array.from({ length: workers }, () => spawnCounting(url, queue, prefix));
  await withTimeout(Promise.all(pool.map((w) => w.idle)), 60_000, "the workers to start");
  const sender = ourServer(url, queue, prefix);
  const uuids: string[] = [];
  const calls0 = await commandsServed(servers);
  const t0 = performance.now();
  await sendMany(sender, N, uuids, () => wallNow());
  const deadline = Date.now() + 300_000;
  while (pool.reduce((sum, w) => sum + w.count, 0) < N) {
    if (Date.now() > deadline) {
      throw new Error(`${topology}, ${workers} workers: not done in 300 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const t1 = performance.now();
  const commands = (await commandsServed(servers)) - calls0;
  for (const w of pool) w.process.stdin!.end();
  await withTimeout(Promise.all(pool.map((w) => w.exited)), 60_000, "the workers to stop");
  await sender.close();
  if (topology === "redis") {
    const redis = new Redis(url);
    await cleanup(redis, [...uuids, queue], prefix);
    redis.disconnect();
  }
  const cpuMs = pool.reduce((sum, w) => sum + w.cpuMs, 0);
  return { perSec: N / ((t1 - t0) / 1000), cpuUs: (cpuMs * 1000) / N, commands: commands / N };
}

async function measure(url: string, servers: Redis[], topology: string) {
  const rows = [];
  for (const workers of WORKERS) {
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      rounds.push(await run(url, servers, topology, workers, round));
    }
    const best = rounds.reduce((a, b) => (b.perSec > a.perSec ? b : a));
    rows.push({ topology, workers, ...best, rounds: rounds.map((r) => r.perSec) });
  }
  return rows;
}

const single = new Redis(URL_);
const rows = await measure(URL_, [single], "redis");
single.disconnect();
if (process.env.BENCH_CLUSTER !== "0") {
  const cluster = await startOwnRedisCluster();
  try {
    rows.push(...await measure(cluster.url, cluster.nodes.map((n) => n.client), "cluster"));
  } finally {
    await cluster.stop();
  }
}

console.log(
  `Scaling: ${runtime}, N=${N}, concurrency ${CONCURRENCY} per worker process, best of ${ROUNDS}\n`,
);
console.log(
  "| topology | worker processes | tasks/s | worker CPU per task (µs) | Redis commands per task |",
);
console.log(
  "|----------|-----------------:|--------:|-------------------------:|------------------------:|",
);
for (const r of rows) {
  const perSec = Math.round(r.perSec).toLocaleString("en-US");
  const cells = [r.topology, r.workers, perSec, r.cpuUs.toFixed(1), r.commands.toFixed(2)];
  console.log(`| ${cells.join(" | ")} |`);
}
const dir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}scaling-${runtime}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(file, JSON.stringify({ runtime, n: N, concurrency: CONCURRENCY, rows }, null, 2));
console.log(`\nResults written to ${file}`);
process.exit(0);
