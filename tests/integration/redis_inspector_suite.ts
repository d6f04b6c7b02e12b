/**
 * The Redis inspector and worker registry as a library, on a real Redis, each test under its
 * own key prefix and delayed key: pages are ranges, a task is found where its message is (queue,
 * delayed, held by a consumer, dead with its reason), a dead letter is retried by UUID onto its
 * queue, a cut one is never retried, and the registry lists, counts and expires workers. Run on
 * one Redis (`redis_inspector_test.ts`) and on a Redis Cluster (`redis_cluster_inspector_test.ts`).
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { type Delivery, newSignature, type Signature, silentLogger } from "../../mod.ts";
import { RedisBroker, RedisInspector, RedisRegistry } from "../../src/redis/mod.ts";
import { etaFromDate } from "../../src/wire/signature.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { uniqueName } from "./redis_support.ts";

const TIMEOUT = { timeout: 30_000 };

/** Where the suite runs. */
export interface InspectorTarget {
  /** The Redis URL (one server, or a cluster's nodes). */
  url: string;
  /** Set for a cluster. */
  clusterEnabled?: boolean;
  /** Deletes keys (by name, and every key under the prefixes). */
  deleteKeys(keys: string[], prefixes?: string[]): Promise<void>;
  /** Deletes what the suite wrote and stops what the target started. */
  cleanup(keys: string[], prefixes: string[]): Promise<void>;
}

