import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RetryTaskLaterError } from "../mod.ts";
import { fibonacciNext } from "../src/retry.ts";
import { formatGoDuration } from "../src/retry.ts";

describe("retry timing", () => {
  it("follows machinery's FibonacciNext", () => {
    const cases: [number, number][] = [[0, 1], [1, 2], [3, 5], [4, 5], [5, 8], [8, 13]];
    for (const [n, next] of cases) assert.equal(fibonacciNext(n), next, `next after ${n}`);
  });

  it("gives the delays 1, 2, 3, 5, 8, 13, 21, 34 from 0 and 13, 21, 34, 55 from 10", () => {
    const from = (start: number, count: number) => {
      const out: number[] = [];
      for (let t = start; out.length < count;) out.push(t = fibonacciNext(t));
      return out;
    };
    assert.deepEqual(from(0, 8), [1, 2, 3, 5, 8, 13, 21, 34]);
    assert.deepEqual(from(10, 4), [13, 21, 34, 55]);
  });

  it("formats durations like Go", () => {
    assert.equal(formatGoDuration(4 * 3_600_000), "4h0m0s");
    assert.equal(formatGoDuration(1500), "1.5s");
    assert.equal(formatGoDuration(90_000), "1m30s");
    assert.equal(formatGoDuration(250), "250ms");
  });

  it("words the retry-later error as machinery does", () => {
    const error = new RetryTaskLaterError("some error", 4 * 3_600_000);
    assert.equal(error.message, "Task error: some error Will retry in: 4h0m0s");
    assert.equal(error.name, "RetryTaskLaterError");
    assert.equal(error.retryInMs, 14_400_000);
  });
});
