/**
 * Redis Cluster slots (`src/redis/_slot.ts`, `_keys.ts`): our keys of a queue hash to the queue's
 * slot whatever the queue's name holds (a hash tag of its own, a lone `}`, nothing to hash), and
 * on one Redis the key names stay untagged.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hashString, keySlot, slotTag } from "../src/redis/_slot.ts";
import { brokerKeys, registryKeys } from "../src/redis/_keys.ts";
import { openRedis, usesCluster } from "../src/redis/_connection.ts";
import { resolveConfig } from "../src/config.ts";

describe("Redis Cluster slots", () => {
  test("CRC16 slots as Redis computes them (CLUSTER KEYSLOT)", () => {
    assert.equal(keySlot("foo"), 12182);
    assert.equal(keySlot("{user1000}.following"), keySlot("user1000"));
    assert.equal(hashString("foo{}{bar}"), "foo{}{bar}");
    assert.equal(hashString("foo{{bar}}zap"), "{bar");
    assert.equal(hashString("foo{bar}{zap}"), "bar");
  });

  test("every key of a queue is in the queue's slot, whatever its name", () => {
    const keys = brokerKeys("machinery:ts:", true);
    for (const queue of ["machinery_tasks", "a{b}c", "x}y", "{}q", "{", "q{}}", "日本{語}"]) {
      const q = keys.forQueue(queue);
      const slot = keySlot(queue);
      for (
        const key of [
          q.consumers,
          q.consumerQueues,
          q.requeued,
          q.processing("c:1"),
          q.landing("c:1"),
          q.dead(queue),
          q.deadBytes(queue),
          `${q.prefix}prio:${queue}:3`,
        ]
      ) assert.equal(keySlot(key), slot, `${key} for queue ${queue}`);
      assert.equal(keySlot(`x{${slotTag(queue)}}y`), slot);
    }
    assert.equal(keys.forQueue("jobs").processing("c"), "machinery:ts:{jobs}taken:c");
    assert.equal(keys.forQueue("jobs").channel, "machinery:ts:delayed");
  });

  test("on one Redis the names stay untagged", () => {
    const keys = brokerKeys("machinery:ts:");
    assert.equal(keys.forQueue("jobs"), keys);
    assert.equal(keys.processing("c"), "machinery:ts:taken:c");
    assert.equal(registryKeys("machinery:ts:").workers, "machinery:ts:workers");
    const clustered = registryKeys("machinery:ts:", true);
    assert.equal(keySlot(clustered.workers), keySlot(clustered.worker("w1")));
  });

  test("a cluster: redis.clusterEnabled, or several hosts without a master name", () => {
    const plain = resolveConfig({});
    assert.equal(usesCluster("redis://a:1", plain), false);
    assert.equal(
      usesCluster("redis://a:1", resolveConfig({ redis: { clusterEnabled: true } })),
      true,
    );
    assert.equal(usesCluster("redis://a:1,b:2", plain), true);
    assert.equal(
      usesCluster("redis://a:1,b:2", resolveConfig({ redis: { masterName: "m" } })),
      false,
    );
    assert.equal(
      usesCluster("redis+socket:///tmp/r.sock", resolveConfig({ redis: { clusterEnabled: true } })),
      false,
    );
  });

  test("a brace in the prefix or a database other than 0 is refused on a cluster", async () => {
    assert.throws(() => brokerKeys("{app}:", true), /brace/);
    const config = resolveConfig({ redis: { clusterEnabled: true } });
    await assert.rejects(openRedis("redis://127.0.0.1:1/2", config, "commands"), /database 0/);
  });
});
