/**
 * Fault scenarios for hostile UUIDs on Redis:
 * - a WRONGTYPE poison: a task whose UUID names a list is delivered in the same batch as 20
 *   good tasks. Every good task succeeds at its first try (no state write of theirs fails with
 *   the poison's), and the poison is set aside with the reason after a bounded number of tries;
 * - UUIDs equal to the broker's and backend's own keys (the queue, the requeued set, the
 *   delayed set, `TriggerChordMutex`, the consumers set, the dead-letter list): each is set
 *   aside with a reason before anything is written under it, every key keeps its type, and the
 *   unknown, delayed and plain tasks sent afterwards all arrive where they should.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { etaFromDate, newSignature, newTaskUUID } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import {
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  faultRig,
  killAll,
  recordRow,
  REDIS_URL,
  runCounts,
  signal,
  skipReason,
  startWorker,
} from "./support.ts";

/** A Go-shaped message for task `name` with one string argument. */
function message(uuid: string, name: string, value: string): string {
  return `{"UUID":${JSON.stringify(uuid)},"Name":"${name}","RoutingKey":"","ETA":null,` +
    `"GroupUUID":"","GroupTaskCount":0,"Args":[{"Name":"","Type":"string","Value":"${value}"}],` +
    `"Headers":{},"Priority":0,"Immutable":false,"RetryCount":0,"RetryTimeout":0,` +
    `"OnSuccess":null,"OnError":null,"ChordCallback":null}`;
}

const skip = await skipReason("redis");

describeFault("WRONGTYPE poison among 20", "redis", skip, () => {
  it("20 good tasks succeed at once; the poison is set aside with a reason", {
    timeout: 60_000,
  }, async () => {
    const { queue, keyPrefix, runsKey, server, redis } = faultRig("redis", "wrongtype");
    const children: Child[] = [];
    const poison = `${queue}_poison_list`;
    const good = Array.from({ length: 20 }, () => newTaskUUID());
    try {
      // The poison's UUID names a list that is not ours to destroy.
      await redis.rpush(poison, "someone else's data");
      const worker = await startWorker({
        BROKER_URL: REDIS_URL,
        BACKEND_URL: REDIS_URL,
        QUEUE: queue,
        KEY_PREFIX: keyPrefix,
        CONCURRENCY: "30",
        LOG_ERRORS: "1",
        FAULTS_COUNTER_URL: REDIS_URL,
        FAULTS_RUNS_KEY: runsKey,
      });
      children.push(worker);
      // One RPUSH: the worker takes all 21 in one fetch, so their state writes share batches.
      const bodies = good.map((u, i) => message(u, "work", `g${i}`));
      bodies.splice(10, 0, message(poison, "work", "poison"));
      await redis.rpush(queue, ...bodies);

      const deadKey = `${keyPrefix}dead:${queue}`;
      await waitFor(
        async () =>
          (await countStates(redis, good)).get("SUCCESS") === 20 &&
          (await redis.llen(deadKey)) === 1,
        "20 SUCCESS and the poison set aside",
        30_000,
      );
      const letters = (await redis.lrange(deadKey, 0, -1)).map((l) => JSON.parse(l));
      assert.match(letters[0].reason, /WRONGTYPE/);
      assert.ok(letters[0].body.includes(poison));
      assert.equal(await redis.type(poison), "list", "the poison's key keeps its type");
      assert.deepEqual(await redis.lrange(poison, 0, -1), ["someone else's data"]);
      const runs = await runCounts(redis, runsKey);
      assert.equal(runs.total, 20, "each good task ran once");
      assert.equal(runs.distinct, 20);

      const rss = worker.peakRssMiB();
      signal(worker, "SIGTERM");
      await worker.exited;
      // Only the poison ever failed: no good task was given back with it.
      const errors = worker.stderr().split("\n").filter((l) => l.startsWith("error: "));
      for (const uuid of good) {
        assert.ok(!errors.some((l) => l.includes(uuid)), `${uuid} failed with the poison`);
      }
      assert.ok(errors.length >= 1 && errors.length <= 3, errors.join("\n"));
      recordRow({
        scenario: "WRONGTYPE poison among 20",
        broker: "redis",
        tasks: 20,
        lost: 20 - ((await countStates(redis, good)).get("SUCCESS") ?? 0),
        duplicated: runs.total - 20,
        badInputs: 1,
        outcome: `20 SUCCESS at the first try; poison set aside after ${errors.length} tries`,
        peakRssMiB: rss,
      });
    } finally {
      await killAll(children);
      await deleteKeys(redis, [queue, poison, runsKey, ...good]);
      await deletePrefix(redis, keyPrefix);
      await server.close();
      redis.disconnect();
    }
  });
});

