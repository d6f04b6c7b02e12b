/**
 * The worker's own rules on the memory engine: state order, handlers, context, concurrency,
 * bad input, unregistered tasks, graceful and abrupt stops.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  MemoryBackend,
  MemoryBroker,
  newSignature,
  retryLater,
  Server,
  silentLogger,
  type TaskState,
  withContext,
  WorkerQuitAbruptlyError,
} from "../mod.ts";
import { encodeSignature } from "../src/wire/mod.ts";
import { waitFor } from "./helpers.ts";

const TIMEOUT = { timeout: 20_000 };

function makeServer(config = {}) {
  const broker = new MemoryBroker();
  const backend = new MemoryBackend();
  const server = new Server({
    broker,
    backend,
    config: { noUnixSignals: true, ...config },
    logger: silentLogger,
  });
  return { server, broker, backend };
}

/** Records every state write, in order, by wrapping the backend's setters. */
function recordStates(backend: MemoryBackend): string[] {
  const seen: string[] = [];
  for (
    const name of [
      "setStatePending",
      "setStateReceived",
      "setStateStarted",
      "setStateRetry",
      "setStateSuccess",
      "setStateFailure",
    ] as const
  ) {
    const original = backend[name].bind(backend) as (...a: unknown[]) => Promise<void>;
    (backend as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      seen.push(name.slice("setState".length).toUpperCase());
      return original(...args);
    };
  }
  return seen;
}

