/**
 * Quorum queues (`amqp.queueDeclareArgs: {"x-queue-type": "quorum"}`) on the shared RabbitMQ,
 * with queues and an exchange of the test's own: our own queues (delay, requeue, dead letters)
 * follow the work queue's type, and a quorum queue's `x-delivery-limit` sends a poison message
 * to `<queue>.dead_letters` instead of dropping it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { type ConfigInput, newSignature, silentLogger } from "../../mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import type { Delivery } from "../../src/broker.ts";
import { waitFor } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName, withChannel } from "./amqp_support.ts";

const skip = await amqpSkipReason();

/** The type of each queue whose name starts with `prefix`, as `rabbitmqctl` lists them. */
function queueTypes(prefix: string): Map<string, string> {
  const out = spawnSync(
    "rabbitmqctl",
    ["list_queues", "-q", "--no-table-headers", "name", "type"],
    {
      encoding: "utf8",
      timeout: 30_000,
    },
  );
  const types = new Map<string, string>();
  for (const line of out.stdout.split("\n")) {
    const [name, type] = line.trim().split(/\s+/);
    if (name?.includes(prefix)) types.set(name, type);
  }
  return types;
}

const rabbitmqctl = spawnSync("rabbitmqctl", ["version"], { timeout: 30_000 }).status === 0;

/**
 * Consumes `queue` with `broker` until `handler` says stop (no handler: once it consumes), then
 * aborts the consume.
 */
async function consumeUntil(
  broker: AMQPBroker,
  queue: string,
  handler?: (delivery: Delivery) => boolean | Promise<boolean>,
): Promise<void> {
  const abort = new AbortController();
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consuming = broker.consume(
    {
      queue,
      capacity: 1,
      consumerTag: uniqueName("quorum_test"),
      signal: abort.signal,
      onConsuming: (on) => on && !handler && done(),
    },
    (delivery) => {
      Promise.resolve(handler?.(delivery)).then((stop) => stop && done());
    },
  );
  await Promise.race([finished, consuming]);
  abort.abort();
  await consuming;
}

describe("amqp quorum queues", { skip }, () => {
  it("declares the work, delay, requeue and dead-letter queues as quorum queues", {
    timeout: 60_000,
    skip: rabbitmqctl ? false : "rabbitmqctl is not available to list queue types",
  }, async () => {
    const queue = uniqueName("quorum_types");
    const exchange = `${queue}_exchange`;
    const config: ConfigInput = {
      defaultQueue: queue,
      amqp: { exchange, bindingKey: queue, queueDeclareArgs: { "x-queue-type": "quorum" } },
    };
    const broker = new AMQPBroker(AMQP_URL, { config, logger: silentLogger });
    const requeue = `requeue.100.${queue}`;
    const dead = `${queue}.dead_letters`;
    let delay = "";
    try {
      const later = newSignature("later", []);
      later.eta = new Date(Date.now() + 60_000).toISOString();
      await broker.publish(later);
      await broker.publish(newSignature("requeued", []));
      await broker.publish(newSignature("rejected", []));
      await consumeUntil(broker, queue, async (delivery) => {
        const name = JSON.parse(delivery.body).Name;
        if (name === "requeued") await delivery.requeue(100);
        else await delivery.reject("a test of dead letters");
        return name === "rejected";
      });
      const types = queueTypes(queue);
      delay = [...types.keys()].find((n) => n.startsWith("delay.")) ?? "";
      assert.notEqual(delay, "", `a delay queue among ${JSON.stringify([...types])}`);
      for (const name of [queue, delay, requeue, dead]) {
        assert.equal(types.get(name), "quorum", `${name}: ${JSON.stringify([...types])}`);
      }
    } finally {
      await broker.close();
      await deleteAMQP([queue, requeue, dead, delay].filter(Boolean), [exchange]).catch(() => {});
    }
  });

  it("sends a message past x-delivery-limit to <queue>.dead_letters", {
    timeout: 60_000,
  }, async () => {
    const queue = uniqueName("quorum_limit");
    const exchange = `${queue}_exchange`;
    const dead = `${queue}.dead_letters`;
    const config: ConfigInput = {
      defaultQueue: queue,
      amqp: {
        exchange,
        bindingKey: queue,
        queueDeclareArgs: { "x-queue-type": "quorum", "x-delivery-limit": 2 },
      },
    };
    const broker = new AMQPBroker(AMQP_URL, { config, logger: silentLogger });
    try {
      // The worker declares the topology; then a consumer that gives the message back, again
      // and again, as a worker a poison task kills would.
      await consumeUntil(broker, queue);
      const poison = newSignature("poison", []);
      await broker.publish(poison);
      const deliveries = await withChannel(async (ch) => {
        let n = 0;
        for (let i = 0; i < 10; i++) {
          const message = await ch.get(queue, { noAck: false });
          if (message === false) break;
          n++;
          ch.nack(message, false, true);
        }
        return n;
      });
      assert.equal(deliveries, 3, "delivered once and redelivered up to the limit");
      const message = await waitFor(
        () =>
          withChannel(async (ch) => {
            await ch.assertQueue(dead, {
              durable: true,
              arguments: { "x-queue-type": "quorum" },
            });
            const got = await ch.get(dead, { noAck: true });
            return got === false ? undefined : got;
          }),
        "the poison message in the dead letters",
        10_000,
      );
      assert.equal(JSON.parse(message.content.toString()).UUID, poison.uuid);
      assert.equal(message.properties.headers?.["x-first-death-reason"], "delivery_limit");
    } finally {
      await broker.close();
      await deleteAMQP([queue, dead], [exchange]).catch(() => {});
    }
  });
});
