/**
 * The AMQP consumer's ack batching, on a fake channel (no RabbitMQ needed): a turn's acks from
 * the oldest unsettled delivery on go out as one multiple-ack, never past a delivery still
 * running; acks behind a running one go one by one; a delivery settled another way is skipped.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Channel, ConsumeMessage } from "amqplib";
import { AckBatcher } from "../../src/amqp/_ack_batcher.ts";

interface AckCall {
  tag: number;
  multiple: boolean;
}

function fakeChannel(calls: AckCall[], fail = false): Channel {
  return {
    ack(message: ConsumeMessage, allUpTo?: boolean) {
      if (fail) throw new Error("Channel closed");
      calls.push({ tag: message.fields.deliveryTag, multiple: allUpTo === true });
    },
  } as unknown as Channel;
}

function message(tag: number): ConsumeMessage {
  return { fields: { deliveryTag: tag } } as unknown as ConsumeMessage;
}

describe("amqp ack batcher", () => {
  it("acks a turn's deliveries from the oldest on with one multiple-ack", async () => {
    const calls: AckCall[] = [];
    const acks = new AckBatcher(fakeChannel(calls));
    const entries = [1, 2, 3, 4].map((tag) => acks.track(message(tag)));
    await Promise.all([acks.ack(entries[2]), acks.ack(entries[0]), acks.ack(entries[1])]);
    assert.deepEqual(calls, [{ tag: 3, multiple: true }]);
    await acks.ack(entries[3]);
    assert.deepEqual(calls.at(-1), { tag: 4, multiple: false });
  });

  it("never acks past a delivery still running: later acks go one by one", async () => {
    const calls: AckCall[] = [];
    const acks = new AckBatcher(fakeChannel(calls));
    const entries = [1, 2, 3, 4, 5].map((tag) => acks.track(message(tag)));
    await Promise.all([acks.ack(entries[0]), acks.ack(entries[2]), acks.ack(entries[3])]);
    assert.deepEqual(calls, [
      { tag: 1, multiple: false },
      { tag: 3, multiple: false },
      { tag: 4, multiple: false },
    ]);
    // The gap closes: the next batch starts at delivery 2 and skips 3 and 4, already acked.
    calls.length = 0;
    await Promise.all([acks.ack(entries[1]), acks.ack(entries[4])]);
    assert.deepEqual(calls, [{ tag: 5, multiple: true }]);
  });

  it("skips a delivery settled another way, and refuses to ack it", async () => {
    const calls: AckCall[] = [];
    const acks = new AckBatcher(fakeChannel(calls));
    const entries = [1, 2, 3].map((tag) => acks.track(message(tag)));
    const nacked: number[] = [];
    acks.settleNow(entries[1], () => nacked.push(2));
    await assert.rejects(() => acks.ack(entries[1]), /not open/);
    await Promise.all([acks.ack(entries[0]), acks.ack(entries[2])]);
    assert.deepEqual(nacked, [2]);
    assert.deepEqual(calls, [{ tag: 3, multiple: true }]);
  });

  it("sends pending acks before settling another way, so the order holds", async () => {
    const calls: AckCall[] = [];
    const acks = new AckBatcher(fakeChannel(calls));
    const entries = [1, 2].map((tag) => acks.track(message(tag)));
    const acked = acks.ack(entries[0]);
    acks.settleNow(entries[1], () => calls.push({ tag: 2, multiple: false }));
    await acked;
    assert.deepEqual(calls, [{ tag: 1, multiple: false }, { tag: 2, multiple: false }]);
  });

  it("rejects the waiting acks when the channel cannot send", async () => {
    const acks = new AckBatcher(fakeChannel([], true));
    const entries = [1, 2].map((tag) => acks.track(message(tag)));
    const results = await Promise.allSettled(entries.map((e) => acks.ack(e)));
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  });

  it("keeps working across many deliveries (the settled front is dropped)", async () => {
    const calls: AckCall[] = [];
    const acks = new AckBatcher(fakeChannel(calls));
    let tag = 0;
    const running = [acks.track(message(++tag))]; // stays running for a while
    for (let round = 0; round < 50; round++) {
      const batch = Array.from({ length: 100 }, () => acks.track(message(++tag)));
      await Promise.all(batch.map((e) => acks.ack(e)));
    }
    assert.equal(calls.length, 5000);
    assert.ok(calls.every((c) => !c.multiple));
    calls.length = 0;
    const last = acks.track(message(++tag));
    await Promise.all([acks.ack(running[0]), acks.ack(last)]);
    assert.deepEqual(calls, [{ tag, multiple: true }]);
  });
});