describe("worker", () => {
  it(
    "writes PENDING, RECEIVED, STARTED, SUCCESS in order, with handlers around the call",
    TIMEOUT,
    async () => {
      const { server, backend } = makeServer();
      const states = recordStates(backend);
      const events: string[] = [];
      server.registerTask("add", (a: number, b: number) => {
        events.push("call");
        return a + b;
      });
      const worker = server.newWorker("w", 1);
      worker.setPreTaskHandler((sig) => events.push(`pre:${sig.name}`));
      worker.setPostTaskHandler((sig) => events.push(`post:${sig.name}`));
      const running = worker.launch();
      const result = await server.sendTask(newSignature("add", [
        { name: "", type: "int64", value: 2 },
        { name: "", type: "int64", value: 3 },
      ]));
      assert.deepEqual(await result.get(), [5]);
      await waitFor(() => events.includes("post:add"), "the post-task handler");
      assert.deepEqual(states, ["PENDING", "RECEIVED", "STARTED", "SUCCESS"]);
      assert.deepEqual(events, ["pre:add", "call", "post:add"]);
      const state = await result.state();
      assert.equal(state.taskName, "add", "TaskName survives later states");
      await worker.quit();
      await running;
      await server.close();
    },
  );

  it("gives a typed API from registerTask", TIMEOUT, async () => {
    const { server } = makeServer();
    const concat = server.registerTask("concat", (parts: string[]) => parts.join(""));
    const worker = server.newWorker("w", 2);
    const running = worker.launch();
    const sig = concat.signature(["a", "b"]);
    assert.equal(sig.args?.[0].type, "[]string");
    const result = await server.sendTask(sig);
    const [joined] = await result.get();
    assert.equal(joined, "ab");
    await worker.quit();
    await running;
    await server.close();
  });

  it("passes the signature and an abort signal to a context task", TIMEOUT, async () => {
    const { server } = makeServer();
    const seen: string[] = [];
    server.registerTask(
      "whoami",
      withContext((ctx, suffix: string) => {
        seen.push(String(ctx.signal.aborted));
        return ctx.signature.uuid + suffix;
      }),
    );
    const worker = server.newWorker("w", 1);
    const running = worker.launch();
    const sig = newSignature("whoami", [{ name: "", type: "string", value: "!" }]);
    const result = await server.sendTask(sig);
    assert.deepEqual(await result.get(), [`${sig.uuid}!`]);
    assert.deepEqual(seen, ["false"]);
    await worker.quit();
    await running;
    await server.close();
  });

  it("never runs more tasks at once than its concurrency", TIMEOUT, async () => {
    const { server } = makeServer();
    let running = 0;
    let peak = 0;
    server.registerTask("slow", async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    });
    const worker = server.newWorker("w", 3);
    const launched = worker.launch();
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await server.sendTask(newSignature("slow")));
    for (const r of results) await r.get();
    assert.equal(peak, 3);
    await worker.quit();
    await launched;
    await server.close();
  });

  it(
    "holds prefetched tasks without starting them, and gives them back on quit",
    TIMEOUT,
    async () => {
      const { server, backend } = makeServer();
      const started: number[] = [];
      let finish!: () => void;
      const gate = new Promise<void>((r) => (finish = r));
      server.registerTask("gated", async (i: number) => {
        started.push(i);
        await gate;
      });
      const worker = server.newWorker("w", 1, { prefetch: 2 });
      assert.equal(worker.prefetch, 2);
      const launched = worker.launch();
      const sigs = [0, 1, 2, 3].map((i) =>
        newSignature("gated", [{ name: "", type: "int64", value: i }])
      );
      for (const sig of sigs) await server.sendTask(sig);
      await waitFor(() => worker.activeTasks === 3, "one running and two prefetched");
      assert.deepEqual(started, [0]);
      // Prefetched tasks have not started: no state beyond PENDING.
      for (const sig of sigs.slice(1)) {
        assert.equal(
          (await backend.getState(sig.uuid)).state,
          "PENDING",
        );
      }
      const quitting = worker.quit();
      finish();
      await quitting;
      await launched;
      assert.deepEqual(started, [0]);
      assert.equal((await backend.getState(sigs[0].uuid)).state, "SUCCESS");
      const pending = await server.broker.getPendingTasks!();
      assert.deepEqual(pending.map((s) => s.uuid).sort(), sigs.slice(1).map((s) => s.uuid).sort());
      await server.close();
    },
  );

  it(
    "sets aside malformed and oversized messages with a reason, and goes on",
    TIMEOUT,
    async () => {
      const { server, broker, backend } = makeServer({ maxMessageBytes: 10_000 });
      server.registerTask("add", (a: number, b: number) => a + b);
      const worker = server.newWorker("w", 2);
      const running = worker.launch();
      const errors: string[] = [];
      worker.setErrorHandler((e) => errors.push(e.message));
      const bad = [
        "{not json",
        '{"UUID":"task_bad_priority","Name":"add","Priority":300}',
        `{"UUID":"task_huge","Name":"add","Args":[{"Type":"string","Value":"${
          "x".repeat(20_000)
        }"}]}`,
        "[".repeat(5000),
        "{}",
        "null",
        '{"UUID":"task_no_name","Args":null}',
      ];
      const good = newSignature("add", [
        { name: "", type: "int64", value: 1 },
        { name: "", type: "int64", value: 2 },
      ]);
      await backend.setStatePending(good);
      good.routingKey = "machinery_tasks";
      good.headers = {};
      // The good task shares the queue with the bad bytes and must still succeed.
      for (const body of bad) broker.publishRaw("machinery_tasks", body);
      broker.publishRaw("machinery_tasks", encodeSignature(good));
      const state = await waitFor(async () => {
        const s = await backend.getState(good.uuid);
        return s.state === "SUCCESS" ? s : undefined;
      }, "the good task succeeded");
      assert.equal(state.state, "SUCCESS");
      await waitFor(() => broker.deadLetters.length === bad.length, "every bad message set aside");
      // Several messages are handled at once (prefetch), so they are set aside in any order.
      const reasons = bad.map((body) => broker.deadLetters.find((d) => d.body === body)?.reason);
      assert.match(reasons[0]!, /^Could not unmarshal '\{not json' into a task signature: /);
      assert.match(reasons[1]!, /Signature\.Priority of type uint8/);
      assert.match(reasons[2]!, /exceeds the limit of 10000 bytes/);
      assert.match(reasons[3]!, /Could not unmarshal/);
      assert.deepEqual(reasons.slice(4), [
        "Message '{}' names no task",
        "Message 'null' names no task",
        `Message '{"UUID":"task_no_name","Args":null}' names no task`,
      ]);
      assert.equal((await backend.getState("task_no_name")).state, "FAILURE");
      const priorityState = await backend.getState("task_bad_priority");
      assert.equal(priorityState.state, "FAILURE");
      assert.match(priorityState.error, /uint8/);
      const hugeState = await backend.getState("task_huge");
      assert.equal(hugeState.state, "FAILURE");
      await worker.quit();
      await running;
      await server.close();
    },
  );

  it(
    "requeues an unregistered task with a growing delay, never in a hot loop",
    TIMEOUT,
    async () => {
      const { server, broker } = makeServer();
      let deliveries = 0;
      const consume = broker.consume.bind(broker);
      broker.consume = (options, handler) =>
        consume(options, (delivery) => {
          deliveries++;
          handler(delivery);
        });
      const worker = server.newWorker("w", 1);
      const running = worker.launch();
      const sig = newSignature("nobody_has_this");
      await server.sendTask(sig);
      // A hot loop would deliver it thousands of times in 1.5 s; the back-off (1 s, 2 s …) twice.
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(deliveries >= 1 && deliveries <= 2, `delivered ${deliveries} times`);
      const held = await broker.getDelayedTasks();
      assert.deepEqual(held.map((s) => s.uuid), [sig.uuid], "the task is held, not lost");
      await worker.quit();
      await running;
      await server.close();
    },
  );

  it("drops an unregistered task marked IgnoreWhenTaskNotRegistered", TIMEOUT, async () => {
    const { server, broker } = makeServer();
    const worker = server.newWorker("w", 1);
    const running = worker.launch();
    const sig = newSignature("nobody_has_this", null, { ignoreWhenTaskNotRegistered: true });
    await server.sendTask(sig);
    await waitFor(async () => (await broker.getPendingTasks()).length === 0, "the message dropped");
    assert.equal((await broker.getDelayedTasks()).length, 0);
    await worker.quit();
    await running;
    await server.close();
  });

  it("quit waits for running tasks and takes no new ones", TIMEOUT, async () => {
    const { server, broker } = makeServer();
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    let started = 0;
    server.registerTask("wait", async () => {
      started++;
      await gate;
      return "done";
    });
    const worker = server.newWorker("w", 1);
    const running = worker.launch();
    const first = await server.sendTask(newSignature("wait"));
    await waitFor(() => started === 1, "the first task started");
    const second = await server.sendTask(newSignature("wait"));
    let quitDone = false;
    const quitting = worker.quit().then(() => quitDone = true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(quitDone, false, "quit returned while a task was running");
    release();
    await quitting;
    await running;
    assert.deepEqual(await first.get(), ["done"]);
    assert.equal(started, 1, "the worker took a task after quit");
    const pending = await broker.getPendingTasks();
    assert.deepEqual(pending.map((s) => s.uuid), [second.signature.uuid]);
    await server.close();
  });

  it(
    "abort stops at once, signals the task, and leaves its message for redelivery",
    TIMEOUT,
    async () => {
      const { server, broker, backend } = makeServer();
      let sawAbort = false;
      server.registerTask(
        "forever",
        withContext((ctx) =>
          new Promise((_, reject) => {
            ctx.signal.addEventListener("abort", () => {
              sawAbort = true;
              reject(ctx.signal.reason);
            });
          })
        ),
      );
      // A task that stops early and returns normally when aborted.
      server.registerTask(
        "stops_early",
        withContext((ctx) =>
          new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("early")))
        ),
      );
      const worker = server.newWorker("w", 2);
      const running = worker.launch();
      const sigs = [newSignature("forever"), newSignature("stops_early")];
      for (const sig of sigs) await server.sendTask(sig);
      for (const sig of sigs) {
        await waitFor(
          async () => (await backend.getState(sig.uuid)).state === "STARTED",
          "started",
        );
      }
      worker.abort();
      await assert.rejects(running, WorkerQuitAbruptlyError);
      await waitFor(() => sawAbort, "the task saw its signal");
      await new Promise((r) => setTimeout(r, 20)); // let any stray state write land
      await server.close();
      for (const sig of sigs) {
        const state: TaskState = await backend.getState(sig.uuid);
        assert.equal(state.state, "STARTED", `${sig.name}: nothing is recorded after an abort`);
      }
      const pending = await broker.getPendingTasks();
      assert.deepEqual(
        pending.map((s) => s.uuid).sort(),
        sigs.map((s) => s.uuid).sort(),
        "the messages are back in their queue",
      );
    },
  );

  it(
    "refuses a retry whose ETA is beyond year 9999 with a FAILURE, instead of leaving it RETRY",
    TIMEOUT,
    async () => {
      const { server, backend } = makeServer();
      const states = recordStates(backend);
      server.registerTask("later", () => {
        throw retryLater("not now", 1e16); // about 317,000 years
      });
      server.registerTask("fails", () => {
        throw new Error("fails");
      });
      const worker = server.newWorker("w", 2);
      const running = worker.launch();
      const later = await server.sendTask(newSignature("later"));
      // Fibonacci's next step after this timeout (in seconds) is beyond year 9999 too.
      const fails = await server.sendTask(
        newSignature("fails", null, { retryCount: 3, retryTimeout: 1e12 }),
      );
      for (const result of [later, fails]) {
        await assert.rejects(result.get({ timeout: 5_000 }), { message: /beyond year 9999/ });
      }
      assert.ok(!states.includes("RETRY"), `states: ${states.join(", ")}`);
      await worker.quit();
      await running;
      await server.close();
    },
  );

  it(
    "fails a task whose result cannot be stored, instead of leaving it STARTED",
    TIMEOUT,
    async () => {
      const { server } = makeServer();
      server.registerTask("nan", () => NaN);
      const worker = server.newWorker("w", 1);
      const running = worker.launch();
      const result = await server.sendTask(newSignature("nan"));
      await assert.rejects(result.get(), { message: /unsupported value: NaN/ });
      await worker.quit();
      await running;
      await server.close();
    },
  );

  it("gets with a timeout", TIMEOUT, async () => {
    const { server } = makeServer();
    const result = await server.sendTask(newSignature("never_consumed"));
    await assert.rejects(result.getWithTimeout(50, 5), { name: "TimeoutReachedError" });
    await server.close();
  });
});
