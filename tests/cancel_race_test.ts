/**
 * A task that finishes while it is being cancelled keeps its outcome. `cancelTask` reads the
 * state, marks the task in the broker, then records FAILURE `task cancelled`: a task that
 * finished in between must not be recorded cancelled. The race is made certain, with no timing:
 * the backend's `getState` answers with the state read before the task finished. On the memory
 * and the Redis backend.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CANCELLED_TEXT, MemoryBroker, Server, silentLogger } from "../mod.ts";
import type { Backend } from "../src/backend.ts";
import { StateNotFoundError } from "../src/errors.ts";
import { newSignature, type Signature } from "../src/wire/signature.ts";
import { encodeTaskState, type TaskState } from "../src/wire/state.ts";
import { memoryBackend, redisBackend } from "./conformance/adapters.ts";
import { describeUnless } from "./helpers.ts";
import {
  deleteRedisKeys,
  rawClient,
  redisSkipReason,
  uniqueName,
} from "./integration/redis_support.ts";

const TIMEOUT = { timeout: 20_000 };

/** `backend`, except that `getState` answers what `staleRead` gives (a read made earlier). */
function withStaleReads(backend: Backend, staleRead: () => Promise<TaskState>): Backend {
  return new Proxy(backend, {
    get(target, prop) {
      if (prop === "getState") return staleRead;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** `backend` without `setStateFailureUnlessCompleted`: the AMQP backend's case. */
function withoutConditionalWrite(backend: Backend): Backend {
  return new Proxy(backend, {
    get(target, prop) {
      if (prop === "setStateFailureUnlessCompleted") return undefined;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The states the cancel can have read before the task finished. */
const STALE_READS: [string, (backend: Backend, sig: Signature) => Promise<void>][] = [
  ["PENDING", (backend, sig) => backend.setStatePending(sig)],
  ["RECEIVED", async (backend, sig) => {
    await backend.setStatePending(sig);
    await backend.setStateReceived(sig);
  }],
  ["no state", () => Promise.resolve()],
];

/** A read of `sig`'s state now, to be answered later. */
async function readNow(backend: Backend, sig: Signature): Promise<() => Promise<TaskState>> {
  const state = await backend.getState(sig.uuid).catch((error) => {
    if (error instanceof StateNotFoundError) return error;
    throw error;
  });
  return () => state instanceof Error ? Promise.reject(state) : Promise.resolve(state);
}

/** The tests on backends from `makeBackend`; the task UUIDs they write go into `written`. */
function cancelRaceTests(makeBackend: () => Backend, written: string[] = []): void {
  const servers: Server[] = [];
  after(() => Promise.allSettled(servers.map((s) => s.close())));

  function server(backend: Backend): Server {
    const s = new Server({
      broker: new MemoryBroker(),
      backend,
      config: { noUnixSignals: true },
      logger: silentLogger,
    });
    servers.push(s);
    return s;
  }

  function task(): Signature {
    const sig = newSignature("add", []);
    written.push(sig.uuid);
    return sig;
  }

  for (const [read, write] of STALE_READS) {
    it(
      `keeps the SUCCESS of a task that finished after the cancel read ${read}`,
      TIMEOUT,
      async () => {
        const backend = makeBackend();
        const sig = task();
        await write(backend, sig);
        const stale = await readNow(backend, sig);
        // The task finishes between the cancel's read and its write.
        await backend.setStateSuccess(sig, [{ type: "int64", value: 3 }]);
        const outcome = encodeTaskState(await backend.getState(sig.uuid));
        const cancelling = server(withStaleReads(backend, stale));
        assert.equal(await cancelling.cancelTask(sig.uuid), false, "nothing was cancelled");
        assert.equal(encodeTaskState(await backend.getState(sig.uuid)), outcome);
      },
    );
  }

  it("keeps a FAILURE recorded after the cancel read PENDING", TIMEOUT, async () => {
    const backend = makeBackend();
    const sig = task();
    await backend.setStatePending(sig);
    const stale = await readNow(backend, sig);
    await backend.setStateFailure(sig, "a real failure");
    const cancelling = server(withStaleReads(backend, stale));
    assert.equal(await cancelling.cancelTask(sig.uuid), false);
    assert.equal((await backend.getState(sig.uuid)).error, "a real failure");
  });

  it("cancels a task that moved on but has not finished since the read", TIMEOUT, async () => {
    const backend = makeBackend();
    const sig = task();
    await backend.setStatePending(sig);
    const stale = await readNow(backend, sig);
    await backend.setStateRetry(sig);
    const cancelling = server(withStaleReads(backend, stale));
    assert.equal(await cancelling.cancelTask(sig.uuid), true);
    const state = await backend.getState(sig.uuid);
    assert.equal(`${state.state} ${state.error}`, `FAILURE ${CANCELLED_TEXT}`);
  });
}

describe("cancelTask racing a task that finishes: memory backend", () => {
  cancelRaceTests(() => memoryBackend({}));

  it("without the conditional write, overwrites it (the race the AMQP backend keeps)", async () => {
    const backend = memoryBackend({});
    const sig = newSignature("add", []);
    await backend.setStatePending(sig);
    const stale = await readNow(backend, sig);
    await backend.setStateSuccess(sig, []);
    const s = new Server({
      broker: new MemoryBroker(),
      backend: withStaleReads(withoutConditionalWrite(backend), stale),
      config: { noUnixSignals: true },
      logger: silentLogger,
    });
    try {
      assert.equal(await s.cancelTask(sig.uuid), true);
      assert.equal((await backend.getState(sig.uuid)).error, CANCELLED_TEXT);
    } finally {
      await s.close();
    }
  });
});

const redisSkip = await redisSkipReason();
describeUnless(redisSkip, "cancelTask racing a task that finishes: Redis backend", () => {
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const written: string[] = [];
  after(() => deleteRedisKeys(written, [keyPrefix]));
  cancelRaceTests(() => redisBackend({}, keyPrefix), written);

  it("writes the bytes setStateFailure writes", TIMEOUT, async () => {
    const backend = redisBackend({}, keyPrefix);
    const raw = rawClient();
    try {
      const sig = newSignature("add", []);
      written.push(sig.uuid);
      await backend.setStatePending(sig);
      assert.equal(await backend.setStateFailureUnlessCompleted(sig, CANCELLED_TEXT), true);
      const conditional = await raw.get(sig.uuid);
      await backend.setStateFailure(sig, CANCELLED_TEXT);
      assert.equal(conditional, await raw.get(sig.uuid));
    } finally {
      raw.disconnect();
      await backend.close();
    }
  });
});
