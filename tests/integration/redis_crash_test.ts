/**
 * At-least-once on Redis: a worker process is killed with SIGKILL in the middle of a run; a
 * second worker picks up every task the first one held (running or taken) once its lease
 * expires, and every task reaches SUCCESS. Duplicates are counted and bounded by what the first
 * worker held: its running tasks, and finished ones whose ack had not landed (at most its
 * concurrency plus its prefetch). Runs the worker on the runtime running the test (Deno or Bun).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { newSignature, Server, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { waitFor } from "../helpers.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./redis_support.ts";

const skip = await redisSkipReason();
const WORKER = fileURLToPath(new URL("./redis_crash_worker.ts", import.meta.url));

function spawnWorker(env: Record<string, string>): ChildProcess {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const [cmd, args] = g.Deno
    ? [g.Deno.execPath(), ["run", "-A", WORKER]]
    : [g.process.execPath, [WORKER]];
  const child = spawn(cmd, args, {
    env: { ...g.process?.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return child;
}

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += String(chunk);
      if (out.includes("ready")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`The worker exited early with code ${code}`)));
  });
}

describe("redis crash recovery", { skip }, () => {
  const queue = uniqueName("crash_queue");
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const children: ChildProcess[] = [];

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await deleteRedisKeys([queue], [keyPrefix]);
  });

  it("loses no task when a worker is killed with -9", { timeout: 60_000 }, async () => {
    const N = 60;
    const env = {
      REDIS_URL,
      QUEUE: queue,
      KEY_PREFIX: keyPrefix,
      LEASE_MS: "2000",
      TASK_MS: "100",
      CONCURRENCY: "5",
    };
    const config = {
      defaultQueue: queue,
      resultsExpireIn: 300,
      redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
    };
    const server = new Server({
      config,
      broker: new RedisBroker(REDIS_URL, { config, keyPrefix }),
      backend: new RedisBackend(REDIS_URL, { config, keyPrefix }),
      logger: silentLogger,
    });
    const redis = rawClient();
    try {
      const first = spawnWorker(env);
      children.push(first);
      await ready(first);
      const ids: string[] = [];
      for (let i = 0; i < N; i++) {
        const sig = newSignature("slow", [{ name: "", type: "string", value: `t${i}` }]);
        ids.push(sig.uuid);
        await server.sendTask(sig);
      }
      const successes = async () => {
        const states = await Promise.all(ids.map((id) => server.backend.getState(id)));
        return states.filter((s) => s.state === "SUCCESS").length;
      };
      await waitFor(async () => (await successes()) >= 10, "10 tasks done by the first worker");
      first.kill("SIGKILL");
      await new Promise((resolve) => first.once("exit", resolve));
      const doneAtKill = await successes();
      assert.ok(doneAtKill < N, "the first worker finished everything before the kill");

      const second = spawnWorker(env);
      children.push(second);
      await ready(second);
      await waitFor(async () => (await successes()) === N, "every task SUCCESS", 40_000);

      const runs = await redis.hgetall(`${keyPrefix}runs`);
      const total = Object.values(runs).reduce((a, b) => a + Number(b), 0);
      const duplicates = total - N;
      console.log(
        `crash test: ${N} tasks, ${doneAtKill} done before the kill, ${duplicates} ran twice`,
      );
      assert.equal(Object.keys(runs).length, N);
      assert.ok(
        duplicates <= 15,
        `${duplicates} duplicates, more than the worker held (concurrency 5 + prefetch 10)`,
      );
      assert.equal(await redis.llen(queue), 0);
    } finally {
      redis.disconnect();
      await server.close();
    }
  });
});
