/**
 * Interop with Go machinery on RabbitMQ (docs/wire.md#amqp): a Go sender's exact bytes run on our worker; what our broker and
 * backend publish is byte for byte what Go publishes (bodies, properties, queue arguments); and
 * the topology names and arguments are machinery's.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Channel } from "amqplib";
import { connect } from "amqplib";
import { newTaskUUID, Server, type Worker } from "../../mod.ts";
import { decodeSignature } from "../../src/wire/mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp/mod.ts";
import { silentLogger } from "../../src/log.ts";
import {
  adjustedRoutingKey,
  delayQueuePlan,
  stateQueuePlan,
  type TopologySettings,
} from "../../src/amqp/_topology.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName, withChannel } from "./amqp_support.ts";

const vectors = JSON.parse(
  readFileSync(new URL("../fixtures/go_vectors.json", import.meta.url), "utf8"),
) as { messages: Record<string, string>; task_states: Record<string, string> };

const skip = await amqpSkipReason();
const TIMEOUT = 30_000;

/** A vector with its fixed UUID replaced by a fresh one, so parallel runs do not collide. */
function withUUID(vector: string): { uuid: string; body: string } {
  const uuid = newTaskUUID();
  const old = /"(?:UUID|TaskUUID)":"([^"]+)"/.exec(vector)![1];
  return { uuid, body: vector.replaceAll(old, uuid) };
}

const defaults: TopologySettings = {
  exchange: "machinery_exchange",
  exchangeType: "direct",
  bindingKey: "machinery_task",
  defaultQueue: "machinery_tasks",
  queueDeclareArgs: null,
  queueBindingArgs: null,
  autoDelete: false,
  delayedQueue: "",
};

describe("amqp topology names and arguments", () => {
  it("routes an empty routing key to the BindingKey on a direct exchange", () => {
    assert.equal(adjustedRoutingKey("", defaults), "machinery_task");
    assert.equal(
      adjustedRoutingKey("", { ...defaults, exchangeType: "fanout" }),
      "machinery_tasks",
    );
    assert.equal(adjustedRoutingKey("other", defaults), "other");
  });

  it("names and declares the delay queue as machinery does", () => {
    const plan = delayQueuePlan(5000, "machinery_task", defaults);
    assert.equal(plan.queue, "delay.5000.machinery_exchange.machinery_task");
    assert.equal(plan.bindingKey, plan.queue);
    assert.equal(plan.durable, true);
    assert.deepEqual(plan.args, {
      "x-dead-letter-exchange": "machinery_exchange",
      "x-dead-letter-routing-key": "machinery_task",
      "x-message-ttl": { "!": "long", value: 5000 },
      "x-expires": { "!": "long", value: 10000 },
    });
  });

  it("declares state queues with int32 TTL and expiry", () => {
    const plan = stateQueuePlan("task_x", "machinery_exchange", 3_600_000);
    assert.equal(plan.durable, false);
    assert.equal(plan.autoDelete, true);
    assert.equal(plan.bindingKey, "task_x");
    assert.deepEqual(plan.args, {
      "x-message-ttl": { "!": "int", value: 3_600_000 },
      "x-expires": { "!": "int", value: 3_600_000 },
    });
  });
});

