/**
 * The conformance scenario of priorities, run by `conformanceSuite` on a pair whose broker takes
 * priorities (the Redis broker with `redis.priorityQueues`): tasks of every level, sent at once
 * or delayed, each run once with the right result, and none is lost; tasks due together start
 * highest priority first; a task that fails with a priority is retried and still completes.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, type Server, type Signature } from "../../mod.ts";

const TIMEOUT = 30_000;

/** What the scenarios need from the running suite. */
export interface PriorityContext {
  server: Server;
  counters: Map<string, unknown>;
}

/** Registers the scenarios; `context` is read when each one runs (after the suite's `before`). */
export function priorityScenarios(context: () => PriorityContext): void {
  it("runs tasks of every priority, at once or delayed, once each", {
    timeout: TIMEOUT,
  }, async () => {
    const { server } = context();
    const soon = () => new Date(Date.now() + 300).toISOString();
    const priorities = [0, 1, 5, 9, 255];
    const sent = [];
    for (const [i, priority] of priorities.entries()) {
      sent.push(await server.sendTask(add(i, 100, { priority })));
      sent.push(await server.sendTask(add(i, 200, { priority, eta: soon() })));
    }
    const got = await Promise.all(sent.map((result) => result.get({ timeout: 20_000 })));
    assert.deepEqual(got, priorities.flatMap((_, i) => [[i + 100], [i + 200]]));
  });

  it("starts tasks due together highest priority first", { timeout: TIMEOUT }, async () => {
    const { server } = context();
    const name = `priority_order_${crypto.randomUUID().slice(0, 8)}`;
    const started: string[] = [];
    server.registerTask(name, (label: string) => {
      started.push(label);
    });
    // One ETA for all: the delayed mover puts them on their lists in one step, and the worker's
    // next fetch picks them by priority (within a level the mover's order is the member's).
    const eta = new Date(Date.now() + 500).toISOString();
    const sent = [];
    for (let i = 0; i < 3; i++) {
      for (const priority of [0, 1, 5]) {
        sent.push(
          await server.sendTask(
            newSignature(name, [{ name: "", type: "string", value: `p${priority}` }], {
              priority,
              eta,
            }),
          ),
        );
      }
    }
    await Promise.all(sent.map((result) => result.get({ timeout: 20_000 })));
    assert.deepEqual(started, ["p5", "p5", "p5", "p1", "p1", "p1", "p0", "p0", "p0"]);
  });

  it("retries a failing priority task until it succeeds", { timeout: TIMEOUT }, async () => {
    const { server, counters } = context();
    const key = `flaky_priority_${crypto.randomUUID()}`;
    const result = await server.sendTask(newSignature("flaky", [
      { name: "", type: "string", value: key },
      { name: "", type: "int64", value: 1 },
    ], { priority: 3, retryCount: 2, retryTimeout: 1 }));
    assert.deepEqual(await result.get({ timeout: 20_000 }), [2]);
    assert.equal(counters.get(key), 2);
  });
}

function add(a: number, b: number, fields: Partial<Signature> = {}): Signature {
  return newSignature("add", [
    { name: "", type: "int64", value: a },
    { name: "", type: "int64", value: b },
  ], fields);
}
