/** RunSlots: a counting semaphore that serves waiters in order and wakes them all on close. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RunSlots } from "../src/run_slots.ts";

describe("run slots", () => {
  it("hands out at most the limit, then serves waiters first come, first served", async () => {
    const slots = new RunSlots(2);
    const a = await slots.acquire();
    const b = await slots.acquire();
    const order: string[] = [];
    const c = slots.acquire().then((r) => (order.push("c"), r));
    const d = slots.acquire().then((r) => (order.push("d"), r));
    await Promise.resolve();
    assert.deepEqual(order, []);
    a!();
    a!(); // a second release gives nothing more back
    const releaseC = await c;
    assert.deepEqual(order, ["c"]);
    b!();
    await d;
    assert.deepEqual(order, ["c", "d"]);
    assert.equal(typeof releaseC, "function");
  });

  it("gives waiters and later callers undefined once closed", async () => {
    const slots = new RunSlots(1);
    const held = await slots.acquire();
    const waiting = slots.acquire();
    slots.close();
    assert.equal(await waiting, undefined);
    assert.equal(await slots.acquire(), undefined);
    held!(); // releasing after close is harmless
  });
});
