/**
 * The operator's commands against the real servers, run as child processes with the runtime
 * running this test: `queues` counts what was sent, `purge --yes` empties a queue, a malformed
 * message a worker sets aside shows in `dead ls` with its reason, `dead retry --all` puts it
 * back and `dead rm --all` empties the list, and `workers` lists a worker on Redis and one on
 * RabbitMQ (Redis backend) with fresh heartbeats, until a SIGKILL drops it within its TTL.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { newSignature, type Signature } from "../../mod.ts";
import { RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { cli, startWorker, stopWorker } from "../cli_support.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, withChannel } from "./amqp_support.ts";

const TIMEOUT = 90_000;
/** The short heartbeat TTL the test workers run with, in seconds. */
const TTL_SECONDS = 1.5;

/** Runs a CLI command to its end and parses its JSON output (it must exit 0). */
async function cliJson<T = unknown>(args: string[], env: Record<string, string>): Promise<T> {
  const { code, stdout, stderr } = await cli([...args, "--json"], env);
  assert.equal(code, 0, `machinery ${args.join(" ")}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

interface Counts {
  queue: string;
  ready: number | null;
  delayed: number | null;
  held: number | null;
  dead: number | null;
}

interface Letter {
  queue: string;
  reason: string;
  body: string;
}

interface Listed {
  name: string;
  host: string;
  pid: number;
  queue: string;
  concurrency: number;
  lastHeartbeat: string;
}

/** What differs between the two brokers. */
interface Setup {
  broker: string;
  queue: string;
  /** Environment of the CLI children (the AMQP exchange and binding key). */
  env: Record<string, string>;
  /** Publishes tasks the library's way. */
  send(signatures: Signature[]): Promise<void>;
  /** Pushes a body that is not a task straight onto the queue. */
  pushRaw(body: string): Promise<void>;
}

const MALFORMED = "this is not a task {";

/** The whole operator story on one broker. */
async function operate(s: Setup, expectHeld: number | null): Promise<void> {
  const flags = ["--broker", s.broker, "--result-backend", REDIS_URL, "--queue", s.queue];
  const counts = async () => (await cliJson<Counts[]>(["queues", s.queue, ...flags], s.env))[0];

  // Five sent, no worker: five ready.
  await s.send(Array.from({ length: 5 }, (_, i) =>
    newSignature("add", [
      { name: "", type: "int64", value: i },
      { name: "", type: "int64", value: 1 },
    ])));
  assert.deepEqual(await counts(), {
    queue: s.queue,
    ready: 5,
    delayed: s.broker.startsWith("redis") ? 0 : null,
    held: expectHeld,
    dead: 0,
  });

  // purge without --yes off a terminal is refused (usage), with --yes it empties the queue.
  const refused = await cli(["purge", s.queue, ...flags], s.env);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--yes/);
  assert.deepEqual(await cliJson(["purge", s.queue, "--yes", ...flags], s.env), {
    queue: s.queue,
    purged: 5,
  });
  assert.equal((await counts()).ready, 0);

  // A malformed message: the worker sets it aside with its reason; workers lists the worker.
  const worker = await startWorker(
    [...flags, "--name", "inspect_test", "--heartbeat-ttl", String(TTL_SECONDS)],
    s.env,
  );
  try {
    await s.pushRaw(MALFORMED);
    const letters = await waitFor(
      async () => {
        const list = await cliJson<Letter[]>(["dead", "ls", s.queue, ...flags], s.env);
        return list.length === 1 ? list : undefined;
      },
      "the malformed message in dead ls",
      30_000,
    );
    assert.equal(letters[0].body, MALFORMED);
    assert.equal(letters[0].queue, s.queue);
    assert.match(letters[0].reason, /\S/);

    const mine = (list: Listed[]) => list.find((w) => w.pid === worker.process.pid);
    const listed = mine(await cliJson<Listed[]>(["workers", ...flags], s.env));
    assert.ok(listed, `the worker is listed: ${worker.stderr()}`);
    assert.equal(listed.name, "inspect_test");
    assert.equal(listed.queue, s.queue);
    assert.ok(listed.concurrency > 0);
    assert.ok(Date.now() - Date.parse(listed.lastHeartbeat) < TTL_SECONDS * 1000 + 1000);

    // SIGKILL: no goodbye; the entry expires within one TTL (plus a CLI start to see it).
    worker.process.kill("SIGKILL");
    await worker.exited;
    const killedAt = Date.now();
    await waitFor(
      async () => !mine(await cliJson<Listed[]>(["workers", ...flags], s.env)),
      "the killed worker drops out of workers",
      TTL_SECONDS * 1000 + 15_000,
    );
    assert.ok(Date.now() - killedAt < TTL_SECONDS * 1000 + 15_000);
  } finally {
    worker.process.kill("SIGKILL");
    await worker.exited;
  }

  // retry --all puts the original body back on its queue.
  assert.deepEqual(await cliJson(["dead", "retry", "--all", ...flags], s.env), {
    queue: s.queue,
    retried: 1,
  });
  const back = await counts();
  assert.deepEqual([back.ready, back.dead], [1, 0]);

  // A second worker sets it aside again (and stops gracefully); rm --all empties the list.
  const again = await startWorker([...flags, "--heartbeat-ttl", String(TTL_SECONDS)], s.env);
  try {
    await waitFor(async () => (await counts()).dead === 1, "the message dead again", 30_000);
  } finally {
    await stopWorker(again);
  }
  assert.deepEqual(await cliJson(["dead", "rm", "--all", ...flags], s.env), {
    queue: s.queue,
    deleted: 1,
  });
  assert.deepEqual(await cliJson(["dead", "ls", s.queue, ...flags], s.env), []);
}

const redisSkip = await redisSkipReason();
const amqpSkip = redisSkip || await amqpSkipReason();

describeUnless(redisSkip, "operator commands on Redis", () => {
  const queue = uniqueName("inspect_redis");
  after(() =>
    deleteRedisKeys([queue, `machinery:ts:dead:${queue}`, `machinery:ts:dead_bytes:${queue}`])
  );

  it("counts, purges, dead-letters and lists workers", { timeout: TIMEOUT }, async () => {
    const config = { defaultQueue: queue };
    const broker = new RedisBroker(REDIS_URL, { config });
    try {
      await operate({
        broker: REDIS_URL,
        queue,
        env: {},
        send: async (signatures) => {
          for (const s of signatures) await broker.publish(s);
        },
        pushRaw: async (body) => {
          const { rawClient } = await import("./redis_support.ts");
          const client = rawClient();
          await client.connect();
          await client.rpush(queue, body);
          await client.quit();
        },
      }, 0);
    } finally {
      await broker.close();
    }
  });
});

describeUnless(amqpSkip, "operator commands on RabbitMQ with a Redis backend", () => {
  const queue = uniqueName("inspect_amqp");
  const exchange = uniqueName("inspect_exchange");
  after(() => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]));

  it("counts, purges, dead-letters and lists workers", { timeout: TIMEOUT }, async () => {
    const config = { defaultQueue: queue, amqp: { exchange, bindingKey: queue } };
    const broker = new AMQPBroker(AMQP_URL, { config });
    try {
      await operate({
        broker: AMQP_URL,
        queue,
        env: { AMQP_EXCHANGE: exchange, AMQP_BINDING_KEY: queue },
        send: async (signatures) => {
          await Promise.all(signatures.map((s) => broker.publish(s)));
        },
        pushRaw: (body) =>
          withChannel(async (ch) => {
            await ch.assertQueue(queue, { durable: true });
            ch.sendToQueue(queue, Buffer.from(body), { persistent: true });
          }),
      }, null);
    } finally {
      await broker.close();
    }
  });
});
