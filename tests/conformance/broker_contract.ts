/**
 * The broker contract (`src/broker.ts`), stated once: every broker adapter's conformance file
 * calls {@linkcode brokerContract} with a factory, and these tests run against it. A clause an
 * adapter cannot honour is declared in {@linkcode BrokerContractOptions} with the reason, and the
 * test's name says so; where the limit can be observed, the test checks it.
 *
 * Not a `*_test.ts` file: it registers nothing on its own.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import type { Broker, Delivery } from "../../src/broker.ts";
import { ClosedError } from "../../src/errors.ts";
import {
  decodeSignature,
  encodeSignature,
  newSignature,
  type Signature,
} from "../../src/wire/signature.ts";
import { describeUnless, waitFor } from "../helpers.ts";

/** A rejected message as the adapter keeps it. */
export interface DeadLetterView {
  /** The message body, unchanged. */
  body: string;
  /** The reason given to `reject`. */
  reason: string;
}

/** `true` when the adapter honours a clause, otherwise why it cannot (shown in the test name). */
export type Capability = true | string;

/** What the contract needs to know about one broker adapter. */
export interface BrokerContractOptions {
  /** Skip every test with this reason (a server is missing). */
  skip?: string | false;
  /**
   * A new broker whose default queue is `queue`: a signature with an empty routing key lands
   * there. Brokers made for the same queue are clients of the same queue.
   */
  make(queue: string): Broker | Promise<Broker>;
  /** Reads the messages rejected from `queue`, or why the adapter keeps none. */
  deadLetters: ((broker: Broker, queue: string) => Promise<DeadLetterView[]>) | string;
  /** Empties `queue`, or why the adapter cannot. */
  purge: ((broker: Broker, queue: string) => Promise<void>) | string;
  /** Whether another broker instance receives what a closed one left unsettled. */
  redeliversToOtherInstances: Capability;
  /** Whether a delivery given back by a closed consumer says `redelivered`. */
  flagsRedelivered: Capability;
  /** Whether `getDelayedTasks` lists a task held for its ETA. */
  listsDelayedTasks: Capability;
  /** Deletes what the tests left behind on these queues (keys, queues, exchanges). */
  cleanup?(queues: string[]): Promise<void>;
}

/** The delay the requeue test asks for, in ms (adapters may name a queue after it). */
export const REQUEUE_DELAY_MS = 400;

const TIMEOUT = { timeout: 30_000 };

