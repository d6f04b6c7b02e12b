/**
 * A message is settled (acked) only once its outcome is recorded and its follow-ups are sent;
 * otherwise it goes back to the broker and runs again later. On the real Redis and RabbitMQ
 * brokers: a result backend that refuses writes for a while (a redis-server of the test's own,
 * with `min-replicas-to-write`), a retry publish that fails, and OnSuccess, OnError and chord
 * callback publishes that fail.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { newChord, newGroup, newSignature, type Signature } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP } from "./amqp_support.ts";
import { startOwnRedis } from "../faults/own_redis.ts";
import {
  countStates,
  deleteKeys,
  deletePrefix,
  type FaultRig,
  faultRig,
  skipReason,
} from "../faults/support.ts";
import { describeUnless } from "../helpers.ts";

const TIMEOUT = { timeout: 60_000 };

/** Makes `publish` fail `times` times for each signature `match` picks. */
function failPublishes(rig: FaultRig, match: (sig: Signature) => boolean, times = 1): string[] {
  const failed: string[] = [];
  const publish = rig.broker.publish.bind(rig.broker);
  rig.broker.publish = (sig) => {
    if (match(sig) && failed.filter((u) => u === sig.uuid).length < times) {
      failed.push(sig.uuid);
      return Promise.reject(new Error(`Injected publish failure for "${sig.uuid}"`));
    }
    return publish(sig);
  };
  return failed;
}

async function cleanUp(kind: "redis" | "amqp", rig: FaultRig, uuids: string[]): Promise<void> {
  await rig.server.close();
  await deleteKeys(rig.redis, uuids);
  await deletePrefix(rig.redis, rig.keyPrefix);
  await rig.redis.del(rig.queue);
  rig.redis.disconnect();
  if (kind === "amqp") {
    await deleteAMQP([rig.queue, `${rig.queue}.dead_letters`], [rig.exchange]).catch(() => {});
  }
}

async function states(rig: FaultRig, uuids: string[]): Promise<string[]> {
  return await Promise.all(
    uuids.map((u) => rig.server.backend.getState(u).then((s) => s.state, () => "MISSING")),
  );
}

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeUnless(skip, `settling (${kind})`, () => {
    it("a backend that refuses writes for a while: every task ends SUCCESS", TIMEOUT, async () => {
      const own = await startOwnRedis();
      const admin = own.client;
      const rig = faultRig(kind, "settle_backend", {}, own.url);
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      rig.server.registerTask("gated", async (i: number) => {
        await gate;
        return i;
      });
      const sigs = Array.from(
        { length: 5 },
        (_, i) => newSignature("gated", [{ name: "", type: "int64", value: i }]),
      );
      const uuids = sigs.map((s) => s.uuid);
      const worker = rig.server.newWorker("settle", 3, { handleSignals: false, prefetch: 0 });
      const errors: string[] = [];
      worker.setErrorHandler((e) => errors.push(e.message));
      const running = worker.launch();
      try {
        for (const sig of sigs) await rig.server.sendTask(sig);
        await waitFor(
          async () => (await countStates(admin, uuids)).get("STARTED") === 3,
          "3 tasks STARTED",
        );
        // Writes fail now (there is no replica), at once: the outage, without its waiting.
        await admin.config("SET", "min-replicas-to-write", "1");
        open();
        await waitFor(
          () => errors.filter((e) => /NOREPLICAS/.test(e)).length >= 3,
          "3 refused writes",
        );
        await admin.config("SET", "min-replicas-to-write", "0");
        await waitFor(
          async () => (await countStates(admin, uuids)).get("SUCCESS") === 5,
          "every task SUCCESS",
          40_000,
        ).catch(async (error) => {
          assert.fail(`${error.message}: ${(await states(rig, uuids)).join(", ")}`);
        });
      } finally {
        open();
        await worker.quit();
        await running;
        await cleanUp(kind, rig, []);
        await own.stop();
      }
    });

    it("a retry whose publish fails is not lost", TIMEOUT, async () => {
      const rig = faultRig(kind, "settle_retry");
      let calls = 0;
      rig.server.registerTask("flaky", () => {
        if (++calls === 1) throw new Error("first call fails");
        return "ok";
      });
      const sig = newSignature("flaky", null, { retryCount: 1 });
      const failed = failPublishes(rig, (s) => s.uuid === sig.uuid && s.eta != null);
      const worker = rig.server.newWorker("settle", 2, { handleSignals: false });
      const running = worker.launch();
      try {
        const result = await rig.server.sendTask(sig);
        assert.deepEqual(await result.get({ timeout: 40_000 }), ["ok"]);
        assert.equal(failed.length, 1, "the retry publish failed once");
      } finally {
        await worker.quit();
        await running;
        await cleanUp(kind, rig, [sig.uuid]);
      }
    });

    it(
      "OnSuccess, OnError and chord callbacks run although their publish failed",
      TIMEOUT,
      async () => {
        const rig = faultRig(kind, "settle_callbacks");
        rig.server.registerTask("add", (a: number, b: number) => a + b);
        rig.server.registerTask("boom", () => {
          throw new Error("boom");
        });
        rig.server.registerTask("note", (...args: unknown[]) => args.length);
        const int = (value: number) => ({ name: "", type: "int64", value });
        const onSuccess = newSignature("note");
        const onError = newSignature("note");
        const chordCallback = newSignature("note");
        const callbacks = [onSuccess.uuid, onError.uuid, chordCallback.uuid];
        const failed = failPublishes(rig, (s) => callbacks.includes(s.uuid));
        const worker = rig.server.newWorker("settle", 2, { handleSignals: false });
        const running = worker.launch();
        const members = [
          newSignature("add", [int(1), int(2)]),
          newSignature("add", [int(3), int(4)]),
        ];
        const first = newSignature("add", [int(1), int(1)], { onSuccess: [onSuccess] });
        const second = newSignature("boom", null, { onError: [onError] });
        const uuids = [...callbacks, first.uuid, second.uuid, ...members.map((m) => m.uuid)];
        try {
          await rig.server.sendTask(first);
          await rig.server.sendTask(second);
          await rig.server.sendChord(newChord(newGroup(...members), chordCallback));
          await waitFor(
            async () => (await states(rig, callbacks)).every((s) => s === "SUCCESS"),
            "every callback SUCCESS",
            40_000,
          ).catch(async (error) => {
            assert.fail(`${error.message}: ${(await states(rig, callbacks)).join(", ")}`);
          });
          assert.deepEqual(failed.sort(), [...callbacks].sort(), "each publish failed once");
          // The run went again from the message as it came: the results were appended once.
          const onSuccessState = await rig.server.backend.getState(onSuccess.uuid);
          assert.equal(Number(onSuccessState.results?.[0]?.value), 1, "one argument, the result");
          const chordState = await rig.server.backend.getState(chordCallback.uuid);
          assert.equal(
            Number(chordState.results?.[0]?.value),
            2,
            "the chord callback got both results",
          );
        } finally {
          await worker.quit();
          await running;
          await cleanUp(kind, rig, uuids);
        }
      },
    );
  });
}