/** The inspector suite on what `target` gives; `queue` is the queue's name (before a suffix). */
export function redisInspectorSuite(
  name: string,
  skip: string | false,
  queueName: string,
  target: () => Promise<InspectorTarget>,
): void {
  describeUnless(skip, name, () => {
    const keyPrefix = `${uniqueName("machinery:inspect")}:`;
    const queue = uniqueName(queueName);
    const config = {
      defaultQueue: queue,
      redis: { delayedTasksKey: `${keyPrefix}delayed_tasks`, clusterEnabled: false },
    };
    const options = { config, keyPrefix, logger: silentLogger };
    let REDIS_URL = "";
    let where: InspectorTarget | undefined;
    const deleteRedisKeys = (keys: string[], prefixes?: string[]) =>
      where!.deleteKeys(keys, prefixes);
    before(async () => {
      where = await target();
      REDIS_URL = where.url;
      config.redis.clusterEnabled = where.clusterEnabled ?? false;
    });
    after(() => where?.cleanup([queue], [keyPrefix]));

    const task = (i: number): Signature =>
      newSignature("add", [{ name: "", type: "int64", value: i }]);

    it("pages pending and delayed tasks, and counts them", TIMEOUT, async () => {
      const broker = new RedisBroker(REDIS_URL, options);
      const inspector = new RedisInspector(REDIS_URL, options);
      try {
        const sent = [0, 1, 2, 3, 4].map(task);
        for (const s of sent) await broker.publish(s);
        const page = await inspector.pending(queue, { offset: 1, limit: 2 });
        assert.deepEqual(page.map((t) => t.signature?.uuid), [sent[1].uuid, sent[2].uuid]);

        const hour = 3_600_000;
        const later = [3, 1, 2].map((h) => {
          const s = task(h);
          s.eta = etaFromDate(new Date(Date.now() + h * hour));
          return s;
        });
        for (const s of later) await broker.publish(s);
        const delayed = await inspector.delayed({ limit: 2 });
        assert.deepEqual(delayed.map((t) => t.signature?.uuid), [later[1].uuid, later[2].uuid]);
        assert.equal(delayed[0].queue, queue);
        assert.ok(Date.parse(delayed[0].eta!) > Date.now() + hour - 60_000);

        assert.deepEqual(await inspector.queues([queue]), [
          { queue, ready: 5, delayed: 3, held: 0, dead: 0 },
        ]);
        const found = await inspector.locate(later[0].uuid, [queue]);
        assert.equal(found.where, "delayed");
        assert.equal((found as { queue: string }).queue, queue);
        const eta = Date.parse((found as { eta: string }).eta);
        assert.ok(Math.abs(eta - Date.parse(later[0].eta!)) < 1000, `${eta} vs ${later[0].eta}`);
        assert.deepEqual(await inspector.locate(sent[4].uuid, [queue]), { where: "queue", queue });
        assert.equal(await inspector.purge(queue), 5);
        await deleteRedisKeys([config.redis.delayedTasksKey]);
      } finally {
        await inspector.close();
        await broker.close();
      }
    });

    it("finds a held task, then its dead letter, and retries it by UUID", TIMEOUT, async () => {
      const broker = new RedisBroker(REDIS_URL, options);
      const inspector = new RedisInspector(REDIS_URL, options);
      const stop = new AbortController();
      try {
        const sent = task(7);
        await broker.publish(sent);
        const deliveries: Delivery[] = [];
        const consuming = broker.consume(
          { queue, capacity: 1, consumerTag: "held_by_test", signal: stop.signal },
          (d) => deliveries.push(d),
        );
        await waitFor(() => deliveries.length === 1, "the delivery");
        const held = await inspector.locate(sent.uuid, [queue]);
        assert.equal(held.where, "held");
        assert.match((held as { consumer: string }).consumer, /^held_by_test:/);
        assert.equal((await inspector.queues([queue]))[0].held, 1);

        await deliveries[0].reject("bad arguments, say");
        assert.deepEqual(await inspector.locate(sent.uuid, [queue]), {
          where: "dead",
          queue,
          reason: "bad arguments, say",
        });
        const [letter] = await inspector.deadLetters(queue);
        assert.deepEqual(
          [letter.uuid, letter.name, letter.reason, letter.truncated],
          [sent.uuid, "add", "bad arguments, say", false],
        );
        assert.equal(await inspector.retryDeadLetters(queue, { uuids: ["task_other"] }), 0);
        stop.abort();
        await consuming;
        assert.equal(await inspector.retryDeadLetters(queue, { uuids: [sent.uuid] }), 1);
        assert.deepEqual(await inspector.queues([queue]), [
          { queue, ready: 1, delayed: 0, held: 0, dead: 0 },
        ]);
        const [back] = await inspector.pending(queue);
        assert.equal(back.signature?.uuid, sent.uuid);
        await inspector.purge(queue);
      } finally {
        stop.abort();
        await inspector.close();
        await broker.close();
      }
    });

    it("never retries a dead letter whose body was cut", TIMEOUT, async () => {
      const broker = new RedisBroker(REDIS_URL, { ...options, deadLetterBodyBytes: 16 });
      const inspector = new RedisInspector(REDIS_URL, options);
      const stop = new AbortController();
      try {
        await broker.publish(task(1));
        const deliveries: Delivery[] = [];
        const consuming = broker.consume(
          { queue, capacity: 1, consumerTag: "cutter", signal: stop.signal },
          (d) => deliveries.push(d),
        );
        await waitFor(() => deliveries.length === 1, "the delivery");
        await deliveries[0].reject("too long to keep");
        stop.abort();
        await consuming;
        assert.equal((await inspector.deadLetters(queue))[0].truncated, true);
        assert.equal(await inspector.retryDeadLetters(queue, { all: true }), 0);
        assert.equal(await inspector.deleteDeadLetters(queue, { all: true }), 1);
        assert.deepEqual(await inspector.queues([queue]), [
          { queue, ready: 0, delayed: 0, held: 0, dead: 0 },
        ]);
      } finally {
        stop.abort();
        await inspector.close();
        await broker.close();
      }
    });

    it(
      "registry: lists live workers, sums counts per minute, expires by TTL",
      TIMEOUT,
      async () => {
        const registry = new RedisRegistry(REDIS_URL, options);
        try {
          const info = (id: string) => ({
            id,
            name: id,
            host: "h",
            pid: 1,
            queue,
            concurrency: 2,
            running: 0,
            processed: 0,
            failed: 0,
            started: new Date().toISOString(),
            lastHeartbeat: new Date().toISOString(),
          });
          await registry.beat(info("a"), 60_000, [{ task: "add", processed: 3, failed: 1 }]);
          await registry.beat(info("b"), 300, [{ task: "add", processed: 2, failed: 0 }]);
          await registry.beat(info("a"), 60_000, [{ task: "mul", processed: 0, failed: 4 }]);
          assert.deepEqual((await registry.workers()).map((w) => w.id), ["a", "b"]);
          assert.deepEqual(await registry.stats(5), [
            { task: "add", processed: 5, failed: 1 },
            { task: "mul", processed: 0, failed: 4 },
          ]);
          await waitFor(
            async () => (await registry.workers()).length === 1,
            "b expires after its 300 ms TTL",
            5_000,
          );
          await registry.remove("a");
          assert.deepEqual(await registry.workers(), []);
        } finally {
          await registry.close();
        }
      },
    );
  });
}
