/**
 * The AMQP result backend's group behaviours on RabbitMQ: the chord trigger firing exactly once,
 * and a group's final states counted once per task. The broker's behaviours are in the broker
 * contract (`tests/conformance/`).
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { newGroupUUID, newTaskUUID } from "../../mod.ts";
import { decodeSignature } from "../../src/wire/mod.ts";
import { AMQPBackend } from "../../src/amqp/mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName } from "./amqp_support.ts";

const skip = await amqpSkipReason();
const TIMEOUT = 30_000;

function task(name = "noop") {
  return decodeSignature(JSON.stringify({ UUID: newTaskUUID(), Name: name }));
}

describeUnless(skip, "amqp backend groups", () => {
  const exchange = uniqueName("broker_exchange");

  after(async () => {
    await deleteAMQP([], [exchange]);
  });

  it("triggers a chord exactly once among concurrent callers", { timeout: TIMEOUT }, async () => {
    const backends = Array.from(
      { length: 4 },
      () => new AMQPBackend(AMQP_URL, { config: { resultsExpireIn: 60, amqp: { exchange } } }),
    );
    const group = newGroupUUID();
    try {
      const wins = await Promise.all(
        backends.flatMap((b) => [b.triggerChord(group), b.triggerChord(group)]),
      );
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await backends[0].triggerChord(group), false);
      await backends[0].purgeGroupMeta(group);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  it("counts a group complete and lists its states once per task", {
    timeout: TIMEOUT,
  }, async () => {
    const backend = new AMQPBackend(AMQP_URL, {
      config: { resultsExpireIn: 60, amqp: { exchange } },
    });
    const group = newGroupUUID();
    try {
      const members = [task("add"), task("add")];
      for (const m of members) {
        m.groupUUID = group;
        m.groupTaskCount = 2;
      }
      assert.equal(await backend.groupCompleted(group, 2), false);
      await backend.setStateSuccess(members[0], [{ type: "int64", value: 1 }]);
      assert.equal(await backend.groupCompleted(group, 2), false);
      await backend.setStateSuccess(members[1], [{ type: "int64", value: 2 }]);
      // A redelivered member publishing its final state again is not counted twice.
      await backend.setStateSuccess(members[1], [{ type: "int64", value: 2 }]);
      assert.equal(await backend.groupCompleted(group, 2), true);
      const states = await backend.groupTaskStates(group, 2);
      assert.deepEqual(states.map((s) => s.taskUUID), members.map((m) => m.uuid));
      await waitFor(() => backend.groupCompleted(group, 2), "reading keeps the states");
      for (const m of members) await backend.purgeState(m.uuid);
      await backend.purgeGroupMeta(group);
    } finally {
      await backend.close();
    }
  });
});
