/**
 * Timeouts, deadlines and expiry on the memory engine: the task's signal fires, the outcome is
 * FAILURE with a clear text (or a retry), a task that ignores its signal frees its slot after the
 * grace period, and an expired task never runs.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Logger,
  MemoryBackend,
  MemoryBroker,
  newSignature,
  Server,
  setTaskDeadline,
  setTaskExpiry,
  setTaskTimeout,
  silentLogger,
  TaskAbortedError,
  withContext,
} from "../mod.ts";
import { DeadlineTimers } from "../src/deadline_timers.ts";
import { waitFor } from "./helpers.ts";
import { withWorker } from "./worker_session.ts";

const TIMEOUT = { timeout: 20_000 };

function makeServer(logger: Logger = silentLogger) {
  const server = new Server({
    broker: new MemoryBroker(),
    backend: new MemoryBackend(),
    config: { noUnixSignals: true },
    logger,
  });
  return server;
}

/** Waits until `ms` passed or the signal fired; resolves with the signal's reason, if any. */
function sleepOrAbort(ms: number, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("slept"), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(signal.reason);
    }, { once: true });
  });
}

function recordingLogger(lines: string[]): Logger {
  const push = (m: string) => lines.push(m);
  return { ...silentLogger, info: push, warn: push, error: push, debug: push };
}

/** Registers `slow`, which waits 10 s or until its signal fires; counts its runs. */
function registerSlow(server: Server, timeout?: number): { count: number } {
  const runs = { count: 0 };
  server.registerTask(
    "slow",
    withContext(async (ctx) => {
      runs.count++;
      await sleepOrAbort(10_000, ctx.signal);
    }),
    { timeout },
  );
  return runs;
}

async function finalState(server: Server, uuid: string) {
  return await waitFor(async () => {
    const state = await server.backend.getState(uuid).catch(() => undefined);
    return state && (state.state === "SUCCESS" || state.state === "FAILURE") ? state : undefined;
  }, `final state of ${uuid}`);
}

