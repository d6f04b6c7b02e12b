/**
 * Fault scenario 6, results expire: with ResultsExpireIn 1 s, task states and group metadata
 * are gone about a second after their last write. A chord whose group metadata expired before
 * its members ran can never fire; its waiter (`ChordAsyncResult.get()`, with no timeout) must
 * then fail with a clear error instead of polling for ever.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AsyncResult,
  ChordAsyncResult,
  MemoryBackend,
  newChord,
  newGroup,
  newSignature,
  StateNotFoundError,
  TimeoutReachedError,
} from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP } from "../integration/amqp_support.ts";
import {
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  faultRig,
  recordRow,
  skipReason,
} from "./support.ts";
import registerFaultTasks from "./tasks.ts";

const SCENARIO = "results expire";
const TASKS = 20;
const WAITER_DEADLINE_MS = 15_000;

const int64 = (value: number) => ({ name: "", type: "int64" as const, value });

describe("ChordAsyncResult when the group meta is gone", () => {
  it("rejects instead of waiting for ever, and still waits while the meta is there", async () => {
    const backend = new MemoryBackend();
    const group = newGroup(newSignature("noop", []), newSignature("noop", []));
    const chord = newChord(group, newSignature("chordDone", [int64(0)]));
    await backend.initGroup(group.groupUUID, group.tasks.map((s) => s.uuid));
    for (const sig of group.tasks) await backend.setStatePending(sig);
    const result = new ChordAsyncResult(
      group.tasks.map((s) => new AsyncResult(s, backend)),
      new AsyncResult(chord.callback, backend),
    );
    // The members are done and the callback is not sent yet: a timeout, not an error.
    for (const sig of group.tasks) await backend.setStateSuccess(sig, []);
    await assert.rejects(result.get({ timeout: 100 }), TimeoutReachedError);
    // The meta expires (as ResultsExpireIn does it): the callback can never be sent now.
    await backend.purgeGroupMeta(group.groupUUID);
    await assert.rejects(result.get({ timeout: 5_000 }), (error: Error) => {
      assert.ok(error instanceof StateNotFoundError);
      assert.equal(
        error.message,
        `Group "${group.groupUUID}" expired before its chord callback "${chord.callback.uuid}" ` +
          "was sent (ResultsExpireIn): the callback will never be sent",
      );
      return true;
    });
    await backend.close();
  });
});

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it("states expire; the waiter of an expired chord gets an error", {
      timeout: 60_000,
    }, async () => {
      const { queue, exchange, keyPrefix, server, redis } = faultRig(kind, "expire", {
        resultsExpireIn: 1,
        noUnixSignals: true,
      });
      registerFaultTasks(server);
      const uuids: string[] = [];
      const worker = server.newWorker("expiry", 10);
      worker.setErrorHandler(() => {});
      let launched: Promise<void> | undefined;
      const stopWaiting = new AbortController();
      try {
        // 1. Task states and group metadata go once ResultsExpireIn has passed.
        launched = worker.launch();
        const sigs = Array.from({ length: TASKS }, (_, i) => newSignature("noop", [int64(i)]));
        const group = newGroup(newSignature("noop", []), newSignature("noop", []));
        uuids.push(...sigs.map((s) => s.uuid), ...group.tasks.map((s) => s.uuid));
        uuids.push(group.groupUUID);
        const results = [
          ...await Promise.all(sigs.map((s) => server.sendTask(s))),
          ...await server.sendGroup(group),
        ];
        for (const result of results) await result.get({ timeout: 10_000 });
        const written = Date.now();
        const ttls = await Promise.all(uuids.map((id) => redis.ttl(id)));
        assert.ok(ttls.every((t) => t === 1 || t === 0), `TTLs: ${ttls}`);
        await waitFor(
          async () => (await countStates(redis, uuids)).get("MISSING") === uuids.length,
          "every state and the group meta expired",
          5_000,
        );
        const expiredMs = Date.now() - written;
        const gone = await server.backend.getState(sigs[0].uuid).then(() => false, (e) => e);
        assert.ok(gone instanceof StateNotFoundError, `getState after expiry: ${gone}`);
        await worker.quit();
        await launched;

        // 2. A chord whose group metadata expires before any member runs never fires.
        const chord = newChord(
          newGroup(...[1, 2, 3].map((n) => newSignature("member", [int64(0), int64(n)]))),
          newSignature("chordDone", [int64(0)]),
        );
        uuids.push(chord.group.groupUUID, chord.callback.uuid);
        uuids.push(...chord.group.tasks.map((s) => s.uuid));
        const chordResult = await server.sendChord(chord);
        await waitFor(
          async () => (await redis.exists(chord.group.groupUUID)) === 0,
          "the group meta expired",
          5_000,
        );
        const second = server.newWorker("expiry_late", 10);
        second.setErrorHandler(() => {});
        launched = second.launch();
        const waitStarted = Date.now();
        const timer = setTimeout(() => stopWaiting.abort(), WAITER_DEADLINE_MS);
        const outcome = await chordResult.get({ signal: stopWaiting.signal }).then(
          (values) => ({ values }),
          (error: Error) => ({ error }),
        );
        clearTimeout(timer);
        const waitedMs = Date.now() - waitStarted;
        // The members still run (their states, too, live for a second).
        let members = new Map<string, number>();
        await waitFor(
          async () => {
            members = await countStates(redis, chord.group.tasks.map((s) => s.uuid));
            return members.get("SUCCESS") === 3;
          },
          "the members ran",
          10_000,
        ).catch(() => {});
        // Waiting again now that the members are done: the callback is what never comes.
        const again = await chordResult.get({ signal: stopWaiting.signal }).then(
          () => undefined,
          (e: Error) => e,
        );
        await second.quit();
        await launched;
        const error = "error" in outcome ? outcome.error : undefined;
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: TASKS + 2 + 4,
          lost: 0,
          duplicated: 0,
          badInputs: 0,
          outcome: `states gone ${(expiredMs / 1000).toFixed(1)} s after SUCCESS (1 s); ` +
            (error && !stopWaiting.signal.aborted
              ? `expired chord: waiter failed in ${(waitedMs / 1000).toFixed(1)} s`
              : `expired chord: waiter still waiting after ${WAITER_DEADLINE_MS / 1000} s`),
        });
        assert.ok(!stopWaiting.signal.aborted, "the chord's waiter hung");
        assert.ok(error instanceof StateNotFoundError, `the waiter got ${JSON.stringify(outcome)}`);
        assert.match(error.message, /expired/);
        assert.match(error.message, new RegExp(chord.group.groupUUID));
        assert.ok(again instanceof StateNotFoundError, `the second wait got ${again}`);
        assert.equal(members.get("SUCCESS"), 3, "the members themselves ran");
        const callback = await server.backend.getState(chord.callback.uuid).catch(() => null);
        assert.equal(callback, null, "the callback was never sent");
      } finally {
        stopWaiting.abort();
        worker.abort();
        await server.close();
        await deleteKeys(redis, [...uuids, queue]);
        await deletePrefix(redis, keyPrefix);
        redis.disconnect();
        if (kind === "amqp") {
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
      }
    });
  });
}
