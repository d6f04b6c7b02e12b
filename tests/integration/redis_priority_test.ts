/**
 * Priorities on the Redis broker (`redis.priorityQueues`, `docs/architecture.md`): higher levels
 * are taken first and FIFO within a level, a waiting level is taken within the pass limit, a
 * default-priority task stays on Go's list byte for byte, delayed priority tasks land on their
 * level's list, an idle consumer wakes for a priority task, held priority tasks come back, and
 * with the switch off nothing changes.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, type Signature } from "../../mod.ts";
import { RedisBroker, RedisInspector } from "../../src/redis/mod.ts";
import { brokerKeys } from "../../src/redis/_keys.ts";
import { encodeSignature } from "../../src/wire/signature.ts";
import {
  PRIORITY_PASS_LIMIT,
  priorityListKey,
  priorityListKeys,
} from "../../src/redis/_priority.ts";
import type { Delivery } from "../../src/broker.ts";
import { waitFor } from "../helpers.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./redis_support.ts";

const skip = await redisSkipReason();

describe("redis broker priorities", { skip }, () => {
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const queues: string[] = [];

  after(async () => {
    await deleteRedisKeys(queues, [keyPrefix]);
  });

  function setup(priorityQueues: boolean, pollMs = 1000) {
    const queue = uniqueName("prio_queue");
    queues.push(queue);
    const config = {
      defaultQueue: queue,
      redis: {
        clientName: queue,
        delayedTasksKey: `${keyPrefix}delayed_tasks`,
        priorityQueues,
        normalTasksPollPeriod: pollMs,
        delayedTasksPollPeriod: 100,
      },
    };
    return { queue, config, broker: new RedisBroker(REDIS_URL, { config, keyPrefix }) };
  }

  function task(label: string, priority: number, fields: Partial<Signature> = {}): Signature {
    return newSignature(label, null, { priority, ...fields });
  }

  /**
   * Consumes a queue of its own so that the broker's delayed mover runs; the returned function
   * stops it.
   */
  function runMover(broker: RedisBroker): () => Promise<void> {
    const other = uniqueName("prio_other");
    queues.push(other);
    const stop = new AbortController();
    const consuming = broker.consume(
      { queue: other, capacity: 1, consumerTag: "other", signal: stop.signal },
      () => {},
    );
    return () => {
      stop.abort();
      return consuming;
    };
  }

  /**
   * Consumes one at a time (capacity 1, so each fetch is one pick), acking each, until `count`
   * deliveries arrived; returns their task names in delivery order.
   */
  async function takeInOrder(
    broker: RedisBroker,
    queue: string,
    count: number,
    onEach?: (name: string) => Promise<unknown> | void,
  ): Promise<string[]> {
    const names: string[] = [];
    const stop = new AbortController();
    const consuming = broker.consume(
      { queue, capacity: 1, consumerTag: "prio", signal: stop.signal },
      (delivery: Delivery) => {
        const name = JSON.parse(delivery.body).Name as string;
        names.push(name);
        Promise.resolve(onEach?.(name)).then(() => delivery.ack()).catch(() => {});
        if (names.length >= count) stop.abort();
      },
    );
    try {
      await waitFor(() => names.length >= count, `${count} deliveries`, 20_000);
    } finally {
      stop.abort();
      await consuming;
    }
    return names;
  }

  it("takes higher priorities first, FIFO within a level", { timeout: 30_000 }, async () => {
    const { queue, broker } = setup(true);
    try {
      const levels = [0, 1, 5];
      for (let i = 0; i < 10; i++) {
        for (const level of levels) await broker.publish(task(`p${level}_${i}`, level));
      }
      const order = await takeInOrder(broker, queue, 30);
      const expected = [5, 1, 0].flatMap((level) =>
        Array.from({ length: 10 }, (_, i) => `p${level}_${i}`)
      );
      assert.deepEqual(order, expected);
    } finally {
      await broker.close();
    }
  });

  it("takes a waiting priority-0 task within the pass limit under a stream of priority 5", {
    timeout: 30_000,
  }, async () => {
    const { queue, broker } = setup(true);
    try {
      await broker.publish(task("low", 0));
      for (let i = 0; i < PRIORITY_PASS_LIMIT + 10; i++) await broker.publish(task(`high_${i}`, 5));
      let more = 0;
      // A steady stream: every delivery brings one more priority-5 task.
      const order = await takeInOrder(
        broker,
        queue,
        PRIORITY_PASS_LIMIT + 5,
        () => broker.publish(task(`more_${more++}`, 5)),
      );
      const position = order.indexOf("low") + 1;
      assert.ok(position > 1, `priority 5 goes first: ${order.slice(0, 3)}`);
      // Two levels with tasks: passed over at most PRIORITY_PASS_LIMIT picks, taken at the next.
      assert.ok(position >= 1 && position <= PRIORITY_PASS_LIMIT + 1, `taken at pick ${position}`);
    } finally {
      await broker.close();
    }
  });

  it("keeps a default-priority task on Go's list byte for byte, a priority task on its level", {
    timeout: 10_000,
  }, async () => {
    const { queue, broker } = setup(true);
    const redis = rawClient();
    try {
      const plain = task("plain", 0);
      const urgent = task("urgent", 3);
      await broker.publish(plain);
      await broker.publish(urgent);
      assert.deepEqual(await redis.lrange(queue, 0, -1), [encodeSignature(plain)]);
      assert.deepEqual(await redis.lrange(priorityListKey(keyPrefix, queue, 3), 0, -1), [
        encodeSignature(urgent),
      ]);
      // Above the top level counts as the top level.
      const top = task("top", 200);
      await broker.publish(top);
      assert.deepEqual(await redis.lrange(priorityListKey(keyPrefix, queue, 9), 0, -1), [
        encodeSignature(top),
      ]);
      assert.deepEqual(await broker.queueDepth(queue), { ready: 3, dead: 0 });
      const inspector = new RedisInspector(REDIS_URL, { keyPrefix, config: broker.config });
      try {
        const [counts] = await inspector.queues([queue]);
        assert.equal(counts.ready, 3);
      } finally {
        await inspector.close();
      }
    } finally {
      await broker.close();
      redis.disconnect();
    }
  });

  it("the inspector pages, locates and purges priority tasks with the queue's own", {
    timeout: 15_000,
  }, async () => {
    const { queue, broker } = setup(true);
    const inspector = new RedisInspector(REDIS_URL, { keyPrefix, config: broker.config });
    try {
      // In the order a worker takes them: the highest level first, Go's list last.
      const tasks = [task("top", 9), task("five_a", 5), task("five_b", 5), task("plain", 0)];
      for (const sig of [tasks[3], tasks[1], tasks[0], tasks[2]]) await broker.publish(sig);
      const names = (page: { signature: Signature | null }[]) => page.map((t) => t.signature?.name);
      assert.deepEqual(names(await inspector.pending(queue)), ["top", "five_a", "five_b", "plain"]);
      assert.deepEqual(names(await inspector.pending(queue, { offset: 1, limit: 2 })), [
        "five_a",
        "five_b",
      ]);
      assert.deepEqual(names(await inspector.pending(queue, { offset: 3, limit: 5 })), ["plain"]);
      assert.deepEqual(await inspector.locate(tasks[2].uuid, [queue]), { where: "queue", queue });
      assert.equal(await inspector.purge(queue), 4);
      assert.equal((await inspector.queues([queue]))[0].ready, 0);
    } finally {
      await inspector.close();
      await broker.close();
    }
  });

  it("moves a delayed priority task to its level's list when due, and wakes the consumer", {
    timeout: 15_000,
  }, async () => {
    // A 30 s BLMOVE: only the wake-up notice can deliver within the deadline below.
    const { queue, broker } = setup(true, 30_000);
    const redis = rawClient();
    try {
      const delayed = task("delayed", 4, { eta: new Date(Date.now() + 300).toISOString() });
      await broker.publish(delayed);
      const got: string[] = [];
      const stop = new AbortController();
      // Consumes another queue first: the delayed mover runs, this queue's list is only watched.
      const stopMover = runMover(broker);
      const key = priorityListKey(keyPrefix, queue, 4);
      const landed = await waitFor(
        async () => {
          const items = await redis.lrange(key, 0, -1);
          return items.length > 0 ? items : null;
        },
        "the delayed task on its level's list",
        5_000,
      );
      assert.deepEqual(landed, [encodeSignature(delayed)]);
      assert.equal(await redis.llen(queue), 0);
      // An idle consumer blocked on Go's list wakes for a new priority task.
      const consuming = broker.consume(
        { queue, capacity: 1, consumerTag: "idle", signal: stop.signal },
        (delivery) => {
          got.push(JSON.parse(delivery.body).Name);
          delivery.ack();
        },
      );
      await waitFor(() => got.length === 1, "the delayed task taken", 3_000);
      const started = Date.now();
      await waitFor(async () => {
        const clients = String(await redis.client("LIST"));
        // Both blocking connections (this queue's and the other's) wait in BLMOVE.
        return clients.split("\n").filter((line) =>
          line.includes(`name=${queue}:blocking`) && line.includes("cmd=blmove")
        ).length === 2;
      }, "the consumers blocked in BLMOVE on Go's list");
      await broker.publish(task("woken", 2));
      await waitFor(() => got.length === 2, "the woken consumer takes the new task", 3_000);
      assert.ok(Date.now() - started < 5_000);
      assert.deepEqual(got, ["delayed", "woken"]);
      stop.abort();
      await Promise.all([consuming, stopMover()]);
    } finally {
      await broker.close();
      redis.disconnect();
    }
  });

  it("gives back held priority tasks when a consumer closes without acking, or dies", {
    timeout: 20_000,
  }, async () => {
    const { queue, broker, config } = setup(true);
    const redis = rawClient();
    const keys = brokerKeys(keyPrefix);
    try {
      for (let i = 0; i < 5; i++) await broker.publish(task(`held_${i}`, 1 + i));
      const held: string[] = [];
      const stop = new AbortController();
      const consuming = broker.consume(
        { queue, capacity: 5, consumerTag: "holder", signal: stop.signal },
        (delivery) => held.push(JSON.parse(delivery.body).Name),
      );
      await waitFor(() => held.length === 5, "5 held deliveries");
      await broker.close();
      await consuming;
      // Back at the head of Go's list, in the order they were taken (highest first).
      const back = (await redis.lrange(queue, 0, -1)).map((b) => JSON.parse(b).Name);
      assert.deepEqual(back, ["held_4", "held_3", "held_2", "held_1", "held_0"]);
      for (const key of priorityListKeys(keyPrefix, queue)) assert.equal(await redis.llen(key), 0);

      // A consumer that died between the pick and the fetch: the recovery pass gives back its
      // landing list.
      const dead = "dead:prio";
      await redis.zadd(keys.consumers, Date.now() - 60_000, dead);
      await redis.hset(keys.consumerQueues, dead, queue);
      await redis.rpush(keys.landing(dead), "picked");
      const recoverer = new RedisBroker(REDIS_URL, { config, keyPrefix, leaseMs: 1000 });
      try {
        assert.equal(await recoverer.recover(), 1);
      } finally {
        await recoverer.close();
      }
      assert.equal(await redis.lindex(queue, 0), "picked");
    } finally {
      await broker.close();
      redis.disconnect();
    }
  });

  it("with the switch off, a task with a priority goes to Go's list as before", {
    timeout: 10_000,
  }, async () => {
    const { queue, broker } = setup(false);
    const redis = rawClient();
    try {
      const urgent = task("urgent", 5);
      await broker.publish(urgent);
      assert.deepEqual(await redis.lrange(queue, 0, -1), [encodeSignature(urgent)]);
      for (const key of priorityListKeys(keyPrefix, queue)) {
        assert.equal(await redis.exists(key), 0);
      }
      const delayed = task("later", 5, { eta: new Date(Date.now() + 100).toISOString() });
      await broker.publish(delayed);
      const stopMover = runMover(broker);
      await waitFor(async () => (await redis.llen(queue)) === 2, "the delayed task on Go's list");
      assert.equal(await redis.lindex(queue, 1), encodeSignature(delayed));
      await stopMover();
    } finally {
      await broker.close();
      redis.disconnect();
    }
  });
});
