/**
 * One contract suite for every broker/backend pair: machinery's acceptance scenarios (Go's integration `testAll`)
 * plus the behaviours every adapter must keep (retries through the delay path, callbacks,
 * unregistered tasks, malformed messages). Adapter tests call `conformanceSuite` with a factory.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Backend,
  type Broker,
  type ConfigInput,
  newChain,
  newChord,
  newGroup,
  newSignature,
  results,
  retryLater,
  Server,
  setTaskTimeout,
  silentLogger,
  withContext,
  type Worker,
} from "../../mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { limitsScenarios } from "./limits_scenarios.ts";
import { priorityScenarios } from "./priority_scenarios.ts";

/** A broker and backend made for one suite run, on `config` (which holds a unique queue). */
export interface Pair {
  broker: Broker;
  backend: Backend;
  /** Extra clean-up after the server closed (delete keys, queues). */
  cleanup?: () => Promise<void>;
}

/** Builds the pair under test. */
export type PairFactory = (config: ConfigInput) => Promise<Pair>;

/** Options for a suite run. */
export interface SuiteOptions {
  /** Skip the whole suite with this reason (a server is missing). */
  skip?: string | false;
  /** Extra config (AMQP exchange names and so on). */
  config?: ConfigInput;
  /** The broker takes priorities (Redis with `redis.priorityQueues`): run their scenarios. */
  priorities?: boolean;
}

const TIMEOUT = 30_000;

/** Registers machinery's test task set (Go's `registerTestTasks`) plus a few of ours. */
export function registerTestTasks(server: Server, counters: Map<string, unknown>): void {
  const bump = (key: string) => counters.set(key, ((counters.get(key) as number) ?? 0) + 1);
  server.registerTasks({
    add: (...args: number[]) => args.reduce((a, b) => a + b, 0),
    multiply: (...args: number[]) => args.reduce((a, b) => a * b, 1),
    sum: (numbers: number[]) => numbers.reduce((a, b) => a + b, 0),
    return_just_error: (msg: string, fail: boolean) => {
      if (fail) throw new Error(msg);
    },
    return_multiple_values: (a: string, b: string, fail: boolean) => {
      if (fail) throw new Error("some error");
      return results(a, b);
    },
    panic: () => {
      throw new Error("oops");
    },
    delay_test: () => BigInt(Date.now()) * 1_000_000n,
    flaky: (key: string, failures: number) => {
      bump(key);
      if (((counters.get(key) as number) ?? 0) <= failures) {
        throw new Error(`attempt ${counters.get(key)}`);
      }
      return counters.get(key);
    },
    later_once: (key: string) => {
      bump(key);
      if (counters.get(key) === 1) throw retryLater("not yet", 200);
      return "done";
    },
    on_error: (error: string, key: string) => {
      bump(key);
      counters.set(`${key}:error`, error);
    },
    // Waits `ms` or until its signal fires; notes when it started and why it stopped.
    sleep: withContext(async (ctx, key: string, ms: number) => {
      counters.set(`${key}:started`, true);
      const stopped = await new Promise<unknown>((resolve) => {
        const timer = setTimeout(() => resolve("slept"), ms);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(ctx.signal.reason);
        }, { once: true });
      });
      counters.set(`${key}:stopped`, stopped);
    }),
    record: (key: string, ...rest: string[]) => {
      bump(key);
      counters.set(`${key}:args`, rest.length);
      return rest.join("|");
    },
  });
}

