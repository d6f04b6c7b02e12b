/**
 * Fault scenario 5, a chord fires exactly once: 500 chords of 20 members each, run by 4 worker
 * processes at once, so the last members of a group often finish together in different
 * processes and race to send the callback. Every callback must run exactly once, with all 20
 * results; once the workers have stopped, nothing is left in the queue that could run a
 * callback twice.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { type Chord, newChord, newGroup, newSignature } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP, withChannel } from "../integration/amqp_support.ts";
import {
  AMQP_URL,
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  faultRig,
  inBatches,
  killAll,
  readStates,
  recordRow,
  REDIS_URL,
  runCounts,
  signal,
  skipReason,
  startWorker,
} from "./support.ts";

const SCENARIO = "chord exactly once";
const CHORDS = 500;
const MEMBERS = 20;
const PROCESSES = 4;
const SUM = (MEMBERS * (MEMBERS - 1)) / 2;

const int64 = (value: number) => ({ name: "", type: "int64" as const, value });

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it(`${CHORDS} chords of ${MEMBERS} over ${PROCESSES} processes: each callback once`, {
      timeout: 150_000,
    }, async () => {
      const { queue, exchange, keyPrefix, runsKey, server, redis } = faultRig(
        kind,
        "chord",
      );
      const children: Child[] = [];
      const chords: Chord[] = Array.from({ length: CHORDS }, (_, i) =>
        newChord(
          newGroup(
            ...Array.from({ length: MEMBERS }, (_, j) =>
              newSignature("member", [int64(i), int64(j)])),
          ),
          newSignature("chordDone", [int64(i)]),
        ));
      const callbacks = chords.map((c) => c.callback.uuid);
      const members = chords.flatMap((c) => c.group.tasks.map((t) => t.uuid));
      const groups = chords.map((c) => c.group.groupUUID);
      try {
        const started = await Promise.all(
          Array.from({ length: PROCESSES }, () =>
            startWorker({
              FAULT_BROKER: kind,
              BROKER_URL: kind === "redis" ? REDIS_URL : AMQP_URL,
              BACKEND_URL: REDIS_URL,
              QUEUE: queue,
              KEY_PREFIX: keyPrefix,
              EXCHANGE: exchange,
              CONCURRENCY: "10",
              FAULTS_COUNTER_URL: REDIS_URL,
              FAULTS_RUNS_KEY: runsKey,
            })),
        );
        children.push(...started);
        await inBatches(chords, 20, (chord) => server.sendChord(chord));
        let done = 0;
        await waitFor(
          async () => {
            done = (await countStates(redis, callbacks)).get("SUCCESS") ?? 0;
            return done === CHORDS;
          },
          "every callback SUCCESS",
          120_000,
        ).catch(() => {});

        // Stop every worker (a drain); whatever is still queued would be a second callback.
        for (const child of children) signal(child, "SIGTERM");
        const exits = await Promise.all(children.map((c) => c.exited));
        assert.deepEqual(exits.map((e) => e.code), children.map(() => 0));
        const left = kind === "redis"
          ? await redis.llen(queue)
          : await withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);

        const runs = await runCounts(redis, runsKey);
        const callbackRuns = Array.from({ length: CHORDS }, (_, i) => runs.counts[`c:${i}`] ?? 0);
        const twice = callbackRuns.filter((n) => n > 1).length;
        const never = callbackRuns.filter((n) => n === 0).length;
        const memberRuns = Object.entries(runs.counts).filter(([k]) => k.startsWith("m:"));
        const memberExtra = memberRuns.reduce((n, [, v]) => n + v - 1, 0);
        const states = await readStates(redis, callbacks);
        const wrongSum = states.filter((s) =>
          !s || !JSON.stringify(s).includes(`"Results":[{"Type":"int64","Value":${SUM}}]`)
        ).length;
        const memberStates = await countStates(redis, members);
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: CHORDS * (MEMBERS + 1),
          lost: never + (members.length - (memberStates.get("SUCCESS") ?? 0)),
          duplicated: memberExtra + callbackRuns.reduce((n, v) =>
            n + Math.max(0, v - 1), 0),
          badInputs: 0,
          outcome: `${CHORDS - never - twice}/${CHORDS} callbacks ran exactly once ` +
            `(${PROCESSES} processes), ${twice} twice, ${never} never; ${left} left queued`,
        });
        assert.equal(done, CHORDS, "every callback SUCCESS");
        assert.equal(never, 0, "callbacks that never ran");
        assert.equal(twice, 0, "callbacks that ran more than once");
        assert.equal(wrongSum, 0, "callbacks without the 20 results");
        assert.equal(memberStates.get("SUCCESS"), members.length);
        assert.equal(left, 0, "messages left in the queue");
      } finally {
        await killAll(children);
        await server.close();
        await deleteKeys(redis, [...callbacks, ...members, ...groups, queue]);
        await deletePrefix(redis, keyPrefix);
        for (const group of groups) {
          await redis.del(
            `machinery:ts:group_members:${group}`,
            `machinery:ts:group_done:${group}`,
          );
        }
        redis.disconnect();
        if (kind === "amqp") {
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
      }
    });
  });
}
