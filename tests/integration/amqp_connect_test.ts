/**
 * Failing fast when RabbitMQ is unreachable: `connect()` on the AMQP broker and backend dials each
 * URL once and rejects within a second or two with the URL in the message (password hidden),
 * `Server.fromConfig` does the same through `createBroker`/`createBackend`, failover to a later
 * URL works, and `connect()` is idempotent on a reachable RabbitMQ.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newTaskUUID, Server } from "../../mod.ts";
import { decodeSignature } from "../../src/wire/mod.ts";
import { resolveConfig } from "../../src/config.ts";
import {
  AMQPBackend,
  AMQPBroker,
  AMQPError,
  createBackend,
  createBroker,
} from "../../src/amqp/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { describeUnless } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName, withChannel } from "./amqp_support.ts";

/** Nothing listens on port 1: the connect is refused at once. */
const CLOSED = "amqp://guest:s3cr3t-pw@127.0.0.1:1/";
/** Well under the ~30 s a publish keeps retrying for. */
const FAST_MS = 3000;

async function rejectsFast(
  what: () => Promise<unknown>,
  check: (error: Error) => void,
): Promise<void> {
  const start = performance.now();
  await assert.rejects(what, (error: Error) => {
    check(error);
    return true;
  });
  const ms = performance.now() - start;
  assert.ok(ms < FAST_MS, `took ${Math.round(ms)} ms`);
}

function namesClosedURL(error: Error): void {
  assert.ok(error instanceof AMQPError, `${error.name}: ${error.message}`);
  assert.match(
    error.message,
    /^Could not connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1\//,
  );
  assert.ok(!error.message.includes("s3cr3t"), error.message);
}

describe("amqp connect: unreachable RabbitMQ", () => {
  it("broker.connect() rejects at once with the URL, password hidden", async () => {
    const broker = new AMQPBroker(CLOSED, { logger: silentLogger });
    try {
      await rejectsFast(() => broker.connect(), namesClosedURL);
      // Nothing is cached: a second call dials again and fails the same way.
      await rejectsFast(() => broker.connect(), namesClosedURL);
    } finally {
      await broker.close();
    }
  });

  it("backend.connect() rejects at once with the URL, password hidden", async () => {
    const backend = new AMQPBackend(CLOSED);
    try {
      await rejectsFast(() => backend.connect(), namesClosedURL);
    } finally {
      await backend.close();
    }
  });

  it("createBroker and createBackend connect before they resolve", async () => {
    const config = resolveConfig({ broker: CLOSED, resultBackend: CLOSED });
    await rejectsFast(() => createBroker(CLOSED, { config: config }), namesClosedURL);
    await rejectsFast(() => createBackend(CLOSED, { config: config }), namesClosedURL);
  });

  it("Server.fromConfig fails fast on an unreachable broker", async () => {
    await rejectsFast(
      () => Server.fromConfig({ broker: CLOSED, resultBackend: "memory://" }, silentLogger),
      namesClosedURL,
    );
  });

  it("names every URL of a failover list with its reason", async () => {
    const other = "amqp://bob:hunter2@127.0.0.1:2/vh";
    const config = resolveConfig({ multipleBrokerSeparator: ",", broker: `${CLOSED},${other}` });
    await rejectsFast(() => createBroker(`${CLOSED},${other}`, { config }), (error) => {
      assert.ok(error instanceof AMQPError);
      assert.match(error.message, /amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1\/ \(.+\)/);
      assert.match(error.message, /amqp:\/\/bob:\*\*\*@127\.0\.0\.1:2\/vh \(.+\)/);
      assert.ok(!/s3cr3t|hunter2/.test(error.message), error.message);
    });
  });

  it("connect() after close() rejects", async () => {
    const broker = new AMQPBroker(CLOSED, { logger: silentLogger });
    await broker.close();
    await assert.rejects(() => broker.connect());
    const backend = new AMQPBackend(CLOSED);
    await backend.close();
    await assert.rejects(() => backend.connect(), /closed/);
  });
});

const skip = await amqpSkipReason();

describeUnless(skip, "amqp connect: reachable RabbitMQ", () => {
  it("fails over to a later URL and stays connected", { timeout: 15_000 }, async () => {
    const queue = uniqueName("connect_queue");
    const exchange = uniqueName("connect_exchange");
    const config = resolveConfig({
      multipleBrokerSeparator: ",",
      broker: `${CLOSED},${AMQP_URL}`,
      defaultQueue: queue,
      amqp: { exchange, bindingKey: queue },
    });
    const broker = await createBroker(config.broker, { config: config });
    try {
      // Idempotent: the open connection is reused.
      await (broker as AMQPBroker).connect();
      await broker.publish(decodeSignature(JSON.stringify({ UUID: newTaskUUID(), Name: "x" })));
      const count = await withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
      assert.equal(count, 1);
    } finally {
      await broker.close();
      await deleteAMQP([queue], [exchange]);
    }
  });

  it("backend.connect() resolves and is idempotent", { timeout: 15_000 }, async () => {
    const backend = new AMQPBackend(AMQP_URL);
    try {
      await Promise.all([backend.connect(), backend.connect()]);
      await backend.connect();
    } finally {
      await backend.close();
    }
  });
});
