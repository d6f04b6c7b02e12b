/**
 * RabbitMQ restarts while tasks flow (`rabbitmqctl stop_app`, then `start_app`): senders wait
 * and retry, the worker reconnects with back-off, and every task completes. RabbitMQ is started
 * again in a `finally`, whatever happens; the whole test is bounded in time.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type AsyncResult, MemoryBackend, newSignature, Server, silentLogger } from "../../mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import {
  AMQP_URL,
  amqpSkipReason,
  deleteAMQP,
  REQUIRE_SERVICES,
  uniqueName,
  withChannel,
} from "./amqp_support.ts";

const run = promisify(execFile);

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run("rabbitmqctl", args, { timeout: 60_000 });
}

async function ctlSkipReason(): Promise<string | false> {
  const amqp = await amqpSkipReason();
  if (amqp) return amqp;
  try {
    await run("rabbitmqctl", ["-q", "list_vhosts"], { timeout: 30_000 });
    return false;
  } catch (error) {
    if (REQUIRE_SERVICES) return false;
    const reason = `rabbitmqctl is not usable here: ${(error as Error).message}`;
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
}

const skip = await ctlSkipReason();

describeUnless(skip, "amqp across a RabbitMQ restart", () => {
  const exchange = uniqueName("restart_exchange");
  const queue = uniqueName("restart_tasks");

  after(() => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]));

  it("completes every task sent before, during and after the restart", {
    timeout: 150_000,
  }, async () => {
    const server = new Server({
      config: { defaultQueue: queue, noUnixSignals: true, amqp: { exchange } },
      broker: new AMQPBroker(AMQP_URL, {
        config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue, prefetchCount: 5 } },
        publishRetryMs: 90_000,
        logger: silentLogger,
      }),
      backend: new MemoryBackend(),
      logger: silentLogger,
    });
    const done = new Set<string>();
    server.registerTask("work", async (key: string) => {
      await new Promise((r) => setTimeout(r, 50));
      done.add(key);
      return key;
    });
    const worker = server.newWorker("restart", 5);
    const launched = worker.launch();
    const sent: { key: string; result: Promise<AsyncResult> }[] = [];
    let sending = true;
    const send = (async () => {
      for (let i = 0; sending || i < 10; i++) {
        const key = `k${i}`;
        sent.push({
          key,
          result: server.sendTask(newSignature("work", [{ name: "", type: "string", value: key }])),
        });
        await new Promise((r) => setTimeout(r, 40));
        if (i >= 200) break;
      }
    })();
    let stopped = false;
    try {
      await waitFor(() => done.size >= 5, "tasks flow before the restart", 20_000);
      stopped = true;
      await rabbitmqctl("stop_app");
      await waitFor(
        () => withChannel(() => Promise.resolve(false)).catch(() => true),
        "RabbitMQ refuses connections",
        20_000,
      );
      await new Promise((r) => setTimeout(r, 500)); // senders keep sending into the outage
    } finally {
      if (stopped) await rabbitmqctl("start_app");
    }
    try {
      await waitFor(
        () => withChannel(() => Promise.resolve(true)).catch(() => false),
        "RabbitMQ is back",
        30_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      sending = false;
      await send;
      const results = await Promise.all(sent.map((s) => s.result));
      for (const [i, result] of results.entries()) {
        assert.deepEqual(await result.get({ timeout: 60_000 }), [sent[i].key]);
      }
      assert.equal(done.size, sent.length);
    } finally {
      sending = false;
      await worker.quit();
      await launched;
      await server.close();
    }
  });
});
