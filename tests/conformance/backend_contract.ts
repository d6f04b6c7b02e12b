/**
 * The result backend contract (`src/backend.ts`), stated once: every backend adapter's
 * conformance file calls {@linkcode backendContract} with a factory, and these tests run
 * against it. A clause an adapter cannot honour is declared in
 * {@linkcode BackendContractOptions} with the reason, and the test's name says so; where the
 * limit can be observed, the test checks it.
 *
 * Not a `*_test.ts` file: it registers nothing on its own.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { Backend } from "../../src/backend.ts";
import { ClosedError, GroupNotFoundError, StateNotFoundError } from "../../src/errors.ts";
import { parseGoTime } from "../../src/wire/go_time.ts";
import { parseJson } from "../../src/wire/json.ts";
import { newGroupUUID, newSignature, type Signature } from "../../src/wire/signature.ts";
import {
  encodeTaskState,
  failureState,
  pendingState,
  receivedState,
  retryState,
  startedState,
  successState,
  type TaskResult,
  type TaskState,
} from "../../src/wire/state.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import type { Capability } from "./broker_contract.ts";

export type { Capability };

/** What the contract needs to know about one backend adapter. */
export interface BackendContractOptions {
  /** Skip every test with this reason (a server is missing). */
  skip?: string | false;
  /**
   * A new client of the store under test, keeping results `resultsExpireIn` seconds. The
   * contract closes every client it makes.
   */
  make(resultsExpireIn: number): Backend | Promise<Backend>;
  /** Whether two clients from `make` see one store (otherwise callers race on one client). */
  sharedStore: Capability;
  /**
   * `"merged"`: states after PENDING keep its TaskName and CreatedAt (Go's Redis backend);
   * `"unmerged"`: every state is stored as written, TaskName `""` (Go's Memcache and AMQP).
   */
  laterStates: "merged" | "unmerged";
  /**
   * Whether the adapter keeps group metadata: `initGroup` records the members, an unknown group
   * is an error, and `groupTaskStates` answers in group order (otherwise completion order).
   */
  groupMeta: Capability;
  /** Whether states and group metadata are gone within seconds of a 1 s `resultsExpireIn`. */
  expiry: Capability;
  /** Whether a call after `close()` rejects. */
  refusesCallsAfterClose: Capability;
  /**
   * Whether it has `setStateFailureUnlessCompleted`: FAILURE written in one atomic step unless a
   * final state is stored (a cancel must not replace the outcome of a task that just finished).
   */
  failureUnlessCompleted: Capability;
  /** Deletes what the tests wrote: task and group UUIDs. */
  cleanup?(written: string[]): Promise<void>;
}

const TIMEOUT = { timeout: 30_000 };
const RESULTS_EXPIRE_IN = 300;