/** Runs the contract suite against the pair the factory makes. */
export function conformanceSuite(name: string, factory: PairFactory, options: SuiteOptions = {}) {
  describeUnless(options.skip, `conformance: ${name}`, () => {
    const queue = `conformance_${crypto.randomUUID().slice(0, 8)}`;
    const counters = new Map<string, unknown>();
    let server: Server;
    let worker: Worker;
    let launched: Promise<void>;
    let pair: Pair;

    before(async () => {
      const config: ConfigInput = {
        ...options.config,
        defaultQueue: queue,
        noUnixSignals: true,
      };
      pair = await factory(config);
      server = new Server({
        config,
        broker: pair.broker,
        backend: pair.backend,
        logger: silentLogger,
      });
      registerTestTasks(server, counters);
      worker = server.newWorker("test_worker", 10);
      launched = worker.launch();
    });

    after(async () => {
      await worker?.quit();
      await launched;
      await server?.close();
      await pair?.cleanup?.();
    });

    it("sends single tasks", { timeout: TIMEOUT }, async () => {
      const add = await server.sendTask(sig("add", ["int64", 1], ["int64", 1]));
      assert.deepEqual(await add.get(), [2]);
      const sum = await server.sendTask(sig("sum", ["[]int64", [1, 2]]));
      assert.deepEqual(await sum.get(), [3]);
    });

    for (const sendConcurrency of [0, 2]) {
      it(`sends a group (send concurrency ${sendConcurrency})`, { timeout: TIMEOUT }, async () => {
        const group = newGroup(...addTasks());
        const asyncResults = await server.sendGroup(group, sendConcurrency);
        const values = [];
        for (const r of asyncResults) {
          const got = await r.get();
          assert.equal(got.length, 1);
          values.push(got[0] as number);
        }
        assert.deepEqual(values.sort((a, b) => a - b), [2, 4, 11]);
      });
    }

    it("sends a chord: (1 + 1) * (2 + 2) * (5 + 6) = 88", { timeout: TIMEOUT }, async () => {
      const chord = newChord(newGroup(...addTasks()), newSignature("multiply"));
      const result = await server.sendChord(chord, 10);
      assert.deepEqual(await result.get(), [88]);
    });

    it("sends a chain: ((2 + 2) + (5 + 6)) * 4 = 60", { timeout: TIMEOUT }, async () => {
      const chain = newChain(
        sig("add", ["int64", 2], ["int64", 2]),
        sig("add", ["int64", 5], ["int64", 6]),
        sig("multiply", ["int64", 4]),
      );
      const result = await server.sendChain(chain);
      assert.deepEqual(await result.get(), [60]);
    });

    it("returns just an error", { timeout: TIMEOUT }, async () => {
      const failing = await server.sendTask(
        sig("return_just_error", ["string", "Test error"], ["bool", true]),
      );
      await assert.rejects(failing.get(), { name: "TaskFailedError", message: "Test error" });
      const ok = await server.sendTask(sig("return_just_error", ["string", ""], ["bool", false]));
      assert.deepEqual(await ok.get(), []);
    });

    it("returns multiple values", { timeout: TIMEOUT }, async () => {
      const ok = await server.sendTask(
        sig("return_multiple_values", ["string", "foo"], ["string", "bar"], ["bool", false]),
      );
      assert.deepEqual(await ok.get(), ["foo", "bar"]);
      const failing = await server.sendTask(
        sig("return_multiple_values", ["string", ""], ["string", ""], ["bool", true]),
      );
      await assert.rejects(failing.get(), { message: "some error" });
    });

    it("fails a panicking task with its message", { timeout: TIMEOUT }, async () => {
      const result = await server.sendTask(newSignature("panic"));
      await assert.rejects(result.get(), { message: "oops" });
      const state = await result.state();
      assert.equal(state.state, "FAILURE");
      assert.equal(state.error, "oops");
    });

    it("never runs a delayed task early", { timeout: TIMEOUT }, async () => {
      const eta = new Date(Date.now() + 300);
      const etaNanos = BigInt(eta.getTime()) * 1_000_000n;
      const result = await server.sendTask(
        newSignature("delay_test", null, { eta: eta.toISOString() }),
      );
      const [ranAt] = await result.get();
      assert.ok(BigInt(ranAt as number | bigint) >= etaNanos, "the task ran before its ETA");
    });

    it("retries with RetryCount and records success", { timeout: TIMEOUT }, async () => {
      const key = `flaky_${crypto.randomUUID()}`;
      const result = await server.sendTask(
        newSignature("flaky", [{ name: "", type: "string", value: key }, {
          name: "",
          type: "int64",
          value: 2,
        }], { retryCount: 3 }),
      );
      assert.deepEqual(await result.get(), [3]);
      assert.equal(counters.get(key), 3);
    });

    it("fails after the last retry and sends OnError with the error first", {
      timeout: TIMEOUT,
    }, async () => {
      const key = `exhausted_${crypto.randomUUID()}`;
      const cbKey = `${key}_cb`;
      const onError = sig("on_error", ["string", cbKey]);
      const result = await server.sendTask(
        newSignature("flaky", [{ name: "", type: "string", value: key }, {
          name: "",
          type: "int64",
          value: 5,
        }], { retryCount: 1, onError: [onError] }),
      );
      await assert.rejects(result.get(), { message: "attempt 2" });
      assert.equal(counters.get(key), 2);
      await waitFor(() => counters.get(cbKey) === 1, "the OnError callback ran");
      assert.equal(counters.get(`${cbKey}:error`), "attempt 2");
      await waitFor(async () => {
        const state = await server.backend.getState(onError.uuid).catch(() => undefined);
        return state?.state === "SUCCESS";
      }, "the OnError callback succeeded");
    });

    it("retries later without using RetryCount", { timeout: TIMEOUT }, async () => {
      const key = `later_${crypto.randomUUID()}`;
      const result = await server.sendTask(sig("later_once", ["string", key]));
      assert.deepEqual(await result.get(), ["done"]);
      assert.equal(counters.get(key), 2);
    });

    it("appends results to OnSuccess unless Immutable", { timeout: TIMEOUT }, async () => {
      const key = `chain_${crypto.randomUUID()}`;
      const mutable = sig("record", ["string", key]);
      const first = sig("return_multiple_values", ["string", "a"], ["string", "b"], [
        "bool",
        false,
      ]);
      first.onSuccess = [mutable];
      await server.sendTask(first);
      await waitFor(() => counters.get(key) === 1, "the mutable callback ran");
      assert.equal(counters.get(`${key}:args`), 2);

      const key2 = `immutable_${crypto.randomUUID()}`;
      const second = sig("return_multiple_values", ["string", "a"], ["string", "b"], [
        "bool",
        false,
      ]);
      second.immutable = true;
      second.onSuccess = [sig("record", ["string", key2])];
      await server.sendTask(second);
      await waitFor(() => counters.get(key2) === 1, "the immutable parent's callback ran");
      assert.equal(counters.get(`${key2}:args`), 0);
    });

    it("fails a task whose arguments do not decode, with Go's text", {
      timeout: TIMEOUT,
    }, async () => {
      const result = await server.sendTask(sig("add", ["int64", "1"]));
      await assert.rejects(result.get(), {
        message: "Reflect task args error: 1 is not int64",
      });
    });

    it("times out a task that runs too long, and takes the next one", {
      timeout: TIMEOUT,
    }, async () => {
      const key = `timeout_${crypto.randomUUID()}`;
      const began = Date.now();
      const slow = await server.sendTask(
        setTaskTimeout(sig("sleep", ["string", key], ["int64", 20_000]), 300),
      );
      await assert.rejects(slow.get(), { message: "task timed out after 0.3s" });
      assert.ok(Date.now() - began < 10_000);
      assert.equal((counters.get(`${key}:stopped`) as Error).name, "TaskAbortedError");
      const next = await server.sendTask(sig("add", ["int64", 1], ["int64", 2]));
      assert.deepEqual(await next.get(), [3]);
    });

    it("cancels a delayed task before it runs, and a running one", {
      timeout: TIMEOUT,
    }, async () => {
      const delayedKey = `cancel_delayed_${crypto.randomUUID()}`;
      const delayed = sig("record", ["string", delayedKey]);
      delayed.eta = new Date(Date.now() + 1000).toISOString();
      await server.sendTask(delayed);
      assert.equal(await server.cancelTask(delayed.uuid), true);
      const runningKey = `cancel_running_${crypto.randomUUID()}`;
      const running = await server.sendTask(
        sig("sleep", ["string", runningKey], ["int64", 20_000]),
      );
      await waitFor(() => counters.get(`${runningKey}:started`), "the long task to start");
      await server.cancelTask(running.signature.uuid);
      await assert.rejects(running.get(), { message: "task cancelled" });
      assert.equal((counters.get(`${runningKey}:stopped`) as Error).message, "task cancelled");
      // Past the delayed task's ETA, a task delayed after it ran; the cancelled one never did.
      const later = sig("add", ["int64", 1], ["int64", 1]);
      later.eta = new Date(Date.now() + 1200).toISOString();
      assert.deepEqual(await (await server.sendTask(later)).get(), [2]);
      assert.equal(counters.get(delayedKey), undefined);
      const state = await server.backend.getState(delayed.uuid);
      assert.equal(`${state.state} ${state.error}`, "FAILURE task cancelled");
    });

    it("does not fire a chord when a member fails", { timeout: TIMEOUT }, async () => {
      const chord = newChord(
        newGroup(sig("add", ["int64", 1]), newSignature("panic")),
        newSignature("multiply"),
      );
      const result = await server.sendChord(chord, 0);
      await assert.rejects(result.get(), { message: "oops" });
      await assert.rejects(server.backend.getState(chord.callback.uuid));
    });

    limitsScenarios(() => ({ server, counters, queue }));
    if (options.priorities) priorityScenarios(() => ({ server, counters }));
  });
}

function sig(name: string, ...args: [string, unknown][]) {
  return newSignature(name, args.map(([type, value]) => ({ name: "", type, value })));
}

function addTasks() {
  return [
    sig("add", ["int64", 1], ["int64", 1]),
    sig("add", ["int64", 2], ["int64", 2]),
    sig("add", ["int64", 5], ["int64", 6]),
  ];
}
