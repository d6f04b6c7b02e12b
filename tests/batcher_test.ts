/** The Redis batcher: one send per turn (or per landed batch), shared outcome, size limit. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Batcher } from "../src/redis/_batcher.ts";

describe("redis batcher", () => {
  it("sends the calls of one turn together, and what gathers meanwhile after it lands", async () => {
    const sent: number[][] = [];
    let answer!: () => void;
    const batcher = new Batcher<number>((items) => {
      sent.push(items);
      return new Promise<void>((r) => (answer = r));
    });
    const first = [batcher.add(1), batcher.add(2)];
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(sent, [[1, 2]]);
    const second = [batcher.add(3), batcher.add(4)];
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(sent, [[1, 2]], "nothing more goes out while a batch is in flight");
    answer();
    await Promise.all(first);
    assert.deepEqual(sent, [[1, 2], [3, 4]]);
    answer();
    await Promise.all(second);
  });

  it("fails every call of a batch whose send fails, and splits at the size limit", async () => {
    const sent: number[][] = [];
    const batcher = new Batcher<number>((items) => {
      sent.push(items);
      return items.includes(2) ? Promise.reject(new Error("down")) : Promise.resolve();
    }, 2);
    const calls = [1, 2, 3].map((n) => batcher.add(n));
    const outcomes = await Promise.allSettled(calls);
    assert.deepEqual(outcomes.map((o) => o.status), ["rejected", "rejected", "fulfilled"]);
    assert.deepEqual(sent, [[1, 2], [3]]);
  });

  it("with isolate, fails only the items the send reports, and the others succeed", async () => {
    const batcher = new Batcher<string>(
      (items) =>
        Promise.resolve(
          new Map(items.flatMap((item, i) => item.startsWith("bad") ? [[i, new Error(item)]] : [])),
        ),
      200,
      true,
    );
    const outcomes = await Promise.allSettled(
      ["a", "bad1", "b", "bad2"].map((i) => batcher.add(i)),
    );
    assert.deepEqual(outcomes.map((o) => o.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
      "rejected",
    ]);
    assert.equal((outcomes[3] as PromiseRejectedResult).reason.message, "bad2");
  });
});
