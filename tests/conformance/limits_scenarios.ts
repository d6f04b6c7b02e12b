/**
 * The conformance scenarios of rate limits and unique tasks, run by `conformanceSuite` on every
 * broker/backend pair: a rate-limited task never starts faster than its limit and none is lost;
 * a unique task refuses duplicates until it is final, keeps its key through a retry, and frees it
 * after success or failure. A pair that cannot keep unique locks refuses `uniqueFor` with a
 * `SendError` instead.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { DuplicateTaskError, newSignature, type Server, type Signature } from "../../mod.ts";
import { uniqueLocksOf } from "../../src/unique.ts";
import { waitFor } from "../helpers.ts";

const TIMEOUT = 30_000;

/** What the scenarios need from the running suite. */
export interface LimitsContext {
  server: Server;
  counters: Map<string, unknown>;
  queue: string;
}

/** Registers the scenarios; `context` is read when each one runs (after the suite's `before`). */
export function limitsScenarios(context: () => LimitsContext): void {
  it("starts a rate-limited task no faster than its limit, and loses none", {
    timeout: TIMEOUT,
  }, async () => {
    const { server, queue } = context();
    // A name of this run only: the limiter's key is per task name, shared by every worker.
    const name = `limited_${queue}`;
    const starts: number[] = [];
    server.registerTask(name, () => {
      starts.push(Date.now());
    }, { rateLimit: "5/s" });
    const sent = [];
    for (let i = 0; i < 6; i++) sent.push(await server.sendTask(newSignature(name)));
    for (const result of sent) assert.deepEqual(await result.get({ timeout: 20_000 }), []);
    starts.sort((a, b) => a - b);
    assert.equal(starts.length, 6);
    // One start every 200 ms: n starts span at least (n - 1) × 200 ms. A task is never admitted
    // early, but its function may start late: after its RECEIVED and STARTED writes, which take
    // tens of ms on the AMQP backend, and a timer on a busy event loop. 100 ms are tolerated.
    for (let i = 0; i < starts.length; i++) {
      for (let j = i + 1; j < starts.length; j++) {
        const gap = starts[j] - starts[i];
        assert.ok(gap >= (j - i) * 200 - 100, `starts ${i} and ${j} ${gap} ms apart: ${starts}`);
      }
    }
  });

  it("sends a unique task once until it is final, then again", { timeout: TIMEOUT }, async () => {
    const { server } = context();
    const options = { uniqueFor: 60_000, uniqueKey: `unique_${crypto.randomUUID()}` };
    const first = add(2, 3, { eta: new Date(Date.now() + 500).toISOString() });
    if (!uniqueLocksOf(server.broker, server.backend)) {
      await assert.rejects(server.sendTask(first, options), { name: "SendError" });
      return;
    }
    const result = await server.sendTask(first, options);
    const duplicate = add(2, 3);
    await assert.rejects(server.sendTask(duplicate, options), (error) => {
      assert.ok(error instanceof DuplicateTaskError);
      assert.equal(error.existingUUID, first.uuid);
      return true;
    });
    assert.deepEqual(await result.get(), [5]);
    const again = await server.sendTask(add(2, 3), options);
    assert.deepEqual(await again.get(), [5]);
  });

  it("keeps a unique key through a retry and frees it after a failure", {
    timeout: TIMEOUT,
  }, async () => {
    const { server, counters } = context();
    if (!uniqueLocksOf(server.broker, server.backend)) return; // refused, as the test above checks
    const options = { uniqueFor: 60_000, uniqueKey: `unique_${crypto.randomUUID()}` };
    const key = `unique_flaky_${crypto.randomUUID()}`;
    // Fails twice with one retry left: RETRY, then FAILURE.
    const flaky = newSignature("flaky", [
      { name: "", type: "string", value: key },
      { name: "", type: "int64", value: 5 },
    ], { retryCount: 1 });
    const result = await server.sendTask(flaky, options);
    await waitFor(() => counters.get(key) === 1, "the first attempt failed");
    await waitFor(async () => (await result.state()).state !== "STARTED", "RETRY recorded");
    await assert.rejects(server.sendTask(add(1, 1), options), { name: "DuplicateTaskError" });
    await assert.rejects(result.get(), { message: "attempt 2" });
    const next = await server.sendTask(add(1, 1), options);
    assert.deepEqual(await next.get(), [2]);
  });
}

function add(a: number, b: number, fields: Partial<Signature> = {}): Signature {
  return newSignature("add", [
    { name: "", type: "int64", value: a },
    { name: "", type: "int64", value: b },
  ], fields);
}
