/**
 * A consume whose signal is aborted while it is still dialling and declaring (a worker stopped
 * right after launch) ends, instead of waiting for an abort event that already happened.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { describeUnless } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName } from "./amqp_support.ts";

const skip = await amqpSkipReason();

describeUnless(skip, "amqp consume stopped before it started", () => {
  const exchange = uniqueName("consume_abort_x");
  const queue = uniqueName("consume_abort_q");
  after(async () => {
    if (skip) return;
    await deleteAMQP([queue], [exchange]);
  });

  for (const when of ["before the call", "during the set-up"] as const) {
    it(`resolves when aborted ${when}`, { timeout: 30_000 }, async () => {
      const config = { amqp: { exchange, bindingKey: queue }, defaultQueue: queue };
      const broker = new AMQPBroker(AMQP_URL, { config, logger: silentLogger });
      try {
        const stop = new AbortController();
        if (when === "before the call") stop.abort();
        const consuming = broker.consume(
          { queue, capacity: 1, consumerTag: "", signal: stop.signal },
          () => assert.fail("no message was sent"),
        );
        if (when === "during the set-up") stop.abort();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve("still consuming after 10 s"), 10_000);
        });
        assert.equal(await Promise.race([consuming.then(() => "ended"), hung]), "ended");
        clearTimeout(timer);
      } finally {
        await broker.close();
      }
    });
  }
});