/** Registers the broker contract's tests for one adapter, under `conformance: <name>`. */
export function brokerContract(name: string, options: BrokerContractOptions): void {
  describeUnless(options.skip, `broker contract: ${name}`, () => {
    const queues: string[] = [];
    const opened: Broker[] = [];

    /** A queue of this test's own, and a broker on it (closed after the suite). */
    async function fresh(): Promise<{ queue: string; broker: Broker }> {
      const queue = `contract_${crypto.randomUUID().slice(0, 8)}`;
      queues.push(queue);
      return { queue, broker: await open(queue) };
    }

    async function open(queue: string): Promise<Broker> {
      const broker = await options.make(queue);
      opened.push(broker);
      return broker;
    }

    after(async () => {
      await Promise.allSettled(opened.map((b) => b.close()));
      await options.cleanup?.(queues);
    });

    it("publishes a task and hands it out once, its bytes unchanged", TIMEOUT, async () => {
      const { queue, broker } = await fresh();
      const sig = task("add", { name: "", type: "int64", value: 1 });
      await broker.publish(sig);
      assert.equal(sig.routingKey, queue, "an empty routing key leads to the default queue");
      const got = await consumeUntil(broker, queue, 1, (d) => d.length === 1);
      assert.equal(got[0].body, encodeSignature(sig));
      assert.equal(got[0].redelivered, false);
      await got[0].ack();
      await waitFor(
        async () => (await broker.getPendingTasks(queue)).length === 0,
        "the queue is empty after the ack",
      );
    });

    it("keeps every one of many concurrent publishes", TIMEOUT, async () => {
      const { queue, broker } = await fresh();
      const sigs = Array.from({ length: 500 }, () => task());
      await Promise.all(sigs.map((s) => broker.publish(s)));
      const pending = await broker.getPendingTasks(queue);
      assert.deepEqual(uuids(pending).sort(), uuids(sigs).sort());
    });

    it(
      "never holds more unsettled deliveries than its capacity; they stay valid after a stop",
      TIMEOUT,
      async () => {
        const { queue, broker } = await fresh();
        const sigs = Array.from({ length: 10 }, () => task());
        for (const s of sigs) await broker.publish(s);
        const capacity = 3;
        const got: Delivery[] = [];
        let unsettled = 0;
        let most = 0;
        const stop = new AbortController();
        const consuming = broker.consume(
          { queue, capacity, consumerTag: "capacity", signal: stop.signal },
          (d) => {
            got.push(d);
            most = Math.max(most, ++unsettled);
          },
        );
        try {
          await waitFor(() => got.length === capacity, "the first deliveries");
          // The rest wait in the queue: the broker took no more than it may hold.
          await waitFor(
            async () => (await broker.getPendingTasks(queue)).length === sigs.length - capacity,
            "the other messages still queued",
          );
          assert.equal(got.length, capacity);
          const last = sigs.length - capacity;
          for (let settled = 0; settled < last; settled++) {
            await waitFor(() => got.length > settled, `delivery ${settled + 1}`);
            unsettled--;
            await got[settled].ack();
          }
          await waitFor(() => got.length === sigs.length, "every delivery");
        } finally {
          stop.abort();
          await consuming;
        }
        assert.equal(most, capacity, `at most ${capacity} unsettled, saw ${most}`);
        assert.deepEqual(uuids(got.map(decoded)).sort(), uuids(sigs).sort());
        // Acked after the consume ended: the acks hold, so closing gives nothing back.
        for (const d of got.slice(sigs.length - capacity)) await d.ack();
        await assert.rejects(got[0].ack(), /already settled/, "a second settle rejects");
        await broker.close();
        const reader = options.redeliversToOtherInstances === true ? await open(queue) : broker;
        assert.deepEqual(await reader.getPendingTasks(queue), [], "nothing came back");
      },
    );

    it(
      `requeues with a delay: back no sooner than ${REQUEUE_DELAY_MS} ms, and back`,
      TIMEOUT,
      async () => {
        const { queue, broker } = await fresh();
        const sig = task();
        await broker.publish(sig);
        const seen: { body: string; at: number }[] = [];
        let requeuedAt = 0;
        const stop = new AbortController();
        const consuming = broker.consume(
          { queue, capacity: 5, consumerTag: "requeue", signal: stop.signal },
          (d) => {
            seen.push({ body: d.body, at: Date.now() });
            if (seen.length === 1) {
              requeuedAt = Date.now();
              d.requeue(REQUEUE_DELAY_MS);
            } else d.ack();
          },
        );
        try {
          await waitFor(() => seen.length === 2, "the requeued message comes back");
          const after = seen[1].at - requeuedAt;
          assert.equal(seen[1].body, seen[0].body);
          assert.ok(after >= REQUEUE_DELAY_MS - 5, `back after ${after} ms`);
          assert.ok(after < REQUEUE_DELAY_MS + 700, `back only after ${after} ms`);
        } finally {
          stop.abort();
          await consuming;
        }
      },
    );

    const keepsDeadLetters = typeof options.deadLetters === "function";
    it(
      keepsDeadLetters
        ? "sets a rejected message aside with its reason, never to come back"
        : `never hands out a rejected message again (keeps no dead letters: ${options.deadLetters})`,
      TIMEOUT,
      async () => {
        const { queue, broker } = await fresh();
        const bad = task("bad");
        await broker.publish(bad);
        const seen: string[] = [];
        const stop = new AbortController();
        const consuming = broker.consume(
          { queue, capacity: 5, consumerTag: "reject", signal: stop.signal },
          (d) => {
            seen.push(decoded(d).uuid);
            if (decoded(d).uuid === bad.uuid) d.reject(`no good: "${bad.uuid}"`);
            else d.ack();
          },
        );
        try {
          await waitFor(() => seen.length === 1, "the message to reject");
          if (typeof options.deadLetters === "function") {
            const read = options.deadLetters;
            const dead = await waitFor(
              async () => (await read(broker, queue)).find((d) => d.body.includes(bad.uuid)),
              "the dead letter",
            );
            assert.equal(dead.body, encodeSignature(bad));
            assert.equal(dead.reason, `no good: "${bad.uuid}"`);
          }
          // A later message arrives; the rejected one does not come back before or with it.
          const marker = task("marker");
          await broker.publish(marker);
          await waitFor(() => seen.includes(marker.uuid), "the later message");
          assert.deepEqual(seen, [bad.uuid, marker.uuid]);
        } finally {
          stop.abort();
          await consuming;
        }
      },
    );

    const otherInstance = options.redeliversToOtherInstances === true;
    it(
      otherInstance
        ? "gives what a closed consumer left unsettled to the next one, in order, first"
        : "keeps what a closed consumer left unsettled at the head of its queue, in order " +
          `(not seen by another instance: ${options.redeliversToOtherInstances})`,
      TIMEOUT,
      async () => {
        const queue = `contract_${crypto.randomUUID().slice(0, 8)}`;
        queues.push(queue);
        // Not in `opened`: this broker is closed by the test itself, without settling.
        const first = await options.make(queue);
        const sigs = Array.from({ length: 5 }, () => task());
        for (const s of sigs) await first.publish(s);
        const got: Delivery[] = [];
        const stop = new AbortController();
        // A broker closed under a consumer may end `consume` with an error: expected here.
        const consuming = first.consume(
          { queue, capacity: 3, consumerTag: "gone", signal: stop.signal },
          (d) => got.push(d),
        ).catch(() => {});
        await waitFor(() => got.length === 3, "three deliveries");
        assert.deepEqual(uuids(got.map(decoded)), uuids(sigs.slice(0, 3)));
        await got[1].ack();
        await first.close(); // m0 and m2 are never settled
        stop.abort();
        await consuming;

        const reader = otherInstance ? await open(queue) : first;
        const expected = [sigs[0], sigs[2], sigs[3], sigs[4]].map((s) => s.uuid);
        await waitFor(
          async () =>
            JSON.stringify(uuids(await reader.getPendingTasks(queue))) ===
              JSON.stringify(expected),
          "the unsettled messages back at the head of the queue, in order",
        );
        if (!otherInstance) return;
        const again = await consumeUntil(reader, queue, 1, (d) => d.length === 1);
        assert.equal(again[0].body, got[0].body);
        if (options.flagsRedelivered === true) assert.equal(again[0].redelivered, true);
        await again[0].ack();
      },
    );

    const listsDelayed = options.listsDelayedTasks === true;
    it(
      "holds a task with a future ETA until that time" +
        (listsDelayed ? ", listing it as delayed" : ` (not listed: ${options.listsDelayedTasks})`),
      TIMEOUT,
      async () => {
        const { queue, broker } = await fresh();
        const eta = Date.now() + 500;
        const sig = task("later");
        sig.eta = new Date(eta).toISOString();
        await broker.publish(sig);
        if (listsDelayed) {
          assert.ok(uuids(await broker.getDelayedTasks()).includes(sig.uuid), "listed as delayed");
        } else {
          await assert.rejects(broker.getDelayedTasks());
        }
        assert.deepEqual(await broker.getPendingTasks(queue), [], "not in the queue yet");
        const got = await consumeUntil(broker, queue, 1, (d) => d.length === 1);
        const at = Date.now();
        assert.equal(decoded(got[0]).uuid, sig.uuid);
        assert.ok(at >= eta, `handed out ${eta - at} ms before its ETA`);
        await got[0].ack();
      },
    );

    if (typeof options.purge === "function") {
      const purge = options.purge;
      it("purges a queue", TIMEOUT, async () => {
        const { queue, broker } = await fresh();
        for (let i = 0; i < 3; i++) await broker.publish(task());
        await purge(broker, queue);
        assert.deepEqual(await broker.getPendingTasks(queue), []);
      });
    } else {
      it(`has no purge (${options.purge})`, async () => {
        const { broker } = await fresh();
        assert.equal((broker as unknown as Record<string, unknown>).purge, undefined);
      });
    }

    it(
      "connects idempotently, closes idempotently, and refuses to publish once closed",
      TIMEOUT,
      async () => {
        const { broker } = await fresh();
        await Promise.all([broker.connect(), broker.connect()]);
        await broker.publish(task());
        await Promise.all([broker.close(), broker.close()]);
        await broker.close();
        await assert.rejects(broker.publish(task()), ClosedError);
      },
    );
  });
}

/** A task with a fresh UUID and an empty routing key. */
function task(name = "noop", ...args: { name: string; type: string; value: unknown }[]): Signature {
  return newSignature(name, args);
}

function uuids(sigs: Signature[]): string[] {
  return sigs.map((s) => s.uuid);
}

function decoded(delivery: Delivery): Signature {
  return decodeSignature(delivery.body);
}

/** Consumes `queue` until `done(deliveries)`, then stops; returns the unsettled deliveries. */
async function consumeUntil(
  broker: Broker,
  queue: string,
  capacity: number,
  done: (got: Delivery[]) => boolean,
): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const stop = new AbortController();
  const consuming = broker.consume(
    { queue, capacity, consumerTag: "contract", signal: stop.signal },
    (d) => got.push(d),
  );
  try {
    await waitFor(() => done(got), "the deliveries");
  } finally {
    stop.abort();
    await consuming;
  }
  return got;
}