describeFault("UUIDs equal to reserved keys", "redis", skip, () => {
  it("each is refused before any write; no key changes type, nothing vanishes", {
    timeout: 60_000,
  }, async () => {
    const { queue, keyPrefix, runsKey, server, redis } = faultRig("redis", "reserved");
    const children: Child[] = [];
    const requeued = `${keyPrefix}requeued`;
    const delayed = `${keyPrefix}delayed_tasks`;
    const reserved = [
      queue,
      requeued,
      delayed,
      "TriggerChordMutex",
      `${keyPrefix}consumers`,
      `${keyPrefix}dead:${queue}`,
    ];
    const uuids: string[] = [];
    try {
      const worker = await startWorker({
        BROKER_URL: REDIS_URL,
        BACKEND_URL: REDIS_URL,
        QUEUE: queue,
        KEY_PREFIX: keyPrefix,
        CONCURRENCY: "10",
        FAULTS_COUNTER_URL: REDIS_URL,
        FAULTS_RUNS_KEY: runsKey,
      });
      children.push(worker);
      await redis.rpush(queue, ...reserved.map((u) => message(u, "work", "impostor")));
      const deadKey = `${keyPrefix}dead:${queue}`;
      await waitFor(
        async () => (await redis.llen(deadKey)) >= reserved.length,
        "every reserved UUID set aside",
        30_000,
      );
      const letters = (await redis.lrange(deadKey, 0, -1)).map((l) => JSON.parse(l));
      for (const uuid of reserved) {
        const letter = letters.find((l) => JSON.parse(l.body).UUID === uuid);
        assert.ok(letter, `no dead letter for "${uuid}"`);
        assert.match(letter.reason, /names a (queue|key)/);
      }
      // Nothing was written under those names.
      for (const key of [queue, requeued, delayed, `${keyPrefix}consumers`, deadKey]) {
        assert.notEqual(await redis.type(key), "string", `"${key}" became a string`);
      }
      const chordLock = await redis.get("TriggerChordMutex").catch(() => null);
      assert.ok(!chordLock?.includes("TaskUUID"), "a state was written as TriggerChordMutex");

      // The keys still work: an unknown task is held in the requeued set, a delayed task and
      // a plain one run.
      const unknown = newTaskUUID();
      await redis.rpush(queue, message(unknown, "no_such_task", "x"));
      const later = newSignature("work", [{ name: "", type: "string", value: "later" }]);
      later.eta = etaFromDate(new Date(Date.now() + 300));
      const now = newSignature("work", [{ name: "", type: "string", value: "now" }]);
      uuids.push(unknown, later.uuid, now.uuid);
      await server.sendTask(later);
      await server.sendTask(now);
      await waitFor(
        async () => (await countStates(redis, [later.uuid, now.uuid])).get("SUCCESS") === 2,
        "the delayed and the plain task succeed",
        20_000,
      );
      await waitFor(
        async () => (await redis.zcard(requeued)) + (await redis.llen(queue)) >= 1,
        "the unknown task held",
        10_000,
      );
      assert.equal(await redis.type(requeued), "zset");
      const rss = worker.peakRssMiB();
      signal(worker, "SIGTERM");
      await worker.exited;
      const held = (await redis.zcard(requeued)) + (await redis.llen(queue));
      recordRow({
        scenario: "UUIDs equal to reserved keys",
        broker: "redis",
        tasks: 3,
        lost: 2 - ((await countStates(redis, [later.uuid, now.uuid])).get("SUCCESS") ?? 0) +
          (held === 1 ? 0 : 1),
        duplicated: 0,
        badInputs: reserved.length,
        outcome: `${reserved.length} refused before any write; keys keep their types`,
        peakRssMiB: rss,
      });
    } finally {
      await killAll(children);
      await deleteKeys(redis, [queue, runsKey, ...uuids]);
      await deletePrefix(redis, keyPrefix);
      await server.close();
      redis.disconnect();
    }
  });
});
