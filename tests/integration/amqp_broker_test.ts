/**
 * The AMQP broker's own behaviours on RabbitMQ: confirms under concurrent publishing, capacity
 * as prefetch, requeue with a delay (no hot loop), dead-lettering with a reason, the chord
 * trigger firing exactly once, and redelivery of unsettled messages when a consumer goes away.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { Delivery } from "../../mod.ts";
import { newGroupUUID, newTaskUUID } from "../../mod.ts";
import { decodeSignature } from "../../src/wire/mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName, withChannel } from "./amqp_support.ts";

const skip = await amqpSkipReason();
const TIMEOUT = 30_000;

function task(name = "noop") {
  return decodeSignature(JSON.stringify({ UUID: newTaskUUID(), Name: name }));
}

describeUnless(skip, "amqp broker behaviours", () => {
  const exchange = uniqueName("broker_exchange");
  const queues: string[] = [];
  let broker: AMQPBroker;

  function newQueue(): string {
    const q = uniqueName("broker_queue");
    queues.push(q, `${q}.dead_letters`);
    return q;
  }

  function brokerFor(queue: string, prefetchCount = 50): AMQPBroker {
    return new AMQPBroker(AMQP_URL, {
      config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue, prefetchCount } },
      logger: silentLogger,
    });
  }

  before(() => {
    broker = brokerFor(newQueue());
  });

  after(async () => {
    await broker?.close();
    await deleteAMQP(queues, [exchange]);
  });

  it("confirms every one of many concurrent publishes", { timeout: TIMEOUT }, async () => {
    const queue = newQueue();
    const b = brokerFor(queue);
    try {
      await Promise.all(Array.from({ length: 500 }, () => b.publish(task())));
      const count = await withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
      assert.equal(count, 500);
    } finally {
      await b.close();
    }
  });

  it("hands out at most `capacity` unsettled deliveries", { timeout: TIMEOUT }, async () => {
    const queue = newQueue();
    const b = brokerFor(queue, 50);
    const stop = new AbortController();
    try {
      for (let i = 0; i < 10; i++) await b.publish(task());
      const got: Delivery[] = [];
      const running = b.consume(
        { queue, capacity: 3, consumerTag: "cap", signal: stop.signal },
        (d) => got.push(d),
      );
      await waitFor(() => got.length === 3, "three deliveries");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(got.length, 3, "no more than the capacity before a settle");
      await got[0].ack();
      await waitFor(() => got.length === 4, "a fourth after one ack");
      stop.abort();
      await running;
      for (const d of got.slice(1)) await d.ack(); // still valid after the stop
      const left = await withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
      assert.equal(left, 6);
    } finally {
      stop.abort();
      await b.close();
    }
  });

  it("redelivers what a closed consumer left unsettled", { timeout: TIMEOUT }, async () => {
    const queue = newQueue();
    const first = brokerFor(queue);
    await first.publish(task());
    const got: Delivery[] = [];
    const stop = new AbortController();
    // Closing the broker ends the consume with an error: handle it from the start, or the
    // rejection counts as unhandled before `close()` returns.
    const running = first.consume(
      { queue, capacity: 1, consumerTag: "gone", signal: stop.signal },
      (d) => got.push(d),
    ).catch(() => {});
    await waitFor(() => got.length === 1, "one delivery");
    assert.equal(got[0].redelivered, false);
    await first.close(); // abrupt: the delivery is never settled
    await running;
    stop.abort();
    const second = brokerFor(queue);
    const again: Delivery[] = [];
    const stop2 = new AbortController();
    try {
      const running2 = second.consume(
        { queue, capacity: 1, consumerTag: "next", signal: stop2.signal },
        (d) => again.push(d),
      );
      await waitFor(() => again.length === 1, "the redelivery");
      assert.equal(again[0].redelivered, true);
      assert.equal(again[0].body, got[0].body);
      await again[0].ack();
      stop2.abort();
      await running2;
    } finally {
      await second.close();
    }
  });

  it("requeues with a delay instead of at once", { timeout: TIMEOUT }, async () => {
    const queue = newQueue();
    const b = brokerFor(queue);
    const stop = new AbortController();
    try {
      await b.publish(task("unknown"));
      const seen: number[] = [];
      const running = b.consume(
        { queue, capacity: 5, consumerTag: "requeue", signal: stop.signal },
        (d) => {
          seen.push(Date.now());
          if (seen.length === 1) d.requeue(500);
          else d.ack();
        },
      );
      await waitFor(() => seen.length === 2, "the requeued message comes back");
      assert.ok(seen[1] - seen[0] >= 450, `came back after ${seen[1] - seen[0]} ms`);
      stop.abort();
      await running;
    } finally {
      stop.abort();
      await b.close();
      queues.push(`requeue.500.${queue}`);
    }
  });

  it("keeps a rejected message in <queue>.dead_letters with its reason", {
    timeout: TIMEOUT,
  }, async () => {
    const queue = newQueue();
    const b = brokerFor(queue);
    const stop = new AbortController();
    try {
      await withChannel(async (ch) => {
        await ch.assertExchange(exchange, "direct", { durable: true });
        await ch.assertQueue(queue, { durable: true });
        await ch.bindQueue(queue, exchange, queue);
        ch.publish(exchange, queue, Buffer.from("not json"), { deliveryMode: 2 });
      });
      const running = b.consume(
        { queue, capacity: 1, consumerTag: "dl", signal: stop.signal },
        (d) => d.reject("Could not unmarshal 'not json' into a task signature"),
      );
      const dead = await waitFor(
        async () =>
          (await withChannel((ch) => ch.get(`${queue}.dead_letters`, { noAck: true })).catch(
            () => undefined,
          )) || undefined,
        "the dead letter",
      );
      assert.equal(dead.content.toString(), "not json");
      assert.match(String(dead.properties.headers?.["x-machinery-reason"]), /Could not unmarshal/);
      stop.abort();
      await running;
      const left = await withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
      assert.equal(left, 0);
    } finally {
      stop.abort();
      await b.close();
    }
  });

  it("triggers a chord exactly once among concurrent callers", { timeout: TIMEOUT }, async () => {
    const backends = Array.from(
      { length: 4 },
      () => new AMQPBackend(AMQP_URL, { config: { resultsExpireIn: 60, amqp: { exchange } } }),
    );
    const group = newGroupUUID();
    try {
      const wins = await Promise.all(
        backends.flatMap((b) => [b.triggerChord(group), b.triggerChord(group)]),
      );
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await backends[0].triggerChord(group), false);
      await backends[0].purgeGroupMeta(group);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  it("counts a group complete and lists its states once per task", {
    timeout: TIMEOUT,
  }, async () => {
    const backend = new AMQPBackend(AMQP_URL, {
      config: { resultsExpireIn: 60, amqp: { exchange } },
    });
    const group = newGroupUUID();
    try {
      const members = [task("add"), task("add")];
      for (const m of members) {
        m.groupUUID = group;
        m.groupTaskCount = 2;
      }
      assert.equal(await backend.groupCompleted(group, 2), false);
      await backend.setStateSuccess(members[0], [{ type: "int64", value: 1 }]);
      assert.equal(await backend.groupCompleted(group, 2), false);
      await backend.setStateSuccess(members[1], [{ type: "int64", value: 2 }]);
      // A redelivered member publishing its final state again is not counted twice.
      await backend.setStateSuccess(members[1], [{ type: "int64", value: 2 }]);
      assert.equal(await backend.groupCompleted(group, 2), true);
      const states = await backend.groupTaskStates(group, 2);
      assert.deepEqual(states.map((s) => s.taskUUID), members.map((m) => m.uuid));
      await waitFor(() => backend.groupCompleted(group, 2), "reading keeps the states");
      for (const m of members) await backend.purgeState(m.uuid);
      await backend.purgeGroupMeta(group);
    } finally {
      await backend.close();
    }
  });
});
