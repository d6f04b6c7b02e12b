/** The memory broker's timers: a far ETA or requeue delay never overflows into an early run. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryBroker } from "../src/memory/broker.ts";
import { etaFromDate, newSignature } from "../src/wire/signature.ts";
import { decodeSignature } from "../src/wire/mod.ts";
import type { Delivery } from "../src/broker.ts";
import { waitFor } from "./helpers.ts";

const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;

/**
 * Consumes the default queue, recording each delivered task's name, until a task named "near"
 * (published with a 50 ms ETA) arrives; returns the names seen by then.
 */
async function namesUntilNear(
  broker: MemoryBroker,
  settle: (name: string, delivery: Delivery) => Promise<void>,
): Promise<string[]> {
  const seen: string[] = [];
  const controller = new AbortController();
  const consuming = broker.consume(
    { queue: "machinery_tasks", consumerTag: "test", capacity: 10, signal: controller.signal },
    (delivery) => {
      const name = decodeSignature(delivery.body).name;
      seen.push(name);
      void settle(name, delivery);
    },
  );
  const near = newSignature("near", []);
  near.eta = etaFromDate(new Date(Date.now() + 50));
  await broker.publish(near);
  await waitFor(() => seen.includes("near"), "the near task", 5_000);
  controller.abort();
  await consuming;
  await broker.close();
  return seen;
}

describe("memory broker: far delays", () => {
  it("a task due in 30 days is not delivered before one due in 50 ms", async () => {
    const broker = new MemoryBroker();
    const far = newSignature("far", []);
    far.eta = etaFromDate(new Date(Date.now() + THIRTY_DAYS_MS));
    await broker.publish(far);
    assert.deepEqual(await namesUntilNear(broker, (_, d) => d.ack()), ["near"]);
  });

  it("a requeue delay of 30 days is kept, not run at once", async () => {
    const broker = new MemoryBroker();
    await broker.publish(newSignature("far", []));
    const seen = await namesUntilNear(
      broker,
      (name, d) => name === "far" && !d.redelivered ? d.requeue(THIRTY_DAYS_MS) : d.ack(),
    );
    assert.deepEqual(seen, ["far", "near"]);
  });
});