describe("task timeouts", () => {
  it("fires the signal at the registered timeout and records FAILURE", TIMEOUT, async () => {
    const server = makeServer();
    let reason: unknown;
    server.registerTask(
      "slow",
      withContext(async (ctx) => {
        reason = await sleepOrAbort(10_000, ctx.signal);
        throw new Error("stopped");
      }),
      { timeout: 200 },
    );
    await withWorker(server, async () => {
      const began = Date.now();
      const { signature } = await server.sendTask(newSignature("slow", []));
      const state = await finalState(server, signature.uuid);
      assert.equal(state.state, "FAILURE");
      assert.equal(state.error, "task timed out after 0.2s");
      assert.ok(reason instanceof TaskAbortedError);
      assert.ok(Date.now() - began < 5_000);
    });
  });

  it("takes the signature's timeout over the registered one, and retries", TIMEOUT, async () => {
    const server = makeServer();
    const runs = registerSlow(server, 60_000);
    await withWorker(server, async () => {
      const sig = setTaskTimeout(newSignature("slow", []), 100);
      sig.retryCount = 1;
      await server.sendTask(sig);
      const state = await waitFor(
        async () => {
          const s = await server.backend.getState(sig.uuid).catch(() => undefined);
          return s?.state === "FAILURE" ? s : undefined;
        },
        "the retried run to fail",
        10_000,
      );
      assert.equal(state.error, "task timed out after 0.1s");
      assert.equal(runs.count, 2);
    });
  });

  it(
    "frees the slot of a task that ignores its signal, and discards its late result",
    TIMEOUT,
    async () => {
      const lines: string[] = [];
      const server = makeServer(recordingLogger(lines));
      let finishStubborn!: () => void;
      server.registerTask("stubborn", () => new Promise<void>((r) => finishStubborn = r), {
        timeout: 100,
      });
      server.registerTask("quick", () => "ok");
      await withWorker(
        server,
        async () => {
          const stubborn = await server.sendTask(newSignature("stubborn", []));
          const quick = await server.sendTask(newSignature("quick", []));
          // One slot: the quick task runs only once the stubborn one's slot was freed.
          assert.equal((await finalState(server, quick.signature.uuid)).state, "SUCCESS");
          const state = await finalState(server, stubborn.signature.uuid);
          assert.equal(state.error, "task timed out after 0.1s");
          finishStubborn();
          await waitFor(
            () => lines.some((l) => /finished late: its result is discarded/.test(l)),
            "the late result logged",
          );
          assert.equal((await server.backend.getState(stubborn.signature.uuid)).state, "FAILURE");
        },
        1,
        { abortGraceMs: 100 },
      );
    },
  );

  it("aborts a run at its deadline and does not retry it", TIMEOUT, async () => {
    const server = makeServer();
    const runs = registerSlow(server);
    await withWorker(server, async () => {
      const sig = setTaskDeadline(newSignature("slow", []), new Date(Date.now() + 200));
      sig.retryCount = 3;
      await server.sendTask(sig);
      const state = await finalState(server, sig.uuid);
      assert.match(state.error, /^task timed out: its deadline .* passed$/);
      assert.equal(runs.count, 1);
    });
  });

  it("never runs a task that expired before it started", TIMEOUT, async () => {
    const server = makeServer();
    let runs = 0;
    server.registerTask("add", () => runs++);
    await withWorker(server, async () => {
      const sig = setTaskExpiry(newSignature("add", []), new Date(Date.now() - 1));
      await server.sendTask(sig);
      const fresh = setTaskExpiry(newSignature("add", []), new Date(Date.now() + 60_000));
      await server.sendTask(fresh);
      assert.equal((await finalState(server, sig.uuid)).error, "task expired");
      assert.equal((await finalState(server, fresh.uuid)).state, "SUCCESS");
      assert.equal(runs, 1);
    });
  });
});

describe("DeadlineTimers", () => {
  /** A deadline that records when it expired. */
  function deadline(stopAt: number, fired: number[], id: number) {
    return { stopAt, expire: () => fired.push(id) };
  }

  it("expires in due order with one timer, and skips removed deadlines", TIMEOUT, async () => {
    const timers = new DeadlineTimers();
    const now = Date.now();
    const fired: number[] = [];
    timers.add(deadline(now + 60, fired, 3));
    timers.add(deadline(now + 20, fired, 1));
    const removed = deadline(now + 40, fired, 2);
    timers.add(removed);
    timers.add(deadline(now + 40, fired, 22));
    timers.delete(removed);
    await waitFor(() => fired.length === 3, "three expiries", 5_000);
    assert.deepEqual(fired, [1, 22, 3]);
    assert.equal(timers.size, 0);
  });

  it("re-arms for the next deadline when the earliest was removed", TIMEOUT, async () => {
    const timers = new DeadlineTimers();
    const now = Date.now();
    const fired: number[] = [];
    const first = deadline(now + 10, fired, 1);
    timers.add(first);
    timers.add(deadline(now + 80, fired, 2));
    timers.delete(first);
    await waitFor(() => fired.length === 1, "the second deadline", 5_000);
    assert.deepEqual(fired, [2]);
  });

  it("does not expire a far deadline early", TIMEOUT, async () => {
    const timers = new DeadlineTimers();
    const fired: number[] = [];
    // 30 days: a single setTimeout that long would overflow and fire at once.
    timers.add(deadline(Date.now() + 30 * 24 * 3600_000, fired, 1));
    timers.add(deadline(Date.now() + 20, fired, 2));
    await waitFor(() => fired.length === 1, "the near deadline", 5_000);
    assert.deepEqual(fired, [2]);
    assert.equal(timers.size, 1);
    timers.clear();
    assert.equal(timers.size, 0);
  });
});
