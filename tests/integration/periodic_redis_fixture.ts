/**
 * One scheduler process for `periodic_redis_test.ts`: a Server on the Redis broker (queue
 * `QUEUE`) with the memory backend, a Redis lock, and one periodic task `NAME` on `SPEC`. It
 * prints one JSON line per event on stdout (`ready`, each tick's outcome, `stopped`), runs
 * `RUN_MS` and exits by itself.
 */
import { MemoryBackend, newSignature, Server, silentLogger } from "../../mod.ts";
import { RedisBroker } from "../../src/redis/mod.ts";
import { RedisLock } from "../../src/redis/lock.ts";
import { Scheduler } from "../../src/periodic/scheduler.ts";
import { env } from "../helpers.ts";

const url = env("REDIS_URL") || "redis://127.0.0.1:6379";
const queue = env("QUEUE")!;
const name = env("NAME")!;
const spec = env("SPEC") || "* * * * * *";
const runMs = Number(env("RUN_MS") || "10000");

function emit(event: Record<string, unknown>): void {
  console.log(JSON.stringify({ ...event, at: Date.now() }));
}

const config = { defaultQueue: queue };
const broker = new RedisBroker(url, { config });
await broker.connect();
const server = new Server({ config, broker, backend: new MemoryBackend(), logger: silentLogger });
const lock = new RedisLock(url);
await lock.connect();
const scheduler = new Scheduler(server, {
  lock,
  onTick: (e) => emit({ event: "tick", tick: e.tick.getTime(), outcome: e.outcome }),
});
scheduler.registerPeriodicTask(spec, name, newSignature("periodic_probe"));
emit({ event: "ready" });
await new Promise((resolve) => setTimeout(resolve, runMs));
scheduler.remove(name);
emit({ event: "stopped" });
await scheduler.close();
await server.close();
