/**
 * Shared pieces of the fault suite: worker processes on the runtime running the test, service
 * checks, counting task states in Redis, and the summary table (one row per scenario and
 * broker, kept in a file per test process so every test file adds to the same table).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { after } from "node:test";
import { describeUnless, env } from "../helpers.ts";
import { REDIS_URL, redisSkipReason } from "../integration/redis_support.ts";
import { AMQP_URL, amqpSkipReason, uniqueName } from "../integration/amqp_support.ts";
import { type Broker, type ConfigInput, Server, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";

export { AMQP_URL, REDIS_URL };

/** The repository root (where `cli.ts` is). */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url));
/** The worker process of the suite. */
export const WORKER_FIXTURE: string = fileURLToPath(
  new URL("./worker_fixture.ts", import.meta.url),
);
/** The tasks module, for `cli.ts worker --tasks`. */
export const TASKS_MODULE: string = fileURLToPath(new URL("./tasks.ts", import.meta.url));

const IS_DENO = "Deno" in globalThis;

/** Whether missing services fail the tests instead of skipping them. */
export const REQUIRE_SERVICES: boolean = env("REQUIRE_SERVICES") === "1";

/** Skip reason for scenarios that need Redis (and RabbitMQ when `amqp`), or `false`. */
export async function skipReason(broker: "redis" | "amqp"): Promise<string | false> {
  const redis = await redisSkipReason();
  if (redis) return redis;
  return broker === "amqp" ? await amqpSkipReason() : false;
}

/** A running child process with its output captured. */
export interface Child {
  /** The process. */
  readonly process: ChildProcess;
  /** Everything it wrote to stdout so far. */
  stdout(): string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code and signal once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** True until it exits. */
  alive(): boolean;
  /** Its peak resident set size so far in MiB (Linux `VmHWM`; -1 where unknown). */
  peakRssMiB(): number;
}

/** The peak resident set size of a running process in MiB (Linux `VmHWM`), or -1. */
function readPeakRssMiB(pid: number | undefined): number {
  if (pid === undefined) return -1;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? -1 : Math.round(Number(kb) / 1024);
  } catch {
    return -1;
  }
}

/**
 * Starts `script` (a path) with the runtime running this test: Deno as `run -A`, Bun as is. The
 * child is killed with SIGKILL after `timeoutMs` whatever happens, so no scenario leaves one.
 */
export function startScript(
  script: string,
  args: string[],
  childEnv: Record<string, string>,
  timeoutMs = 180_000,
): Child {
  const envAll: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) envAll[k] = v;
  Object.assign(envAll, { NO_COLOR: "1" }, childEnv);
  const argv = IS_DENO
    ? ["run", "-A", "--quiet", "--no-check", script, ...args]
    : [script, ...args];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: envAll, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  let running = true;
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    // Keep the tail only: a worker fed 10,000 bad messages may log a lot.
    stderr = (stderr + d).slice(-200_000);
  });
  const killer = setTimeout(() => signal(child, "SIGKILL"), timeoutMs);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on("close", (code, sig) => {
      running = false;
      clearTimeout(killer);
      resolve({ code, signal: sig });
    });
  });
  let peak = -1;
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    alive: () => running,
    peakRssMiB: () => {
      if (running) peak = Math.max(peak, readPeakRssMiB(child.pid));
      return peak;
    },
  };
}

/** Starts the worker fixture with `vars` (see `worker_fixture.ts`) and waits for `ready`. */
export async function startWorker(vars: Record<string, string>): Promise<Child> {
  const child = startScript(WORKER_FIXTURE, [], vars);
  await waitForOutput(child, "ready", 30_000);
  return child;
}