describeUnless(skip, "amqp interop with Go's bytes", () => {
  const exchange = uniqueName("interop_exchange");
  const queue = uniqueName("interop_tasks");
  const sendQueue = uniqueName("interop_sent");
  let server: Server;
  let worker: Worker;
  let launched: Promise<void>;
  let sender: AMQPBroker;
  let conn: Awaited<ReturnType<typeof connect>>;
  let ch: Channel;

  before(async () => {
    server = new Server({
      config: { defaultQueue: queue, noUnixSignals: true, amqp: { exchange } },
      broker: new AMQPBroker(AMQP_URL, {
        config: { defaultQueue: queue, amqp: { exchange, prefetchCount: 5 } },
        logger: silentLogger,
      }),
      backend: new AMQPBackend(AMQP_URL, { config: { resultsExpireIn: 60, amqp: { exchange } } }),
      logger: silentLogger,
    });
    server.registerTasks({
      add: (...args: number[]) => args.reduce((a, b) => a + b, 0),
      sum_floats: (xs: number[]) => xs.reduce((a, b) => a + b, 0),
      bytes: () => {},
    });
    worker = server.newWorker("interop", 5);
    launched = worker.launch();
    sender = new AMQPBroker(AMQP_URL, {
      config: { defaultQueue: sendQueue, amqp: { exchange } },
      logger: silentLogger,
    });
    conn = await connect(AMQP_URL);
    conn.on("error", () => {});
    ch = await conn.createChannel();
    ch.on("error", () => {});
    // The worker declares and binds its queue before any raw publish below.
    await waitFor(
      () =>
        withChannel(async (probe) => (await probe.checkQueue(queue)).consumerCount === 1).catch(
          () => false,
        ),
      "the worker consumes",
    );
  });

  after(async () => {
    await worker?.quit();
    await launched;
    await conn?.close().catch(() => {});
    await sender?.close();
    await server?.close();
    await deleteAMQP([queue, sendQueue, `${queue}.dead_letters`], [exchange]);
  });

  async function resultOf(uuid: string): Promise<unknown[]> {
    const state = await waitFor(async () => {
      const s = await server.backend.getState(uuid).catch(() => undefined);
      return s && (s.state === "SUCCESS" || s.state === "FAILURE") ? s : undefined;
    }, `task ${uuid} completes`);
    assert.equal(state.state, "SUCCESS", state.error);
    return state.results ?? [];
  }

  for (
    const [name, expected] of [
      ["add amqp", [{ Type: "int64", Value: 2 }]],
      ["sum_floats", [{ Type: "float64", Value: 4.2 }]],
      ["mixed types", []],
    ] as const
  ) {
    it(`runs a Go sender's "${name}" message`, { timeout: TIMEOUT }, async () => {
      const { uuid, body } = withUUID(vectors.messages[name]);
      const sig = decodeSignature(body);
      // Exactly what Go's Publish sends: the routing key, content type, persistence, priority
      // and headers (both omitted when empty, as Go's client omits them).
      const ok = ch.publish(exchange, "machinery_task", Buffer.from(body), {
        contentType: "application/json",
        deliveryMode: 2,
        ...(sig.priority ? { priority: sig.priority } : {}),
        ...(sig.headers && Object.keys(sig.headers).length ? { headers: sig.headers } : {}),
      });
      assert.ok(ok);
      const results = await resultOf(uuid);
      assert.equal(
        JSON.stringify(
          results.map((r) => r as { type: string; value: unknown }).map((r) => ({
            Type: r.type,
            Value: typeof r.value === "object" && r.value !== null
              ? Number(String(r.value))
              : r.value,
          })),
        ),
        JSON.stringify(expected),
      );
    });
  }

  it("publishes Go's exact bytes and properties", { timeout: TIMEOUT }, async () => {
    for (const name of ["add amqp", "mixed types"]) {
      const { body } = withUUID(vectors.messages[name]);
      // The routing key names our unique queue instead of machinery's, nothing else changes.
      const expected = body.replace(
        /"RoutingKey":"machinery_tasks?"/,
        name === "add amqp" ? `"RoutingKey":"machinery_task"` : `"RoutingKey":"${sendQueue}"`,
      );
      const sig = decodeSignature(expected);
      if (name === "add amqp") sig.routingKey = ""; // adjusted to the BindingKey, as in Go
      await sender.publish(sig);
      const message = await waitFor(
        async () => (await ch.get(sendQueue, { noAck: true })) || undefined,
        "the published message",
      );
      assert.equal(message.content.toString("utf8"), expected);
      assert.equal(message.properties.contentType, "application/json");
      assert.equal(message.properties.deliveryMode, 2);
      assert.equal(message.fields.exchange, exchange);
      if (name === "mixed types") {
        assert.equal(message.properties.priority, 5);
        assert.deepEqual(message.properties.headers, { "uber-trace-id": "abc:def:0:1" });
      } else {
        assert.equal(message.fields.routingKey, "machinery_task");
        assert.equal(message.properties.priority, undefined);
        // No headers: Go's client leaves the property out, and so do we.
        assert.equal(message.properties.headers, undefined);
      }
    }
  });

  it("writes Go's state bytes into Go's state queue", { timeout: TIMEOUT }, async () => {
    const { uuid, body: expected } = withUUID(vectors.task_states["state received unmerged"]);
    const backend = server.backend;
    const sig = decodeSignature(JSON.stringify({ UUID: uuid, Name: "add" }));
    await backend.setStateReceived(sig);
    await withChannel(async (raw) => {
      // Declaring with Go's exact arguments succeeds only if ours match (else 406).
      await raw.assertQueue(uuid, {
        durable: false,
        autoDelete: true,
        arguments: { "x-message-ttl": 60000, "x-expires": 60000 },
      });
      const message = await raw.get(uuid, { noAck: true });
      assert.ok(message);
      assert.equal(message.content.toString("utf8"), expected);
      assert.equal(message.properties.contentType, "application/json");
      assert.equal(message.properties.deliveryMode, 2);
      assert.equal(message.properties.headers, undefined);
      await raw.deleteQueue(uuid);
    });
  });

  it("reads states a Go worker wrote, keeping the latest", { timeout: TIMEOUT }, async () => {
    const { uuid, body: pending } = withUUID(vectors.task_states["state pending"]);
    const success = vectors.task_states["state success"].replaceAll(
      /task_[0-9a-f-]{36}/.exec(vectors.task_states["state success"])![0],
      uuid,
    );
    await withChannel(async (raw) => {
      await raw.assertQueue(uuid, {
        durable: false,
        autoDelete: true,
        arguments: { "x-message-ttl": 60000, "x-expires": 60000 },
      });
      await raw.bindQueue(uuid, exchange, uuid);
      raw.publish(exchange, uuid, Buffer.from(pending), { contentType: "application/json" });
      raw.publish(exchange, uuid, Buffer.from(success), { contentType: "application/json" });
      await waitFor(async () => (await raw.checkQueue(uuid)).messageCount === 2, "two states");
    });
    for (let i = 0; i < 2; i++) {
      const state = await server.backend.getState(uuid);
      assert.equal(state.state, "SUCCESS");
      assert.equal(state.taskName, "add");
    }
    await server.backend.purgeState(uuid);
  });

  it("holds a task in the DelayedQueue with a per-message TTL", { timeout: TIMEOUT }, async () => {
    const delayed = uniqueName("interop_delayed");
    const target = uniqueName("interop_target");
    const broker = new AMQPBroker(AMQP_URL, {
      config: {
        defaultQueue: target,
        amqp: { exchange, bindingKey: target, delayedQueue: delayed },
      },
      logger: silentLogger,
    });
    try {
      const sig = decodeSignature(JSON.stringify({ UUID: newTaskUUID(), Name: "add" }));
      const eta = Date.now() + 400;
      sig.eta = new Date(eta).toISOString();
      await broker.publish(sig);
      const held = await ch.get(delayed, { noAck: false });
      assert.ok(held, "the message waits in the delayed queue");
      const ttl = Number(held.properties.expiration);
      assert.ok(ttl > 0 && ttl <= 401, `expiration ${held.properties.expiration}`);
      assert.equal(held.properties.priority, undefined);
      ch.nack(held, false, true);
      const arrived = await waitFor(
        async () => (await ch.get(target, { noAck: true })) || undefined,
        "the delayed message reaches its queue",
      );
      assert.ok(Date.now() >= eta, "the task arrived before its ETA");
      assert.equal(JSON.parse(arrived.content.toString("utf8")).UUID, sig.uuid);
    } finally {
      await broker.close();
      await deleteAMQP([delayed, target]);
    }
  });
});
