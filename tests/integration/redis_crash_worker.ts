/**
 * A worker process for the Redis crash test (not a test itself). It reads its settings from
 * the environment, counts every run of a task in a Redis hash (to count duplicates), prints
 * `ready` once consuming, and runs until it is killed.
 *
 * Env: REDIS_URL, QUEUE, KEY_PREFIX, LEASE_MS, TASK_MS, CONCURRENCY.
 */
import { Redis } from "ioredis";
import { Server, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { env } from "../helpers.ts";

const url = env("REDIS_URL") || "redis://127.0.0.1:6379";
const queue = env("QUEUE")!;
const keyPrefix = env("KEY_PREFIX")!;
const leaseMs = Number(env("LEASE_MS") || "2000");
const taskMs = Number(env("TASK_MS") || "100");
const concurrency = Number(env("CONCURRENCY") || "5");

const config = {
  defaultQueue: queue,
  resultsExpireIn: 300,
  noUnixSignals: true,
  redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
};
const counter = new Redis(url);
counter.on("error", () => {});
const server = new Server({
  config,
  broker: new RedisBroker(url, { config, keyPrefix, leaseMs, recoveryIntervalMs: 500 }),
  backend: new RedisBackend(url, { config, keyPrefix }),
  logger: silentLogger,
});
server.registerTask("slow", async (id: string) => {
  await counter.hincrby(`${keyPrefix}runs`, id, 1);
  await new Promise((r) => setTimeout(r, taskMs));
  return id;
});
const worker = server.newWorker("crash_worker", concurrency);
worker.launch();
console.log("ready");
