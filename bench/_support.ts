/**
 * What the Redis benchmarks share: the sender they measure with, how a worker process is started,
 * and the clean-up after a run.
 *
 * @module
 */
import process from "node:process";
import type { ChildProcess } from "node:child_process";
import type { Redis } from "ioredis";
import { newSignature, Server, silentLogger } from "../mod.ts";
import { RedisBackend, RedisBroker } from "../src/redis/mod.ts";

/**
 * V8 flags for both worker processes on Deno: a 2 MB young generation. V8 otherwise grows it to
 * tens of MB under a high allocation rate, which costs RSS and buys no throughput here.
 */
export const V8_FLAGS = process.env.BENCH_V8_FLAGS ?? "--max-semi-space-size=2";
/**
 * Flags for both worker processes on Bun: `--smol` collects garbage more often and keeps a
 * smaller heap (about 15 MB less peak RSS here, no measurable throughput cost).
 */
export const BUN_FLAGS = process.env.BENCH_BUN_FLAGS ?? "--smol";

/** Wall-clock ms with sub-ms precision, comparable across processes. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** The command and arguments that run `script` on this runtime (`deno run -A` or `bun`). */
export function scriptCommand(script: string, denoArgs: string[] = []): [string, string[]] {
  const g = globalThis as unknown as { Deno?: { execPath(): string } };
  return g.Deno
    ? [g.Deno.execPath(), ["run", "-A", ...denoArgs, script]]
    : [process.execPath, [script]];
}

/** {@linkcode scriptCommand} for a worker process, with the runtime's memory flags. */
export function workerCommand(script: string): [string, string[]] {
  const g = globalThis as unknown as { Deno?: unknown };
  if (g.Deno) return scriptCommand(script, V8_FLAGS ? [`--v8-flags=${V8_FLAGS}`] : []);
  return [process.execPath, [...BUN_FLAGS.split(" ").filter(Boolean), script]];
}

/**
 * A Server on the Redis broker and backend at `url` (the senders' and our bench worker's), with
 * every key under `keyPrefix` so a run cleans up after itself.
 */
export function ourServer(
  url: string,
  queue: string,
  keyPrefix: string,
  priorityQueues = process.env.BENCH_PRIORITY_QUEUES === "1",
): Server {
  const config = {
    defaultQueue: queue,
    resultsExpireIn: 600,
    noUnixSignals: true,
    redis: { delayedTasksKey: `${keyPrefix}delayed_tasks`, priorityQueues },
  };
  return new Server({
    config,
    broker: new RedisBroker(url, { config, keyPrefix }),
    backend: new RedisBackend(url, { config, keyPrefix }),
    logger: silentLogger,
  });
}

/**
 * Sends `count` no-op tasks through `window` concurrent lanes; `arg(i)` is the task's argument
 * (when it was sent, or its ETA, in wall-clock ms) and `eta(i)` its ETA.
 */
export async function sendMany(
  server: Server,
  count: number,
  uuids: string[],
  arg: (i: number) => number,
  eta?: (i: number) => string,
  window = 1000,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const sig = newSignature("noop", [{ name: "", type: "float64", value: arg(i) }], {
        eta: eta?.(i) ?? null,
      });
      uuids.push(sig.uuid);
      await server.sendTask(sig);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

/** Deletes `keys` and every key under `prefix` (one Redis, not a cluster). */
export async function cleanup(redis: Redis, keys: string[], prefix: string): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    if (chunk.length) await redis.unlink(...chunk);
  }
  let cursor = "0";
  do {
    const [nextCursor, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = nextCursor;
    if (found.length) await redis.unlink(...found);
  } while (cursor !== "0");
}

/** `p`, or a rejection naming `what` after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`Timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `onMessage` with each JSON line a bench worker writes on its stdout. */
export function onJsonLines(
  child: ChildProcess,
  // deno-lint-ignore no-explicit-any
  onMessage: (msg: any) => void,
): void {
  let buffer = "";
  child.stdout!.on("data", (chunk) => {
    buffer += String(chunk);
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onMessage(JSON.parse(line));
    }
  });
}
