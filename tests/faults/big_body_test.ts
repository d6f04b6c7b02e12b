/**
 * Fault scenario: huge bodies on Redis. Twelve bodies of 50 MB and one of 512 MiB (over V8's
 * longest string, within what Redis takes with `--proto-max-bulk-len 1gb`) sit in the queue
 * ahead of a good task. The fetch script measures each in Redis and sets it aside there (a
 * dead letter with the reason and the body's first bytes); the worker gets only sizes and
 * first bytes, records FAILURE under each UUID, and runs the good task behind them. Its peak
 * RSS stays far below the bodies' size, which shows it never read them.
 *
 * Measuring costs Redis one copy of each oversize body into the script (about 4 s for 512 MiB
 * here), once per body. It uses a redis-server of its own on a spare port (the shared one keeps its default limit,
 * and 1.1 GB of test data has no business there).
 */
import { it } from "node:test";
import { Buffer } from "node:buffer";
import assert from "node:assert/strict";
import { newTaskUUID } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import {
  type Child,
  countStates,
  describeFault,
  killAll,
  readStates,
  recordRow,
  signal,
  skipReason,
  startWorker,
} from "./support.ts";
import { type OwnRedis, ownRedisSkipReason, startOwnRedis } from "./own_redis.ts";

const SCENARIO = "12 × 50 MB + 512 MiB bodies";
const MB50 = 50_000_000;
const MIB512 = 512 * 1024 * 1024;
const LIMIT = 16 * 1024 * 1024;
/** The worker's peak RSS must stay below this (the bodies add up to 1.1 GB). */
const RSS_BOUND_MIB = 400;

/**
 * Appends bodies of `size` bytes that start as task messages with `uuids` to `queue`, from one
 * buffer (a 512 MiB string is past V8's limit; a buffer is not).
 */
async function pushHuge(redis: OwnRedis, queue: string, uuids: string[], size: number) {
  const body = Buffer.alloc(size, 0x20);
  body.write(`"}`, size - 2);
  for (const uuid of uuids) {
    body.write(`{"UUID":"${uuid}","Name":"work","Args":[{"Type":"string","Value":"`);
    await redis.client.rpush(queue, body);
  }
}

const skip = (await skipReason("redis")) || ownRedisSkipReason();

describeFault(SCENARIO, "redis", skip, () => {
  it("sets every huge body aside in Redis; the task behind them runs", {
    timeout: 120_000,
  }, async () => {
    const children: Child[] = [];
    const redis = await startOwnRedis(["--proto-max-bulk-len", "1gb"]);
    const queue = "faults_bodies";
    const keyPrefix = `${queue}:`;
    const big = Array.from({ length: 13 }, () => newTaskUUID());
    const good = newTaskUUID();
    try {
      await pushHuge(redis, queue, big.slice(0, 12), MB50);
      await pushHuge(redis, queue, big.slice(12), MIB512);
      await redis.client.rpush(
        queue,
        `{"UUID":"${good}","Name":"work","Args":[{"Type":"string","Value":"good"}]}`,
      );
      const worker = await startWorker({
        BROKER_URL: redis.url,
        BACKEND_URL: redis.url,
        QUEUE: queue,
        KEY_PREFIX: keyPrefix,
        CONCURRENCY: "4",
        MAX_MESSAGE_BYTES: String(LIMIT),
      });
      children.push(worker);
      await waitFor(
        async () => (await countStates(redis.client, [good])).get("SUCCESS") === 1,
        "the task behind the huge bodies succeeds",
        60_000,
      );
      await waitFor(
        async () => (await countStates(redis.client, big)).get("FAILURE") === 13,
        "a FAILURE under each huge body's UUID",
        20_000,
      );
      const rss = worker.peakRssMiB();
      assert.ok(worker.alive(), worker.stderr());

      const states = await readStates(redis.client, big);
      states.forEach((state, i) => {
        const size = i < 12 ? MB50 : MIB512;
        assert.equal(state?.Error, `Message of ${size} bytes exceeds the limit of ${LIMIT} bytes`);
      });
      // Each is a dead letter with its reason and a cut body; the store stays small.
      const letters = (await redis.client.lrange(`${keyPrefix}dead:${queue}`, 0, -1)).map((l) =>
        JSON.parse(l)
      );
      assert.equal(letters.length, 13);
      for (const letter of letters) {
        assert.match(letter.reason, /^Message of \d+ bytes exceeds the limit/);
        assert.equal(letter.truncated, true);
        assert.ok(letter.body.length <= 64 * 1024);
      }
      assert.equal(await redis.client.llen(queue), 0);
      assert.ok(rss > 0 && rss < RSS_BOUND_MIB, `the worker's peak RSS was ${rss} MiB`);

      signal(worker, "SIGTERM");
      await worker.exited;
      recordRow({
        scenario: SCENARIO,
        broker: "redis",
        tasks: 1,
        lost: 0,
        duplicated: 0,
        badInputs: 13,
        outcome: "all 13 set aside in Redis, never read; the task behind ran",
        peakRssMiB: rss,
      });
    } finally {
      await killAll(children);
      await redis.stop();
    }
  });
});
