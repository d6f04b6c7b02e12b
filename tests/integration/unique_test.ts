/**
 * Unique tasks on Redis, through the failure modes that leave Asynq's locks stuck: the key is
 * free again after a dead-lettered task, after the window with no worker at all, and after a
 * send that could not publish; a duplicate sent while the first waits enqueues nothing.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DuplicateTaskError, newSignature, Server, silentLogger, type Worker } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { waitFor } from "../helpers.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./redis_support.ts";

const skip = await redisSkipReason();

describe("unique tasks on Redis", { skip: skip || undefined }, () => {
  const keyPrefix = `${uniqueName("machinery:test:unique")}:`;
  const queue = uniqueName("unique");
  const idle = `${queue}_idle`;
  const config = {
    defaultQueue: queue,
    noUnixSignals: true,
    maxMessageBytes: 4096,
    redis: { delayedTasksKey: `${keyPrefix}delayed` },
  };
  let server: Server;
  let worker: Worker;
  let launched: Promise<void>;
  const redis = rawClient();

  before(() => {
    server = new Server({
      config,
      broker: new RedisBroker(REDIS_URL, { config, logger: silentLogger, keyPrefix }),
      backend: new RedisBackend(REDIS_URL, { config, logger: silentLogger, keyPrefix }),
      logger: silentLogger,
    });
    server.registerTask("echo", (text: string) => text);
    worker = server.newWorker("unique_worker", 4);
    launched = worker.launch();
  });

  after(async () => {
    await worker.quit();
    await launched;
    await server.close();
    await deleteRedisKeys([queue, idle], [keyPrefix]);
    redis.disconnect();
  });

  const echo = (text: string, fields = {}) =>
    newSignature("echo", [{ name: "", type: "string", value: text }], fields);

  it("a duplicate enqueues nothing; the key is the name and the argument bytes", {
    timeout: 20_000,
  }, async () => {
    const text = `same_${crypto.randomUUID()}`;
    const first = echo(text, { routingKey: idle });
    await server.sendTask(first, { uniqueFor: 60_000 });
    await assert.rejects(
      server.sendTask(echo(text, { routingKey: idle }), { uniqueFor: 60_000 }),
      (error) => error instanceof DuplicateTaskError && error.existingUUID === first.uuid,
    );
    // Other arguments are another key.
    await server.sendTask(echo(`${text}_other`, { routingKey: idle }), { uniqueFor: 60_000 });
    assert.equal(await redis.llen(idle), 2);
    const [lock] = await redis.keys(`${keyPrefix}unique:echo:*`);
    assert.ok(lock, "the lock lives under the broker's prefix");
    assert.ok((await redis.pttl(lock)) > 50_000, "with the window as its expiry");
  });

  it("frees the key of a dead-lettered task", { timeout: 20_000 }, async () => {
    const uniqueKey = `dead_${crypto.randomUUID()}`;
    // Over maxMessageBytes: the worker sets it aside and records FAILURE.
    const big = echo("x".repeat(5000));
    const result = await server.sendTask(big, { uniqueFor: 60_000, uniqueKey });
    await waitFor(async () => (await result.state()).state === "FAILURE", "dead-lettered");
    const next = await server.sendTask(echo("small"), { uniqueFor: 60_000, uniqueKey });
    assert.deepEqual(await next.get({ timeout: 10_000 }), ["small"]);
  });

  it("frees the key when the window ends, with no worker at all", { timeout: 20_000 }, async () => {
    const uniqueKey = `window_${crypto.randomUUID()}`;
    const first = echo("a", { routingKey: idle });
    await server.sendTask(first, { uniqueFor: 300, uniqueKey });
    await assert.rejects(
      server.sendTask(echo("a", { routingKey: idle }), { uniqueFor: 300, uniqueKey }),
      { name: "DuplicateTaskError" },
    );
    await waitFor(
      () =>
        server.sendTask(echo("a", { routingKey: idle }), { uniqueFor: 300, uniqueKey }).then(
          () => true,
          () => false,
        ),
      "the window ended",
      5_000,
    );
  });

  it("frees the key of a send that could not publish", { timeout: 20_000 }, async () => {
    const uniqueKey = `unsent_${crypto.randomUUID()}`;
    server.setPrePublishHandler((sig) => {
      if (sig.name === "echo" && sig.args?.[0]?.value === "refused") throw new Error("refused");
    });
    try {
      await assert.rejects(server.sendTask(echo("refused"), { uniqueFor: 60_000, uniqueKey }));
    } finally {
      server.setPrePublishHandler(() => {});
    }
    const next = await server.sendTask(echo("sent"), { uniqueFor: 60_000, uniqueKey });
    assert.deepEqual(await next.get({ timeout: 10_000 }), ["sent"]);
    assert.equal(await redis.exists(`${keyPrefix}unique:${uniqueKey}`), 0, "released at SUCCESS");
  });
});
