/**
 * The task pages' location cache: a poll reuses a location for at most 30 s from when it was
 * found (reusing it does not extend that), never across a state change, and the cache is bounded.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LOCATE_EVERY_MS, LocationCache } from "../../src/dashboard/_location_cache.ts";

const IN_QUEUE = { location: { where: "queue" as const, queue: "q" }, message: null };

describe("LocationCache", () => {
  it("reuses a location for 30 s from when it was found, and not after a state change", () => {
    let now = 0;
    const cache = new LocationCache(() => now);
    cache.set("a", "PENDING", IN_QUEUE);
    now = LOCATE_EVERY_MS - 1;
    assert.equal(cache.get("a", "PENDING")?.location, IN_QUEUE.location);
    now = LOCATE_EVERY_MS + 1;
    assert.equal(cache.get("a", "PENDING"), undefined, "reusing did not extend the 30 s");
    cache.set("a", "PENDING", IN_QUEUE);
    assert.ok(cache.get("a", "PENDING"), "a fresh location starts a new 30 s");
    assert.equal(cache.get("a", "STARTED"), undefined);
  });

  it("forgets the oldest task past 1,000", () => {
    const cache = new LocationCache(() => 0);
    for (let i = 0; i <= 1000; i++) cache.set(`t${i}`, "PENDING", IN_QUEUE);
    assert.equal(cache.get("t0", "PENDING"), undefined);
    assert.ok(cache.get("t1000", "PENDING"));
  });
});
