/**
 * The Redis adapters against keys of the wrong type and hostile names: a script never removes
 * a message before what replaces it is written, a delayed message its queue refuses becomes a
 * dead letter instead of blocking the set, the dead-letter store keeps to its byte budget, one
 * state write refused for its key fails only its own caller, reserved names are refused, and
 * the chord lock outlasts a key of its name that is not a lock.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyConflictError, newSignature } from "../../mod.ts";
import { RedisBackend } from "../../src/redis/mod.ts";
import { brokerKeys } from "../../src/redis/_keys.ts";
import {
  defineScripts,
  MOVE_DUE,
  REJECT,
  RELEASE,
  REQUEUE,
  REQUEUE_LATER,
  requeuedMember,
  runScript,
} from "../../src/redis/_broker_scripts.ts";
import { CHORD_MUTEX_KEY, withChordMutex } from "../../src/redis/_chord_mutex.ts";
import { ownRedisSkipReason, startOwnRedis } from "../faults/own_redis.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./redis_support.ts";

const skip = await redisSkipReason();

describe("redis scripts and backend against wrong types and reserved names", { skip }, () => {
  const keyPrefix = `${uniqueName("machinery:poison")}:`;
  const written: string[] = [];
  after(async () => {
    await deleteRedisKeys(written, [keyPrefix]);
  });

  it("keeps a message in the processing hash when its destination refuses it", async () => {
    const redis = rawClient();
    try {
      defineScripts(redis);
      const keys = brokerKeys(keyPrefix);
      const proc = keys.processing("c1");
      const broken = `${keyPrefix}not_a_list`;
      await redis.set(broken, "a string where a list or set belongs");
      await redis.hset(proc, "1", "m1");
      const attempts: [string, () => Promise<unknown>][] = [
        ["requeue", () => runScript(redis, REQUEUE, [proc, broken], [1, "m1"])],
        ["requeue later", () =>
          runScript(redis, REQUEUE_LATER, [proc, broken], [
            1,
            1000,
            requeuedMember("q", "m1"),
            keys.channel,
          ])],
        [
          "reject",
          () => runScript(redis, REJECT, [proc, broken, keys.deadBytes("q")], [1, "{}", 10, 1000]),
        ],
        ["release", () => runScript(redis, RELEASE, [proc, broken], [1])],
      ];
      for (const [what, attempt] of attempts) {
        await assert.rejects(attempt(), /WRONGTYPE/, what);
        assert.equal(await redis.hget(proc, "1"), "m1", `${what} lost the message`);
      }
    } finally {
      redis.disconnect();
    }
  });

  it("sets a due message aside when its queue is not a list, and moves the ones behind it", async () => {
    const redis = rawClient();
    try {
      defineScripts(redis);
      const delayed = `${keyPrefix}delayed_tasks`;
      const requeued = `${keyPrefix}requeued`;
      const good = `${keyPrefix}good_queue`;
      const broken = `${keyPrefix}string_queue`;
      await redis.set(broken, "x");
      const poison = JSON.stringify({ UUID: "p", RoutingKey: broken });
      const fine = JSON.stringify({ UUID: "f", RoutingKey: good });
      await redis.zadd(delayed, 1, poison, 2, fine);
      await redis.zadd(requeued, 1, requeuedMember(broken, "r1"), 2, requeuedMember(good, "r2"));
      await runScript(redis, MOVE_DUE, [delayed, requeued], [
        "default",
        10,
        keyPrefix,
        100,
        1_000_000,
        1000,
      ]);
      assert.deepEqual(await redis.lrange(good, 0, -1), [fine, "r2"]);
      assert.equal(await redis.zcard(delayed), 0);
      assert.equal(await redis.zcard(requeued), 0);
      const letters = (await redis.lrange(brokerKeys(keyPrefix).dead(broken), 0, -1)).map((l) =>
        JSON.parse(l)
      );
      assert.deepEqual(letters.map((l) => l.body), [poison, "r1"]);
      assert.match(letters[0].reason, /WRONGTYPE/);
      assert.equal(await redis.get(broken), "x");
    } finally {
      redis.disconnect();
    }
  });

  it("keeps the dead-letter store within its byte budget, newest entries kept", async () => {
    const redis = rawClient();
    try {
      defineScripts(redis);
      const keys = brokerKeys(keyPrefix);
      const proc = keys.processing("c2");
      const dead = keys.dead("budget");
      for (let i = 0; i < 50; i++) {
        await redis.hset(proc, String(i), "m");
        const entry = JSON.stringify({ i, body: "x".repeat(100) });
        await runScript(redis, REJECT, [proc, dead, keys.deadBytes("budget")], [
          i,
          entry,
          1000,
          1000,
        ]);
      }
      const entries = await redis.lrange(dead, 0, -1);
      const bytes = entries.reduce((n, e) => n + e.length, 0);
      assert.ok(bytes <= 1000, `${bytes} bytes kept`);
      assert.equal(JSON.parse(entries.at(-1)!).i, 49);
      assert.equal(Number(await redis.get(keys.deadBytes("budget"))), bytes);
    } finally {
      redis.disconnect();
    }
  });

  it("fails only the state write whose key holds another type; reserved names are refused", async () => {
    const redis = rawClient();
    const backend = new RedisBackend(REDIS_URL, {
      keyPrefix,
      config: { resultsExpireIn: 60, defaultQueue: `${keyPrefix}q` },
    });
    try {
      const sigs = [newSignature("t"), newSignature("t"), newSignature("t")];
      const list = uniqueName("poison_list");
      sigs[1].uuid = list;
      written.push(sigs[0].uuid, list, sigs[2].uuid);
      await redis.rpush(list, "keep me");
      // One batch (same turn): the list's write fails alone, for both scripts.
      for (const write of [backend.setStateStarted, backend.setStatePending]) {
        const outcomes = await Promise.allSettled(sigs.map((s) => write.call(backend, s)));
        assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled"]);
        const error = (outcomes[1] as PromiseRejectedResult).reason;
        assert.ok(error instanceof KeyConflictError && !error.reserved, String(error));
        assert.deepEqual(await redis.lrange(list, 0, -1), ["keep me"]);
      }
      for (const uuid of [CHORD_MUTEX_KEY, `${keyPrefix}requeued`, `${keyPrefix}q`]) {
        const sig = newSignature("t");
        sig.uuid = uuid;
        await assert.rejects(backend.setStateReceived(sig), (e) => {
          return e instanceof KeyConflictError && e.reserved;
        });
        await assert.rejects(backend.setStatePending(sig), KeyConflictError);
      }
      assert.equal(await redis.type(`${keyPrefix}q`), "none");
    } finally {
      await backend.close();
      redis.disconnect();
    }
  });

  it("takes the chord lock even when a key of its name is not a lock", {
    timeout: 30_000,
  }, async () => {
    // On a server of its own: the shared one's chord lock belongs to other tests.
    const noServer = ownRedisSkipReason();
    if (noServer) return void console.error(`SKIP chord lock impostor: ${noServer}`);
    const own = await startOwnRedis();
    try {
      await own.client.set(CHORD_MUTEX_KEY, '{"TaskUUID":"TriggerChordMutex"}', "EX", 3600);
      let impostors = 0;
      const ran = await withChordMutex(own.client, () => Promise.resolve("ran"), {
        onImpostor: () => impostors++,
      });
      assert.equal(ran, "ran");
      assert.equal(impostors, 1);
    } finally {
      await own.stop();
    }
  });
});
