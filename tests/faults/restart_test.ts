/**
 * Fault scenario 2, the broker restarts mid-run, while a sender keeps sending and a worker
 * process keeps working:
 * - Redis: a dedicated redis-server (AOF, `appendfsync always`, its own port and directory) is
 *   killed with SIGKILL and started again on the same files. It is the broker and the result
 *   backend; the shared Redis, which keeps nothing on disk, only counts runs.
 * - RabbitMQ: `rabbitmqctl stop_app`, then `start_app` (always, in a `finally`).
 * Nobody steps in: the sender and the worker reconnect by themselves, and every task whose send
 * resolved must reach SUCCESS. Sends that failed are reported, not counted as lost.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { type Broker, newSignature, Server, type Signature, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis.ts";
import { AMQPBroker } from "../../src/amqp.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP, uniqueName, withChannel } from "../integration/amqp_support.ts";
import {
  AMQP_URL,
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  killAll,
  recordRow,
  REDIS_URL,
  redisClient,
  REQUIRE_SERVICES,
  runCounts,
  skipReason,
  startWorker,
} from "./support.ts";

const SCENARIO = "broker restart";
const TASKS = 2_000;
const run = promisify(execFile);

async function toolSkip(tool: string, args: string[]): Promise<string | false> {
  try {
    await run(tool, args, { timeout: 30_000 });
    return false;
  } catch (error) {
    if (REQUIRE_SERVICES) return false;
    const reason = `${tool} is not usable here: ${(error as Error).message}`;
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
}

/** A redis-server of our own: AOF with fsync on every write, in a temp dir, on its own port. */
class DedicatedRedis {
  readonly port = 6390 + Math.floor(Math.random() * 2000);
  readonly dir = mkdtempSync(join(tmpdir(), "machinery-faults-redis-"));
  readonly url = `redis://127.0.0.1:${this.port}`;
  #proc?: ChildProcess;
  #exited?: Promise<void>;

