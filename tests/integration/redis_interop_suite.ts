/**
 * Interop with Go machinery on Redis (docs/wire.md#redis): a TS worker consumes the exact bytes
 * a Go sender writes and stores states in Go's bytes; what TS publishes is Go's bytes; Go's
 * delayed-set members are moved and run; group metas keep Go's bytes; the chord lock Go uses is
 * honoured; rejected messages are dead-lettered with their reason. Run on one Redis
 * (`redis_interop_test.ts`) and on a Redis Cluster (`redis_cluster_interop_test.ts`): the queue
 * list, `delayed_tasks`, task states, group metas and `TriggerChordMutex` keep Go's names there.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { newSignature, Server, silentLogger } from "../../mod.ts";
import { decodeSignature, encodeSignature } from "../../src/wire/mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { formatGoTimeNanos } from "../../src/wire/go_time.ts";
import {
  encodeTaskState,
  failureState,
  pendingState,
  retryState,
  startedState,
  successState,
} from "../../src/wire/state.ts";
import { waitFor } from "../helpers.ts";
import type { Redis } from "ioredis";
import type { RedisConfig } from "../../src/config.ts";

type RedisConfigInput = Partial<RedisConfig>;
import { uniqueName } from "./redis_support.ts";

/** Where the suite runs: a URL, a plain client of that Redis (or cluster) and the clean-up. */
export interface InteropTarget {
  /** The broker and backend URL. */
  url: string;
  /** The `redis` config section to add (`clusterEnabled`, say). */
  redis?: RedisConfigInput;
  /** A connected client for checks (a cluster client on a cluster). */
  client: Redis;
  /** Deletes what the suite wrote (the keys given and every key under the prefixes). */
  cleanup(keys: string[], prefixes: string[]): Promise<void>;
}

const VECTORS = fileURLToPath(new URL("../fixtures/go_vectors.json", import.meta.url));

interface Vectors {
  messages: Record<string, string>;
  task_states: Record<string, string>;
  group_metas: Record<string, string>;
}
const vectors: Vectors = JSON.parse(readFileSync(VECTORS, "utf8"));

const V1_UUID = "task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11";

function taskUUID(): string {
  return `task_${crypto.randomUUID()}`;
}

