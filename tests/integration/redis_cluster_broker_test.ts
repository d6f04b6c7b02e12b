/**
 * The Redis broker's cluster-only paths, on a Redis Cluster of the test's own: recovery finds a
 * dead consumer's tagged keys by its queue (a queue whose name holds a `}`, so its tag is a
 * stand-in); due members of `delayed_tasks` are claimed, pushed and unclaimed, and a claim its
 * mover left behind is pushed again, never dropped; a due member whose queue is not a list
 * becomes a dead letter in that queue's slot; the periodic-task lock claims a tick once.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { newSignature, silentLogger } from "../../mod.ts";
import { encodeSignature } from "../../src/wire/signature.ts";
import { RedisBroker, RedisLock } from "../../src/redis/mod.ts";
import { brokerKeys } from "../../src/redis/_keys.ts";
import { keySlot, slotTag } from "../../src/redis/_slot.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import {
  clusterClient,
  type OwnRedisCluster,
  ownRedisClusterSkipReason,
  startOwnRedisCluster,
} from "../faults/own_redis_cluster.ts";
import { uniqueName } from "./redis_support.ts";

const TIMEOUT = { timeout: 30_000 };

describeUnless(ownRedisClusterSkipReason(), "redis broker on a Redis Cluster", () => {
  const keyPrefix = `${uniqueName("machinery:cluster")}:`;
  const delayedTasksKey = "delayed_tasks";
  let cluster: OwnRedisCluster;
  let redis: Redis;
  const brokers: RedisBroker[] = [];
  const broker = (defaultQueue: string, leaseMs = 10_000) => {
    const b = new RedisBroker(cluster.url, {
      config: { defaultQueue, redis: { clusterEnabled: true, delayedTasksKey } },
      keyPrefix,
      leaseMs,
      logger: silentLogger,
    });
    brokers.push(b);
    return b;
  };
  const keys = brokerKeys(keyPrefix, true);
  const claimsKey = `${keyPrefix}{${slotTag(delayedTasksKey)}}delayed_claims`;

  before(async () => {
    cluster = await startOwnRedisCluster();
    redis = await clusterClient(cluster);
  });
  after(async () => {
    await Promise.allSettled(brokers.map((b) => b.close()));
    redis?.disconnect();
    await cluster?.stop();
  });

  it(
    "gives back what a dead consumer of a `}` queue held, through its queue's keys",
    TIMEOUT,
    async () => {
      const queue = uniqueName("odd}queue");
      const q = keys.forQueue(queue);
      assert.equal(keySlot(q.processing("x")), keySlot(queue));
      const dead = "dead:0000";
      await redis.sadd(keys.queues, queue);
      await redis.zadd(q.consumers, Date.now() - 60_000, dead);
      await redis.hset(q.consumerQueues, dead, queue);
      await redis.hset(q.processing(dead), "10", "m10", "9", "m9");
      await redis.rpush(q.landing(dead), "m11");
      await redis.rpush(queue, "later");
      assert.equal(await broker(queue, 1000).recover(), 3);
      assert.deepEqual(await redis.lrange(queue, 0, -1), ["m9", "m10", "m11", "later"]);
      assert.equal(await redis.exists(q.processing(dead)), 0);
    },
  );

  it(
    "moves due delayed members, and pushes again a claim its mover left behind",
    TIMEOUT,
    async () => {
      const queue = uniqueName("delayed_q");
      const fresh = newSignature("add", [], { routingKey: queue });
      const orphan = newSignature("add", [], { routingKey: queue });
      // A mover that claimed `orphan` two minutes ago and died before its push.
      await redis.zadd(claimsKey, Date.now() - 120_000, encodeSignature(orphan));
      await redis.zadd(
        delayedTasksKey,
        (BigInt(Date.now() - 1000) * 1_000_000n).toString(),
        encodeSignature(fresh),
      );
      const b = broker(queue);
      const stop = new AbortController();
      const got: string[] = [];
      const consuming = b.consume(
        { queue, capacity: 5, consumerTag: "t", signal: stop.signal },
        (d) => {
          got.push(d.body);
          d.ack();
        },
      );
      try {
        await waitFor(() => got.length === 2, "both delayed tasks delivered");
        assert.deepEqual(got.sort(), [encodeSignature(fresh), encodeSignature(orphan)].sort());
        await waitFor(async () => (await redis.zcard(claimsKey)) === 0, "the claims removed");
        assert.equal(await redis.zcard(delayedTasksKey), 0);
      } finally {
        stop.abort();
        await consuming;
      }
    },
  );

  it(
    "dead-letters a due member whose queue is not a list, in that queue's slot",
    TIMEOUT,
    async () => {
      const queue = uniqueName("not_a_list");
      const other = uniqueName("busy_q");
      await redis.set(queue, "a string");
      const sig = newSignature("add", [], { routingKey: queue });
      await redis.zadd(
        delayedTasksKey,
        (BigInt(Date.now() - 1000) * 1_000_000n).toString(),
        encodeSignature(sig),
      );
      const b = broker(other);
      const stop = new AbortController();
      const consuming = b.consume({
        queue: other,
        capacity: 1,
        consumerTag: "t",
        signal: stop.signal,
      }, () => {});
      try {
        const letters = await waitFor(async () => {
          const l = await b.getDeadLetters(queue);
          return l.length > 0 ? l : undefined;
        }, "the dead letter");
        assert.equal(letters[0].body, encodeSignature(sig));
        assert.match(letters[0].reason, /WRONGTYPE/);
        await waitFor(async () => (await redis.zcard(claimsKey)) === 0, "the claim removed");
      } finally {
        stop.abort();
        await consuming;
      }
    },
  );

  it("claims a periodic tick once through the cluster", TIMEOUT, async () => {
    const config = { redis: { clusterEnabled: true } };
    const a = new RedisLock(cluster.url, { config, logger: silentLogger });
    const b = new RedisLock(cluster.url, { config, logger: silentLogger });
    try {
      const key = uniqueName("periodic_lock");
      const tick = BigInt(Date.now() + 60_000) * 1_000_000n;
      assert.equal(await a.acquire(key, tick), true);
      assert.equal(await b.acquire(key, tick), false);
      assert.equal(await b.acquire(key, tick + 1n), true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
