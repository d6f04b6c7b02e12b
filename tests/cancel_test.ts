/**
 * Cancellation on the memory engine: a queued or delayed task never starts, a running one has
 * its signal fired and is not retried, a cancelled chain link stops the rest, and a cancelled
 * group member keeps its chord from firing.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CANCELLED_TEXT,
  etaFromDate,
  type Logger,
  MemoryBackend,
  MemoryBroker,
  newChain,
  newChord,
  newGroup,
  newSignature,
  Server,
  silentLogger,
  TaskAbortedError,
  withContext,
} from "../mod.ts";
import { waitFor } from "./helpers.ts";
import { withWorker } from "./worker_session.ts";

const TIMEOUT = { timeout: 20_000 };

function makeServer(logger: Logger = silentLogger): Server {
  return new Server({
    broker: new MemoryBroker(),
    backend: new MemoryBackend(),
    config: { noUnixSignals: true },
    logger,
  });
}

async function stateOf(server: Server, uuid: string): Promise<string> {
  const state = await server.backend.getState(uuid).catch(() => undefined);
  return state ? `${state.state} ${state.error}`.trim() : "none";
}

describe("cancelTask", () => {
  it("keeps a delayed task from ever starting", TIMEOUT, async () => {
    const server = makeServer();
    let runs = 0;
    server.registerTask("add", () => runs++);
    await withWorker(server, async () => {
      const sig = newSignature("add", []);
      sig.eta = etaFromDate(new Date(Date.now() + 300));
      await server.sendTask(sig);
      assert.equal(await server.cancelTask(sig.uuid), true);
      assert.equal(await stateOf(server, sig.uuid), `FAILURE ${CANCELLED_TEXT}`);
      const after = newSignature("add", []);
      after.eta = etaFromDate(new Date(Date.now() + 400));
      await server.sendTask(after);
      await waitFor(async () => (await stateOf(server, after.uuid)) === "SUCCESS", "a later task");
      assert.equal(runs, 1);
      assert.equal(await stateOf(server, sig.uuid), `FAILURE ${CANCELLED_TEXT}`);
    });
  });

  it("knows of cancellations made before the worker started", TIMEOUT, async () => {
    const server = makeServer();
    let runs = 0;
    server.registerTask("add", () => runs++);
    const sig = newSignature("add", []);
    await server.sendTask(sig);
    await server.cancelTask(sig.uuid);
    await withWorker(server, async () => {
      const next = await server.sendTask(newSignature("add", []));
      await waitFor(async () => (await stateOf(server, next.signature.uuid)) === "SUCCESS", "next");
      assert.equal(runs, 1);
      assert.equal(await stateOf(server, sig.uuid), `FAILURE ${CANCELLED_TEXT}`);
    });
  });

  it("aborts a running task, logs it, and does not retry it", TIMEOUT, async () => {
    const lines: string[] = [];
    const push = (m: string) => lines.push(m);
    const server = makeServer({ ...silentLogger, warn: push, error: push });
    let started = false;
    let reason: unknown;
    let runs = 0;
    server.registerTask(
      "long",
      withContext((ctx) =>
        new Promise<void>((_, reject) => {
          runs++;
          started = true;
          ctx.signal.addEventListener("abort", () => {
            reason = ctx.signal.reason;
            reject(new Error("aborted"));
          });
        })
      ),
    );
    await withWorker(server, async () => {
      const sig = newSignature("long", []);
      sig.retryCount = 3;
      await server.sendTask(sig);
      await waitFor(() => started, "the task to start");
      assert.equal(await server.cancelTask(sig.uuid), true);
      await waitFor(
        async () => (await stateOf(server, sig.uuid)) === `FAILURE ${CANCELLED_TEXT}`,
        "FAILURE",
      );
      assert.ok(reason instanceof TaskAbortedError);
      assert.ok(lines.some((l) => l.includes(`Task ${sig.uuid} aborted: task cancelled`)));
      assert.equal(runs, 1);
      assert.equal(await server.cancelTask(sig.uuid), false, "a finished task is left alone");
    });
  });

  it("sends the onError callbacks of a task cancelled while queued", TIMEOUT, async () => {
    const server = makeServer();
    const errors: string[] = [];
    server.registerTask("add", () => 1);
    server.registerTask("report", (text: string) => errors.push(text));
    const sig = newSignature("add", []);
    sig.onError = [newSignature("report", [])];
    await server.sendTask(sig);
    assert.equal(await server.cancelTask(sig.uuid), true);
    await withWorker(server, async () => {
      // cancelTask recorded the FAILURE; the worker that takes the message sends the callbacks.
      await waitFor(() => errors.length === 1, "the onError callback");
      assert.deepEqual(errors, [CANCELLED_TEXT]);
    });
  });

  it(
    "keeps the outcome of a finished task whose duplicate message is cancelled",
    TIMEOUT,
    async () => {
      const server = makeServer();
      let runs = 0;
      server.registerTask("add", () => runs++);
      server.registerTask("report", () => {});
      const sig = newSignature("add", []);
      const onError = newSignature("report", []);
      sig.onError = [onError];
      await server.sendTask(sig);
      // Another delivery of the message ran and succeeded after a cancel had read the task
      // PENDING; the cancel's mark then reaches the worker that takes this duplicate.
      await server.backend.setStateSuccess(sig, [{ type: "int64", value: 7 }]);
      await server.broker.cancelTask!(sig.uuid, Date.now() + 60_000);
      await withWorker(server, async () => {
        const probe = await server.sendTask(newSignature("add", []));
        await waitFor(
          async () => (await stateOf(server, probe.signature.uuid)) === "SUCCESS",
          "the task sent after the duplicate",
        );
        assert.equal(await stateOf(server, sig.uuid), "SUCCESS");
        assert.equal(runs, 1, "only the probe ran");
        assert.equal(await stateOf(server, onError.uuid), "none", "no onError callback was sent");
      });
    },
  );

  it("stops a chain at the cancelled link", TIMEOUT, async () => {
    const server = makeServer();
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    server.registerTask("step", async (name: string) => {
      ran.push(name);
      if (name === "a") await gate;
      return name;
    });
    await withWorker(server, async () => {
      const [a, b, c] = ["a", "b", "c"].map((n) =>
        newSignature("step", [{ name: "", type: "string", value: n }])
      );
      b.immutable = true;
      c.immutable = true;
      await server.sendChain(newChain(a, b, c));
      await waitFor(() => ran.length === 1, "the first link to start");
      await server.cancelTask(b.uuid);
      release();
      await waitFor(
        async () =>
          (await stateOf(server, b.uuid)) === `FAILURE ${CANCELLED_TEXT}` &&
          (await stateOf(server, a.uuid)) === "SUCCESS",
        "the chain to stop",
      );
      // c was never sent: it has no state at all.
      assert.equal(await stateOf(server, c.uuid), "none");
      assert.deepEqual(ran, ["a"]);
    }, 2);
  });

  it("keeps the chord of a cancelled group member from firing", TIMEOUT, async () => {
    const server = makeServer();
    let callbacks = 0;
    server.registerTask("add", (a: number) => a);
    server.registerTask("sum", () => callbacks++);
    const members = [1, 2, 3].map((n) =>
      newSignature("add", [{ name: "", type: "int64", value: n }])
    );
    const chord = newChord(newGroup(...members), newSignature("sum", []));
    await server.sendChord(chord);
    await server.cancelTask(members[1].uuid);
    await withWorker(server, async () => {
      await waitFor(async () => {
        const states = await Promise.all(members.map((m) => stateOf(server, m.uuid)));
        return states.join(",") === `SUCCESS,FAILURE ${CANCELLED_TEXT},SUCCESS`;
      }, "the members to finish");
      const probe = await server.sendTask(
        newSignature("add", [{ name: "", type: "int64", value: 0 }]),
      );
      await waitFor(
        async () => (await stateOf(server, probe.signature.uuid)) === "SUCCESS",
        "probe",
      );
      assert.equal(callbacks, 0);
      assert.equal(await stateOf(server, chord.callback.uuid), "none");
    }, 2);
  });
});
