/**
 * Rate-limit texts and the GCRA step: what `100/s:20` means, what is refused, and that the
 * reservations of a burst and of the steady rate come out evenly spaced.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { gcra, localRateLimiter, parseRateLimit } from "../src/rate_limit.ts";
import { backOff } from "../src/rate_gate.ts";

describe("rate limits", () => {
  it("parses counts per second, minute and hour, with a burst", () => {
    assert.deepEqual(parseRateLimit("100/s"), { intervalMs: 10, burst: 1, text: "100/s" });
    assert.deepEqual(parseRateLimit("30/m:5"), { intervalMs: 2000, burst: 5, text: "30/m:5" });
    assert.equal(parseRateLimit("2/h").intervalMs, 1_800_000);
    for (const bad of ["", "100", "0/s", "10/d", "10/s:0", "-1/s", "ten/s"]) {
      assert.throws(() => parseRateLimit(bad), { name: "RateLimitError" }, bad);
    }
  });

  it("lets a burst start at once, then one per interval", () => {
    const limit = parseRateLimit("10/s:3");
    let tat = 0;
    const waits = [];
    for (let i = 0; i < 6; i++) {
      const step = gcra(tat, 1000, limit);
      tat = step.tat;
      waits.push(step.wait);
    }
    assert.deepEqual(waits, [0, 0, 0, 100, 200, 300]);
    // After an idle second, the burst is back.
    assert.equal(gcra(tat, 3000, limit).wait, 0);
  });

  it("reserves distinct starts in one process", async () => {
    let now = 0;
    const limiter = localRateLimiter(() => now);
    const limit = parseRateLimit("20/s");
    const waits = [];
    for (let i = 0; i < 4; i++) waits.push(await limiter.reserve("add", limit));
    assert.deepEqual(waits, [0, 50, 100, 150]);
    now = 1000;
    assert.equal(await limiter.reserve("add", limit), 0);
    assert.equal(await limiter.reserve("other", limit), 0);
  });

  it("gives a message back for a power of two of ms, short of its start", () => {
    assert.equal(backOff(600), 256);
    assert.equal(backOff(1000), 512);
    assert.equal(backOff(9950), 8192);
  });
});