/** Waits until the child printed `text` on stdout or stderr; fails if it exits first. */
export async function waitForOutput(child: Child, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!child.stdout().includes(text) && !child.stderr().includes(text)) {
    if (!child.alive()) {
      throw new Error(`The process exited before printing "${text}":\n${child.stderr()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for "${text}":\n${child.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Sends a signal with `process.kill` (Deno's `ChildProcess.kill` records the signal as the
 * cause of exit even when the child handles it and exits with its own code).
 */
export function signal(child: ChildProcess | Child, name: "SIGTERM" | "SIGINT" | "SIGKILL"): void {
  const proc = "process" in child ? child.process : child;
  if (proc.pid === undefined) return;
  try {
    process.kill(proc.pid, name);
  } catch (error) {
    if ((error as { code?: string }).code !== "ESRCH") throw error;
  }
}

/** Kills every child still running with SIGKILL and waits for each to exit. */
export async function killAll(children: Child[]): Promise<void> {
  for (const child of children) if (child.alive()) signal(child, "SIGKILL");
  await Promise.all(children.map((c) => c.exited));
}

/** A plain Redis client for checks and counters (`url` defaults to the shared Redis). */
export function redisClient(url: string = REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 50, enableAutoPipelining: true });
  client.on("error", () => {});
  return client;
}

/** How many of `uuids` are in each state (`MISSING` for no state), read with MGET. */
export async function countStates(
  redis: Redis,
  uuids: string[],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < uuids.length; i += 1000) {
    const values = await redis.mget(...uuids.slice(i, i + 1000));
    for (const value of values) {
      const state = value === null ? "MISSING" : /"State":"([A-Z]*)"/.exec(value)?.[1] ?? "?";
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
  }
  return counts;
}

/** The stored states of `uuids` (null where there is none), parsed. */
export async function readStates(
  redis: Redis,
  uuids: string[],
): Promise<({ State: string; Error: string; TaskUUID: string } | null)[]> {
  const out: ({ State: string; Error: string; TaskUUID: string } | null)[] = [];
  for (let i = 0; i < uuids.length; i += 1000) {
    const values = await redis.mget(...uuids.slice(i, i + 1000));
    for (const value of values) out.push(value === null ? null : JSON.parse(value));
  }
  return out;
}

/** The sum and the number of fields of a Redis hash of counts. */
export async function runCounts(
  redis: Redis,
  key: string,
): Promise<{ distinct: number; total: number; counts: Record<string, number> }> {
  const raw = await redis.hgetall(key);
  const counts: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(raw)) {
    counts[k] = Number(v);
    total += Number(v);
  }
  return { distinct: Object.keys(counts).length, total, counts };
}

/** Deletes keys in chunks. */
export async function deleteKeys(redis: Redis, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    if (chunk.length > 0) await redis.del(...chunk);
  }
}

/** Deletes every key starting with `prefix`. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== "0");
}

/** Runs `fn` over `items` with at most `limit` calls at once. */
export async function inBatches<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The summary table

/** One row of the summary table. */
export interface Row {
  /** The scenario (one of `SCENARIOS`). */
  scenario: string;
  /** `redis` or `amqp`. */
  broker: string;
  /** Tasks sent (good ones). */
  tasks: number;
  /** Tasks sent and confirmed that never completed (-1: not counted, the run failed first). */
  lost: number;
  /** Extra runs of tasks (reported, not failed on). */
  duplicated: number;
  /** Bad messages fed in. */
  badInputs: number;
  /** What happened, in a few words. */
  outcome: string;
  /** The worker process's peak resident set size in MiB (unset or -1: not measured). */
  peakRssMiB?: number;
}

/** Every scenario of the suite, in the order of the issue. */
export const SCENARIOS = [
  "kill -9 under load",
  "broker restart",
  "graceful shutdown",
  "malformed input",
  "chord exactly once",
  "results expire",
  "WRONGTYPE poison among 20",
  "UUIDs equal to reserved keys",
  "12 × 50 MB + 512 MiB bodies",
  "15,000 unknown tasks",
  "silent endpoint",
  "result backend outage",
  "Sentinel failover",
  "Redis Cluster master kill",
  "RabbitMQ cluster node kill (quorum)",
] as const;

/** The brokers every scenario runs on (unless `ONLY_ON` names fewer). */
export const BROKERS = ["redis", "amqp"] as const;

/** Scenarios about one broker's own keys and scripts, run on that broker only. */
const ONLY_ON: Partial<Record<typeof SCENARIOS[number], readonly typeof BROKERS[number][]>> = {
  "WRONGTYPE poison among 20": ["redis"],
  "UUIDs equal to reserved keys": ["redis"],
  "12 × 50 MB + 512 MiB bodies": ["redis"],
  "15,000 unknown tasks": ["redis"],
  "Sentinel failover": ["redis"],
  "Redis Cluster master kill": ["redis"],
  "RabbitMQ cluster node kill (quorum)": ["amqp"],
};

// Keyed by the parent process: `deno test` runs every file in one process, but the Bun run
// (`tests/bun_each.sh`) starts one process per file from the same shell.
const ROWS_DIR = join(tmpdir(), `machinery-faults-${process.ppid}`);
const ROWS_FILE = join(ROWS_DIR, "rows.jsonl");
/** Rows older than this belong to an earlier run from the same shell. */
const STALE_MS = 30 * 60_000;

/** The scenario/broker pairs this process recorded a row for. */
const recorded = new Set<string>();

/** Adds a row to this run's table and prints it. */
export function recordRow(row: Row): void {
  recorded.add(`${row.scenario}/${row.broker}`);
  mkdirSync(ROWS_DIR, { recursive: true });
  appendFileSync(ROWS_FILE, JSON.stringify({ ...row, at: Date.now() }) + "\n");
  console.log(`\n${formatTable([row])}\n`);
}

function readRows(): Row[] {
  let text = "";
  try {
    text = readFileSync(ROWS_FILE, "utf8");
  } catch {
    return [];
  }
  const now = Date.now();
  const latest = new Map<string, Row>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const row = JSON.parse(line) as Row & { at: number };
    if (now - row.at < STALE_MS) latest.set(`${row.scenario}/${row.broker}`, row);
  }
  return [...latest.values()];
}

function count(n: number): string {
  return n < 0 ? "?" : String(n);
}

/** The rows as a Markdown table. */
export function formatTable(rows: Row[]): string {
  const header = [
    "scenario",
    "broker",
    "tasks",
    "lost",
    "duplicated",
    "bad inputs",
    "worker peak RSS",
    "outcome",
  ];
  const cells = rows.map((r) => [
    r.scenario,
    r.broker,
    count(r.tasks),
    count(r.lost),
    count(r.duplicated),
    count(r.badInputs),
    r.peakRssMiB === undefined || r.peakRssMiB < 0 ? "?" : `${r.peakRssMiB} MiB`,
    r.outcome,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)]
    .join("\n");
}

/**
 * Once every scenario has a row for each broker, prints the whole table (the suite's closing
 * summary) and removes the row file. Call it from every suite's `after`: whichever finishes
 * the set prints it, whatever order the runner takes the files in.
 */
export function printSummaryIfComplete(): void {
  const rows = readRows();
  const seen = new Set(rows.map((r) => `${r.scenario}/${r.broker}`));
  const complete = SCENARIOS.every((s) =>
    (ONLY_ON[s] ?? BROKERS).every((b) => seen.has(`${s}/${b}`))
  );
  if (!complete) return;
  const order = (r: Row) => SCENARIOS.indexOf(r.scenario as typeof SCENARIOS[number]);
  const sorted = [...rows].sort((a, b) => order(a) - order(b) || b.broker.localeCompare(a.broker));
  console.log(`\nFault suite summary:\n\n${formatTable(sorted)}\n`);
  rmSync(ROWS_DIR, { recursive: true, force: true });
}

/**
 * The suite of one scenario on one broker: skipped visibly (with a row saying so) when a service
 * is missing; a run that fails before it records its row gets a row saying so; the closing
 * table is printed by whichever suite completes it.
 */
export function describeFault(
  scenario: typeof SCENARIOS[number],
  broker: typeof BROKERS[number],
  skip: string | false,
  fn: () => void,
): void {
  const row = (outcome: string): Row => ({
    scenario,
    broker,
    tasks: -1,
    lost: -1,
    duplicated: -1,
    badInputs: -1,
    outcome,
  });
  if (skip) recordRow(row(`skipped: ${skip}`));
  describeUnless(skip, `faults: ${scenario} (${broker})`, () => {
    after(() => {
      if (skip) return; // Bun runs the hooks of a skipped suite
      if (!recorded.has(`${scenario}/${broker}`)) {
        recordRow(row("FAILED before counting (see the error above)"));
      }
      printSummaryIfComplete();
    });
    fn();
  });
  if (skip) printSummaryIfComplete();
}

/** A server on a fresh queue of one broker, with the Redis backend, for one fault scenario. */
export interface FaultRig {
  queue: string;
  exchange: string;
  keyPrefix: string;
  runsKey: string;
  config: ConfigInput;
  broker: Broker;
  server: Server;
  redis: Redis;
}

/**
 * Builds what every scenario starts from: a unique queue (and AMQP exchange, Redis key prefix)
 * named after `name`, the broker of `kind`, the Redis backend (at `backendURL`), a server and a
 * Redis client (of the shared Redis).
 */
export function faultRig(
  kind: "redis" | "amqp",
  name: string,
  extraConfig: ConfigInput = {},
  backendURL: string = REDIS_URL,
): FaultRig {
  const queue = uniqueName(`faults_${name}_${kind}`);
  const exchange = `${queue}_exchange`;
  const keyPrefix = `${queue}:`;
  const config: ConfigInput = {
    defaultQueue: queue,
    resultsExpireIn: 600,
    ...extraConfig,
    redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
    amqp: { exchange, bindingKey: queue },
  };
  const broker: Broker = kind === "redis"
    ? new RedisBroker(REDIS_URL, { config, keyPrefix })
    : new AMQPBroker(AMQP_URL, {
      config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue } },
      logger: silentLogger,
    });
  const server = new Server({
    config,
    broker,
    backend: new RedisBackend(backendURL, { config, keyPrefix }),
    logger: silentLogger,
  });
  return {
    queue,
    exchange,
    keyPrefix,
    runsKey: `${keyPrefix}runs`,
    config,
    broker,
    server,
    redis: redisClient(),
  };
}