  async start(): Promise<void> {
    const proc = spawn("redis-server", [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--dir",
      this.dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--save",
      "",
      "--logfile",
      join(this.dir, "redis.log"),
    ], { stdio: "ignore" });
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.on("exit", () => resolve()));
    await waitFor(() => this.ping(), `redis-server on port ${this.port}`, 20_000);
  }

  async ping(): Promise<boolean> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      return (await client.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  /** SIGKILL: no shutdown, no final save; only what the AOF already holds survives. */
  async crash(): Promise<void> {
    this.#proc?.kill("SIGKILL");
    await this.#exited;
  }

  async stop(): Promise<void> {
    await this.crash();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Sends `sigs` in a steady stream (a batch of 10 every 25 ms, so about 5 s for 2,000: before,
 * during and after the restart) and remembers which sends resolved and which failed.
 */
function sendStream(server: Server, sigs: Signature[]) {
  const confirmed: string[] = [];
  const failed: string[] = [];
  const pending = new Set<Promise<unknown>>();
  const done = (async () => {
    for (let i = 0; i < sigs.length; i += 10) {
      for (const sig of sigs.slice(i, i + 10)) {
        const p = server.sendTask(sig).then(
          () => confirmed.push(sig.uuid),
          () => failed.push(sig.uuid),
        );
        pending.add(p);
        p.finally(() => pending.delete(p));
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    while (pending.size > 0) await Promise.all([...pending]);
  })();
  return { confirmed, failed, done };
}

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind) ||
    (kind === "redis"
      ? await toolSkip("redis-server", ["--version"])
      : await toolSkip("rabbitmqctl", ["-q", "list_vhosts"]));
  describeFault(SCENARIO, kind, skip, () => {
    it(`${TASKS} tasks across a restart: every confirmed one completes`, {
      timeout: 180_000,
    }, async () => {
      const queue = uniqueName(`faults_restart_${kind}`);
      const exchange = `${queue}_exchange`;
      const keyPrefix = `${queue}:`;
      const runsKey = `${keyPrefix}runs`;
      const dedicated = kind === "redis" ? new DedicatedRedis() : undefined;
      const brokerURL = dedicated?.url ?? AMQP_URL;
      const backendURL = dedicated?.url ?? REDIS_URL;
      const config = {
        defaultQueue: queue,
        resultsExpireIn: 600,
        redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
        amqp: { exchange, bindingKey: queue },
      };
      const shared = redisClient();
      const children: Child[] = [];
      let server: Server | undefined;
      let backend: Redis | undefined;
      let stopped = false;
      const sigs: Signature[] = Array.from(
        { length: TASKS },
        (_, i) => newSignature("work", [{ name: "", type: "string", value: `t${i}` }]),
      );
      try {
        await dedicated?.start();
        const broker: Broker = kind === "redis"
          ? new RedisBroker(brokerURL, { config, keyPrefix, onError: () => {} })
          : new AMQPBroker({
            urls: [AMQP_URL],
            exchange,
            defaultQueue: queue,
            bindingKey: queue,
            publishRetryMs: 120_000,
            logger: silentLogger,
          });
        server = new Server({
          config,
          broker,
          backend: new RedisBackend(backendURL, { config, keyPrefix, onError: () => {} }),
          logger: silentLogger,
        });
        children.push(
          await startWorker({
            FAULT_BROKER: kind,
            BROKER_URL: brokerURL,
            BACKEND_URL: backendURL,
            QUEUE: queue,
            KEY_PREFIX: keyPrefix,
            EXCHANGE: exchange,
            CONCURRENCY: "10",
            LEASE_MS: "2000",
            RECOVERY_MS: "500",
            FAULTS_COUNTER_URL: REDIS_URL,
            FAULTS_RUNS_KEY: runsKey,
            FAULTS_TASK_MS: "2",
          }),
        );
        const stream = sendStream(server, sigs);
        await waitFor(() => stream.confirmed.length >= TASKS / 3, "a third of the sends", 60_000);
        const beforeRestart = stream.confirmed.length;
        const outageStart = Date.now();
        if (dedicated) {
          await dedicated.crash();
          await new Promise((r) => setTimeout(r, 1000)); // the sender keeps sending into the outage
          await dedicated.start();
        } else {
          stopped = true;
          await run("rabbitmqctl", ["stop_app"], { timeout: 60_000 });
          await waitFor(
            () => withChannel(() => Promise.resolve(false)).catch(() => true),
            "RabbitMQ refuses connections",
            30_000,
          );
          await new Promise((r) => setTimeout(r, 1000));
          stopped = false;
          await run("rabbitmqctl", ["start_app"], { timeout: 60_000 });
        }
        const outageMs = Date.now() - outageStart;
        await stream.done;
        backend = new Redis(backendURL, { maxRetriesPerRequest: 20 });
        backend.on("error", () => {});
        const confirmed = stream.confirmed;
        let states = new Map<string, number>();
        await waitFor(
          async () => {
            states = await countStates(backend!, confirmed);
            return states.get("SUCCESS") === confirmed.length;
          },
          "every confirmed task SUCCESS",
          90_000,
        ).catch(() => {});
        const lost = confirmed.length - (states.get("SUCCESS") ?? 0);
        const runs = await runCounts(shared, runsKey);
        const how = dedicated ? "redis-server SIGKILL + restart (AOF)" : "stop_app + start_app";
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: confirmed.length,
          lost,
          duplicated: runs.total - runs.distinct,
          badInputs: 0,
          outcome: `${how} (${(outageMs / 1000).toFixed(1)} s) after ${beforeRestart} sends; ` +
            `${stream.failed.length} sends failed` +
            (lost ? `; states ${JSON.stringify(Object.fromEntries(states))}` : ""),
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(states))}`);
      } finally {
        if (stopped) await run("rabbitmqctl", ["start_app"], { timeout: 60_000 });
        await killAll(children);
        await server?.close();
        backend?.disconnect();
        await dedicated?.stop();
        await deletePrefix(shared, keyPrefix);
        if (kind === "amqp") {
          await deleteKeys(shared, sigs.map((s) => s.uuid));
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
        shared.disconnect();
      }
    });
  });
}