/** The interop suite on the Redis `target` gives (started in `before`). */
export function redisInteropSuite(
  name: string,
  skip: string | false,
  target: () => Promise<InteropTarget>,
): void {
  describe(name, { skip }, () => {
    const queue = uniqueName("interop_queue");
    const idleQueue = uniqueName("interop_idle");
    const keyPrefix = `${uniqueName("machinery:test")}:`;
    const delayedKey = `${keyPrefix}delayed_tasks`;
    let REDIS_URL = "";
    let config = {
      defaultQueue: queue,
      resultsExpireIn: 300,
      noUnixSignals: true,
      redis: { delayedTasksKey: delayedKey, delayedTasksPollPeriod: 100 } as RedisConfigInput,
    };
    let redis: Redis;
    let where: InteropTarget | undefined;
    const written: string[] = [];
    let server: Server;
    let launched: Promise<void>;
    let quit: () => Promise<void>;

    before(async () => {
      where = await target();
      REDIS_URL = where.url;
      redis = where.client;
      config = { ...config, redis: { ...config.redis, ...where.redis } };
      server = new Server({
        config,
        broker: new RedisBroker(REDIS_URL, { config, keyPrefix }),
        backend: new RedisBackend(REDIS_URL, { config, keyPrefix }),
        logger: silentLogger,
      });
      server.registerTasks({
        add: (...args: number[]) => args.reduce((a, b) => a + b, 0),
        multiply: (...args: number[]) => args.reduce((a, b) => a * b, 1),
        delay_test: () => "ran",
      });
      const worker = server.newWorker("interop", 5);
      launched = worker.launch();
      quit = () => worker.quit();
    });

    after(async () => {
      await quit?.();
      await launched;
      await server?.close();
      await where?.cleanup([queue, idleQueue, delayedKey, ...written], [keyPrefix]);
    });

    it("runs a Go sender's exact message and stores Go's state bytes", {
      timeout: 15_000,
    }, async () => {
      const uuid = taskUUID();
      written.push(uuid);
      const message = vectors.messages["add"]
        .replace(V1_UUID, uuid)
        .replace('"RoutingKey":"machinery_tasks"', `"RoutingKey":"${queue}"`);
      await redis.set(uuid, vectors.task_states["state pending"].replace(V1_UUID, uuid), "EX", 300);
      await redis.rpush(queue, message);
      const stored = await waitFor(async () => {
        const v = await redis.get(uuid);
        return v?.includes('"State":"SUCCESS"') ? v : undefined;
      }, "the Go message ran");
      assert.equal(stored, vectors.task_states["state success"].replace(V1_UUID, uuid));
      const ttl = await redis.ttl(uuid);
      assert.ok(ttl > 290 && ttl <= 300, `TTL ${ttl}`);
    });

    it("merges states into Go's bytes, in order, for any UUID, result and error", async () => {
      const backend = server.backend as RedisBackend;
      const odd = `task_${crypto.randomUUID()}"<&>\u2028\\`;
      const plain = taskUUID();
      written.push(odd, plain);
      const createdAt = "2024-02-29T23:59:59.123456789+05:30";
      for (const uuid of [odd, plain]) {
        const sig = newSignature("add", [], { uuid });
        const pending = { ...pendingState(sig), taskName: 'na"me<', createdAt };
        await redis.set(uuid, encodeTaskState(pending), "EX", 300);
        // RECEIVED and STARTED in one turn (one script call), then SUCCESS, each merged.
        await Promise.all([backend.setStateReceived(sig), backend.setStateStarted(sig)]);
        const merged = { taskName: pending.taskName, createdAt };
        assert.equal(await redis.get(uuid), encodeTaskState({ ...startedState(sig), ...merged }));
        await backend.setStateReceivedAndStarted(sig);
        assert.equal(await redis.get(uuid), encodeTaskState({ ...startedState(sig), ...merged }));
        const results = [{ type: "string", value: 'x"\u2029' }, { type: "int64", value: 7 }];
        await backend.setStateSuccess(sig, results);
        assert.equal(
          await redis.get(uuid),
          encodeTaskState({ ...successState(sig, results), ...merged }),
        );
        await backend.setStateFailure(sig, 'boom <"quoted">');
        assert.equal(
          await redis.get(uuid),
          encodeTaskState({ ...failureState(sig, 'boom <"quoted">'), ...merged }),
        );
        // Stored by another client, CreatedAt first and far from the end: still found.
        await redis.set(
          uuid,
          `{"CreatedAt":"${createdAt}","TaskName":"other","Error":"${"x".repeat(300)}"}`,
        );
        await backend.setStateStarted(sig);
        assert.equal(
          await redis.get(uuid),
          encodeTaskState({ ...startedState(sig), taskName: "other", createdAt }),
        );
        // Nothing stored: the state's own (empty) name and the zero time.
        await redis.del(uuid);
        await backend.setStateRetry(sig);
        assert.equal(await redis.get(uuid), encodeTaskState(retryState(sig)));
      }
      await assert.rejects(
        backend.setStateSuccess(newSignature("add", [], { uuid: plain }), [
          { type: "float64", value: NaN },
        ]),
        /json: unsupported value/,
      );
    });

    it("publishes Go's bytes with RPUSH and writes Go's PENDING state", async () => {
      const uuid = taskUUID();
      written.push(uuid);
      const message = vectors.messages["add"]
        .replace(V1_UUID, uuid)
        .replace('"RoutingKey":"machinery_tasks"', `"RoutingKey":"${idleQueue}"`);
      await server.sendTask(decodeSignature(message));
      assert.deepEqual(await redis.lrange(idleQueue, 0, -1), [message]);
      const pending = await redis.get(uuid);
      const expected = vectors.task_states["state pending"].replace(V1_UUID, uuid);
      const createdAt = /"CreatedAt":"([^"]+)"/;
      assert.equal(pending!.replace(createdAt, ""), expected.replace(createdAt, ""));
      assert.match(pending!, /"CreatedAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"/);
    });

    it("scores delayed tasks in Unix ns and publishes them unchanged", async () => {
      const otherKey = `${keyPrefix}delayed_idle`;
      const broker = new RedisBroker(REDIS_URL, {
        config: { ...config, redis: { ...config.redis, delayedTasksKey: otherKey } },
        keyPrefix,
      });
      try {
        const etaNs = BigInt(Date.now() + 60_000) * 1_000_000n + 123_456n;
        const sig = newSignature("add", [{ name: "", type: "int64", value: 1 }], {
          routingKey: idleQueue,
          eta: formatGoTimeNanos(etaNs),
          headers: {},
        });
        await broker.publish(sig);
        const [member, score] = await redis.zrange(otherKey, 0, -1, "WITHSCORES");
        assert.equal(member, encodeSignature(sig));
        assert.ok(Math.abs(Number(score) - Number(etaNs)) < 1000, `score ${score} vs ${etaNs}`);
        assert.equal((await broker.getDelayedTasks())[0].uuid, sig.uuid);
      } finally {
        await broker.close();
      }
    });

    it("moves a Go sender's delayed member to its queue and runs it", {
      timeout: 15_000,
    }, async () => {
      const uuid = taskUUID();
      written.push(uuid);
      const etaNs = BigInt(Date.now() + 200) * 1_000_000n;
      const member = vectors.messages["delayed"]
        .replace("task_00000000-0000-4000-8000-0000000000d1", uuid)
        .replace('"RoutingKey":"machinery_tasks"', `"RoutingKey":"${queue}"`)
        .replace('"ETA":"2025-01-02T03:04:05.123456789Z"', `"ETA":"${formatGoTimeNanos(etaNs)}"`);
      assert.notEqual(member, vectors.messages["delayed"]);
      await redis.set(uuid, vectors.task_states["state pending"].replace(V1_UUID, uuid), "EX", 300);
      await redis.zadd(delayedKey, etaNs.toString(), member);
      const stored = await waitFor(async () => {
        const v = await redis.get(uuid);
        return v?.includes('"State":"SUCCESS"') ? v : undefined;
      }, "the delayed Go message ran");
      assert.ok(Date.now() * 1e6 >= Number(etaNs), "ran before its ETA");
      assert.match(stored, /"Results":\[\{"Type":"string","Value":"ran"\}\]/);
      assert.equal(await redis.zcard(delayedKey), 0);
    });

    it("completes and triggers a group written in Go's bytes, keeping them", async () => {
      const backend = new RedisBackend(REDIS_URL, { config, keyPrefix });
      try {
        const group = `group_${crypto.randomUUID()}`;
        const a = taskUUID();
        const b = taskUUID();
        written.push(group, a, b);
        const g1 = vectors.group_metas["groupmeta init"]
          .replace("group_00000000-0000-4000-8000-0000000000ff", group)
          .replace('"task_a"', `"${a}"`)
          .replace('"task_b"', `"${b}"`);
        await redis.set(group, g1, "EX", 300);
        const success = vectors.task_states["state success"];
        await redis.set(b, success.replace(V1_UUID, b), "EX", 300);
        await redis.set(a, vectors.task_states["state started merged"].replace(V1_UUID, a));
        assert.equal(await backend.groupCompleted(group, 2), false);
        assert.equal(await backend.groupCompleted(group, 2), false);
        await redis.set(a, success.replace(V1_UUID, a), "EX", 300);
        assert.equal(await backend.groupCompleted(group, 2), true);
        assert.equal(await backend.groupCompleted(group, 3), false);
        const states = await backend.groupTaskStates(group, 2);
        assert.deepEqual(states.map((s) => s.taskUUID), [a, b]);
        assert.equal(await backend.triggerChord(group), true);
        assert.equal(await backend.triggerChord(group), false);
        const g2 = vectors.group_metas["groupmeta triggered"]
          .replace("group_00000000-0000-4000-8000-0000000000ff", group)
          .replace('"task_a"', `"${a}"`)
          .replace('"task_b"', `"${b}"`);
        assert.equal(await redis.get(group), g2);
        await backend.purgeGroupMeta(group);
        assert.equal(await redis.exists(group), 0);
      } finally {
        await backend.close();
      }
    });

    it("checks a large group without reading every member each time", {
      timeout: 20_000,
    }, async () => {
      const backend = new RedisBackend(REDIS_URL, { config, keyPrefix });
      try {
        const group = `group_${crypto.randomUUID()}`;
        const ids = Array.from({ length: 10_000 }, () => taskUUID());
        written.push(group, ...ids);
        await backend.initGroup(group, ids);
        const success = vectors.task_states["state success"];
        // One SET each (a pipeline must stay in one slot on a cluster), a thousand at a time.
        for (let i = 1; i < ids.length; i += 1000) {
          await Promise.all(
            ids.slice(i, i + 1000).map((id) =>
              redis.set(id, success.replace(V1_UUID, id), "EX", 300)
            ),
          );
        }
        // The first member finishes last: every other member's check stops at it.
        const start = performance.now();
        for (let i = 0; i < 2000; i++) {
          assert.equal(await backend.groupCompleted(group, ids.length), false);
        }
        const perCheck = (performance.now() - start) / 2000;
        assert.ok(perCheck < 2, `${perCheck.toFixed(3)} ms per check`);
        await redis.set(ids[0], success.replace(V1_UUID, ids[0]), "EX", 300);
        assert.equal(await backend.groupCompleted(group, ids.length), true);
      } finally {
        await backend.close();
      }
    });

    it("runs a chord and sets ChordTriggered in Go's bytes", { timeout: 15_000 }, async () => {
      const { newChord, newGroup } = await import("../../mod.ts");
      const add = (x: number, y: number) =>
        newSignature("add", [
          { name: "", type: "int64", value: x },
          { name: "", type: "int64", value: y },
        ]);
      const chord = newChord(newGroup(add(1, 1), add(2, 2), add(5, 6)), newSignature("multiply"));
      written.push(
        chord.group.groupUUID,
        chord.callback.uuid,
        ...chord.group.tasks.map((t) => t.uuid),
      );
      const result = await server.sendChord(chord);
      assert.deepEqual(await result.get(), [88]);
      const ids = chord.group.tasks.map((t) => `"${t.uuid}"`).join(",");
      assert.match(
        (await redis.get(chord.group.groupUUID))!,
        new RegExp(
          `^\\{"GroupUUID":"${chord.group.groupUUID}","TaskUUIDs":\\[${ids}\\],"ChordTriggered":true,"Lock":false,"CreatedAt":"[^"]+","TTL":0\\}$`,
        ),
      );
    });

    it("waits for TriggerChordMutex while a Go worker holds it", { timeout: 15_000 }, async () => {
      const backend = new RedisBackend(REDIS_URL, { config, keyPrefix });
      try {
        const group = `group_${crypto.randomUUID()}`;
        written.push(group);
        await backend.initGroup(group, ["task_x"]);
        const goValue = "R29Hb2xkZXJMb2NrVmFsdWU=";
        await waitFor(
          async () => (await redis.set("TriggerChordMutex", goValue, "PX", 8000, "NX")) === "OK",
          "the chord mutex is free",
        );
        let settled = false;
        const trigger = backend.triggerChord(group).finally(() => (settled = true));
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(settled, false, "triggered while the Go worker held the lock");
        await redis.eval(
          'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end',
          1,
          "TriggerChordMutex",
          goValue,
        );
        assert.equal(await trigger, true);
      } finally {
        await backend.close();
      }
    });

    it(
      "dead-letters a message Go cannot decode and records FAILURE",
      { timeout: 15_000 },
      async () => {
        const uuid = taskUUID();
        written.push(uuid);
        const body = `{"UUID":"${uuid}","Name":"add","Priority":300}`;
        await redis.rpush(queue, body);
        const state = await waitFor(
          () => server.backend.getState(uuid).catch(() => undefined),
          "the bad message was recorded",
        );
        assert.equal(state.state, "FAILURE");
        assert.match(state.error, /Priority/);
        // The message named its task: the stored state keeps the name and a real time.
        const raw = JSON.parse((await redis.get(uuid))!);
        assert.equal(raw.TaskName, "add");
        assert.notEqual(raw.CreatedAt, "0001-01-01T00:00:00Z");
        assert.ok(Math.abs(Date.parse(raw.CreatedAt) - Date.now()) < 60_000, raw.CreatedAt);
        const broker = server.broker as RedisBroker;
        const dead = await waitFor(async () => {
          const letters = await broker.getDeadLetters(queue);
          return letters.find((l) => l.body === body);
        }, "the dead letter");
        assert.match(dead.reason, /Could not unmarshal/);
        assert.equal(dead.queue, queue);
      },
    );
  });
}