/** Registers the backend contract's tests for one adapter, under `backend contract: <name>`. */
export function backendContract(name: string, options: BackendContractOptions): void {
  describeUnless(options.skip, `backend contract: ${name}`, () => {
    const written: string[] = [];
    const opened: Backend[] = [];
    let backend: Backend;

    async function open(resultsExpireIn = RESULTS_EXPIRE_IN): Promise<Backend> {
      const b = await options.make(resultsExpireIn);
      opened.push(b);
      return b;
    }

    function task(name = "add", fields: Partial<Signature> = {}): Signature {
      const sig = newSignature(name, null, fields);
      written.push(sig.uuid);
      return sig;
    }

    function group(): string {
      const id = newGroupUUID();
      written.push(id);
      return id;
    }

    before(async () => {
      backend = await open();
    });

    after(async () => {
      await Promise.allSettled(opened.map((b) => b.close()));
      await options.cleanup?.(written);
    });

    it(
      `reads back each state as written, in order (${options.laterStates} later states)`,
      TIMEOUT,
      async () => {
        /**
         * Writes PENDING and checks it reads back as written, at about now; returns what a later
         * state of `sig` reads back as: merged adapters keep PENDING's TaskName and CreatedAt.
         */
        async function pending(sig: Signature): Promise<(state: TaskState) => string> {
          await backend.setStatePending(sig);
          const read = await backend.getState(sig.uuid);
          const createdAt = read.createdAt;
          const age = Date.now() - parseGoTime(createdAt).date.getTime();
          assert.ok(Math.abs(age) < 60_000, `CreatedAt ${createdAt} is now`);
          assert.equal(encodeTaskState(read), encodeTaskState({ ...pendingState(sig), createdAt }));
          const kept = options.laterStates === "merged" ? { taskName: sig.name, createdAt } : {};
          return (state) => encodeTaskState({ ...state, ...kept });
        }

        const sig = task("add");
        const expect = await pending(sig);
        // Beyond 2^53 but within int64: MongoDB, like Go's driver, cannot store a larger uint64.
        const results = goResults(
          '[{"Type":"int64","Value":9223372036854775807},{"Type":"float64","Value":1.5},' +
            '{"Type":"string","Value":"ü \\"q\\" <&>"},{"Type":"[]int64","Value":[1,2]}]',
        );
        const steps: [string, () => Promise<void>, TaskState][] = [
          ["RECEIVED", () => backend.setStateReceived(sig), receivedState(sig)],
          ["STARTED", () => backend.setStateStarted(sig), startedState(sig)],
          ["RETRY", () => backend.setStateRetry(sig), retryState(sig)],
          ["STARTED again", () => backend.setStateStarted(sig), startedState(sig)],
          ["SUCCESS", () => backend.setStateSuccess(sig, results), successState(sig, results)],
        ];
        for (const [label, write, expected] of steps) {
          await write();
          assert.equal(encodeTaskState(await backend.getState(sig.uuid)), expect(expected), label);
        }

        const failing = task("fail");
        const error = 'oops: "quoted" ünïcode\nsecond line';
        const expectFailing = await pending(failing);
        await backend.setStateStarted(failing);
        await backend.setStateFailure(failing, error);
        assert.equal(
          encodeTaskState(await backend.getState(failing.uuid)),
          expectFailing(failureState(failing, error)),
        );

        if (backend.setStateReceivedAndStarted) {
          const both = task("both");
          const expectBoth = await pending(both);
          await backend.setStateReceivedAndStarted(both);
          assert.equal(
            encodeTaskState(await backend.getState(both.uuid)),
            expectBoth(startedState(both)),
            "RECEIVED and STARTED in one step",
          );
        }
      },
    );

    const groupOrder = options.groupMeta === true
      ? "in group order"
      : `in completion order (${options.groupMeta})`;
    it(
      `records a group: completed once every member is final, its states ${groupOrder}`,
      TIMEOUT,
      async () => {
        const id = group();
        const members = ["a", "b", "c"].map((n) => task(n, { groupUUID: id, groupTaskCount: 3 }));
        const [a, b, c] = members;
        await backend.initGroup(id, members.map((m) => m.uuid));
        for (const m of members) await backend.setStatePending(m);
        assert.equal(await backend.groupCompleted(id, 3), false, "nothing final yet");
        await backend.setStateSuccess(c, stringResult("c"));
        await backend.setStateFailure(b, "no");
        assert.equal(await backend.groupCompleted(id, 3), false, "one member still running");
        await backend.setStateSuccess(a, stringResult("a"));
        assert.equal(await backend.groupCompleted(id, 3), true);
        assert.equal(await backend.groupCompleted(id, 4), false, "the count comes from the caller");

        const order = options.groupMeta === true ? [a, b, c] : [c, b, a];
        const states = await backend.groupTaskStates(id, 3);
        assert.deepEqual(states.map((s) => s.taskUUID), order.map((m) => m.uuid));
        assert.deepEqual(
          states.map((s) => s.state),
          order.map((m) => (m === b ? "FAILURE" : "SUCCESS")),
        );

        // A redelivered member writes its final state again: still one state per member.
        await backend.setStateSuccess(c, stringResult("c"));
        assert.equal(await backend.groupCompleted(id, 3), true);
        const again = await backend.groupTaskStates(id, 3);
        assert.deepEqual(
          again.map((s) => s.taskUUID).sort(),
          members.map((m) => m.uuid).sort(),
          "reading keeps the states, one per member",
        );
      },
    );

    it(
      "is not complete, and has no states to give, while a member has no state",
      TIMEOUT,
      async () => {
        const id = group();
        const member = task("a", { groupUUID: id, groupTaskCount: 2 });
        const ghost = `task_${crypto.randomUUID()}`;
        await backend.initGroup(id, [member.uuid, ghost]);
        await backend.setStateSuccess(member, stringResult("a"));
        assert.equal(await backend.groupCompleted(id, 2), false);
        await assert.rejects(backend.groupTaskStates(id, 2), StateNotFoundError);
      },
    );

    const shared = options.sharedStore === true;
    it(
      "fires a chord exactly once among concurrent callers" +
        (shared ? " on several clients" : ` on one client (${options.sharedStore})`),
      { timeout: 60_000 },
      async () => {
        const clients = shared ? [backend, ...await Promise.all([1, 2, 3, 4].map(() => open()))] : [
          backend,
        ];
        const callsPerClient = 50 / clients.length;
        for (let round = 0; round < 5; round++) {
          const id = group();
          await backend.initGroup(id, [`task_${crypto.randomUUID()}`]);
          const answers = await Promise.all(
            clients.flatMap((c) =>
              Array.from({ length: callsPerClient }, () => c.triggerChord(id))
            ),
          );
          assert.equal(answers.filter((x) => x).length, 1, `round ${round}`);
          assert.equal(await clients.at(-1)!.triggerChord(id), false, "and never again");
        }
      },
    );

    it(
      options.groupMeta === true
        ? "fails with StateNotFoundError for an unknown task, GroupNotFoundError for a group"
        : "fails with StateNotFoundError for an unknown task; an unknown group reads as empty " +
          `(${options.groupMeta})`,
      TIMEOUT,
      async () => {
        const id = newGroupUUID();
        await assert.rejects(backend.getState(`task_${crypto.randomUUID()}`), StateNotFoundError);
        await assert.rejects(backend.groupTaskStates(id, 1), groupNotFound(id, options.groupMeta));
        if (options.groupMeta === true) {
          await assert.rejects(backend.groupCompleted(id, 1), groupNotFound(id, true));
          await assert.rejects(backend.triggerChord(id), groupNotFound(id, true));
        } else {
          written.push(id);
          assert.equal(await backend.groupCompleted(id, 1), false);
        }
      },
    );

    it("purges a state and a group, and purging them again is fine", TIMEOUT, async () => {
      const id = group();
      const sig = task("add", { groupUUID: id, groupTaskCount: 1 });
      await backend.initGroup(id, [sig.uuid]);
      await backend.setStatePending(sig);
      await backend.setStateSuccess(sig, stringResult("x"));
      assert.equal(await backend.groupCompleted(id, 1), true);
      await backend.purgeState(sig.uuid);
      await backend.purgeGroupMeta(id);
      await assert.rejects(backend.getState(sig.uuid), StateNotFoundError);
      await assert.rejects(backend.groupTaskStates(id, 1), groupNotFound(id, options.groupMeta));
      if (options.groupMeta === true) {
        await assert.rejects(backend.triggerChord(id), groupNotFound(id, true));
      }
      await backend.purgeState(sig.uuid);
      await backend.purgeGroupMeta(id);
    });

    if (options.expiry === true) {
      it("forgets states and groups after ResultsExpireIn", TIMEOUT, async () => {
        const short = await open(1);
        const id = group();
        const sig = task("add", { groupUUID: id, groupTaskCount: 1 });
        await short.initGroup(id, [sig.uuid]);
        await short.setStatePending(sig);
        await short.setStateSuccess(sig, stringResult("x"));
        assert.equal((await short.getState(sig.uuid)).state, "SUCCESS", "stored at first");
        assert.equal((await short.groupTaskStates(id, 1)).length, 1, "the group at first");
        await waitFor(
          () => gone(short.getState(sig.uuid)),
          "the state expired",
          20_000,
        );
        await waitFor(() => gone(short.groupTaskStates(id, 1)), "the group expired", 20_000);
      });
    } else {
      it.skip(`forgets states and groups after ResultsExpireIn (not here: ${options.expiry})`);
    }

    if (options.failureUnlessCompleted === true) {
      it(
        "writes FAILURE unless the stored state is final, as setStateFailure would",
        TIMEOUT,
        async () => {
          const write = backend.setStateFailureUnlessCompleted?.bind(backend);
          assert.ok(write, "setStateFailureUnlessCompleted is there");
          const error = "task cancelled";
          /** The state as stored now, Go's bytes. */
          const stored = async (sig: Signature) =>
            encodeTaskState(await backend.getState(sig.uuid));

          const started = task("started");
          await backend.setStatePending(started);
          await backend.setStateStarted(started);
          assert.equal(await write(started, error), true, "over STARTED");
          const conditional = await stored(started);
          await backend.setStateFailure(started, error);
          assert.equal(conditional, await stored(started), "the bytes setStateFailure writes");

          const absent = task("absent");
          assert.equal(await write(absent, error), true, "with no state stored");
          assert.equal((await backend.getState(absent.uuid)).error, error);

          const succeeded = task("succeeded");
          await backend.setStatePending(succeeded);
          await backend.setStateSuccess(succeeded, stringResult("kept"));
          const failed = task("failed");
          await backend.setStatePending(failed);
          await backend.setStateFailure(failed, "a real failure");
          for (const sig of [succeeded, failed]) {
            const before = await stored(sig);
            assert.equal(await write(sig, error), false, `over ${sig.name}`);
            assert.equal(await stored(sig), before, `${sig.name} is kept`);
          }
        },
      );
    } else {
      it(`writes FAILURE unless the stored state is final (not here: ${options.failureUnlessCompleted})`, () => {
        assert.equal(backend.setStateFailureUnlessCompleted, undefined);
      });
    }

    const refuses = options.refusesCallsAfterClose === true;
    it(
      "connects idempotently, closes idempotently" +
        (refuses ? ", and refuses calls once closed" : ` (${options.refusesCallsAfterClose})`),
      TIMEOUT,
      async () => {
        const b = await options.make(RESULTS_EXPIRE_IN);
        await Promise.all([b.connect(), b.connect()]);
        const sig = task();
        await b.setStatePending(sig);
        await Promise.all([b.close(), b.close()]);
        await b.close();
        if (refuses) {
          await assert.rejects(b.getState(sig.uuid), ClosedError);
        }
      },
    );
  });
}

/** Results as Go writes them (big integers kept exactly). */
function goResults(json: string): TaskResult[] {
  const parsed = parseJson(json) as { Type: string; Value: unknown }[];
  return parsed.map((r) => ({ type: r.Type, value: r.Value }));
}

function stringResult(value: string): TaskResult[] {
  return [{ type: "string", value }];
}

/**
 * Checks a rejection for `groupUUID`: a `GroupNotFoundError` naming the group, with machinery's
 * text where the adapter keeps group metadata (otherwise it says how many states it found).
 */
function groupNotFound(groupUUID: string, groupMeta: Capability): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof GroupNotFoundError, `a GroupNotFoundError, not ${error}`);
    assert.equal(error.groupUUID, groupUUID);
    if (groupMeta === true) assert.equal(error.message, `Group not found: ${groupUUID}`);
    return true;
  };
}

/** True once `read` rejects with `StateNotFoundError`; other errors fail the wait. */
async function gone(read: Promise<unknown>): Promise<boolean> {
  try {
    await read;
    return false;
  } catch (error) {
    if (error instanceof StateNotFoundError) return true;
    throw error;
  }
}
