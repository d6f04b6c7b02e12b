/**
 * The AMQP inspector on the real RabbitMQ: counts from passive declares (held and delayed
 * unknown), listing a work queue refused rather than done by consuming, dead letters read
 * without losing or reordering them, and one retried by UUID onto its queue.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Delivery,
  InspectionUnsupportedError,
  newSignature,
  silentLogger,
} from "../../mod.ts";
import { AMQPBroker, AMQPInspector } from "../../src/amqp/mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName } from "./amqp_support.ts";

const skip = await amqpSkipReason();

describeUnless(skip, "amqp inspector", () => {
  const queue = uniqueName("inspect_amqp_lib");
  const exchange = uniqueName("inspect_amqp_x");
  const config = { defaultQueue: queue, amqp: { exchange, bindingKey: queue } };
  after(() => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]));

  it("counts, refuses to list, and keeps dead letters in order", { timeout: 30_000 }, async () => {
    const broker = new AMQPBroker(AMQP_URL, { config, logger: silentLogger });
    const inspector = new AMQPInspector(AMQP_URL, { config });
    const stop = new AbortController();
    try {
      const sent = [1, 2, 3].map((i) =>
        newSignature("add", [{ name: "", type: "int64", value: i }])
      );
      for (const s of sent) await broker.publish(s);
      assert.deepEqual(await inspector.queues(), [
        { queue, ready: 3, delayed: null, held: null, dead: 0 },
      ]);
      await assert.rejects(inspector.pending(queue), InspectionUnsupportedError);
      await assert.rejects(inspector.delayed(), InspectionUnsupportedError);

      const deliveries: Delivery[] = [];
      const consuming = broker.consume(
        { queue, capacity: 3, consumerTag: "rejecter", signal: stop.signal },
        (d) => deliveries.push(d),
      );
      await waitFor(() => deliveries.length === 3, "three deliveries");
      for (const [i, d] of deliveries.entries()) await d.reject(`reason ${i}`);
      stop.abort();
      await consuming;

      const order = (letters: { uuid: string | null }[]) => letters.map((l) => l.uuid);
      const first = await inspector.deadLetters(queue);
      assert.deepEqual(order(first), sent.map((s) => s.uuid));
      assert.deepEqual(first.map((l) => l.reason), ["reason 0", "reason 1", "reason 2"]);
      // Reading gave every letter back, in its place.
      assert.deepEqual(order(await inspector.deadLetters(queue)), sent.map((s) => s.uuid));
      assert.deepEqual(order(await inspector.deadLetters(queue, { offset: 1, limit: 1 })), [
        sent[1].uuid,
      ]);

      assert.equal(await inspector.retryDeadLetters(queue, { uuids: [sent[1].uuid] }), 1);
      assert.deepEqual(order(await inspector.deadLetters(queue)), [sent[0].uuid, sent[2].uuid]);
      assert.deepEqual(await inspector.queues([queue]), [
        { queue, ready: 1, delayed: null, held: null, dead: 2 },
      ]);
      assert.deepEqual(await inspector.locate(sent[2].uuid, [queue]), {
        where: "dead",
        queue,
        reason: "reason 2",
      });
      assert.equal(await inspector.deleteDeadLetters(queue, { all: true }), 2);
      assert.equal(await inspector.purge(queue), 1);
    } finally {
      stop.abort();
      await inspector.close();
      await broker.close();
    }
  });
});
