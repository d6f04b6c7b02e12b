/**
 * Fault scenario 4, malformed input: 10,000 bad messages, pushed as raw bytes (RPUSH, or a
 * publish to the exchange), shuffled among 1,000 good tasks sent with `sendTask`. The worker
 * process must stay up, every good task must succeed, and every bad message must end in the
 * outcome machinery's rules give it, counted exactly:
 * - undecodable (invalid JSON, too deep, wrong field types) or too large: set aside in the
 *   dead-letter list or queue with the reason, plus a FAILURE state with Go's text
 *   (`Could not unmarshal '…' into a task signature: …`) when a UUID can be read;
 * - arguments that do not decode (wrong types, an object for a slice, too deep for the type):
 *   FAILURE with `Reflect task args error: …`;
 * - unknown fields and `null` lists: accepted, as Go accepts them (SUCCESS);
 * - unknown tasks: given back with a growing delay (1 s, 2 s, 4 s …), never dropped.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "amqplib";
import { newSignature, newTaskUUID, type Signature } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP } from "../integration/amqp_support.ts";
import {
  AMQP_URL,
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  faultRig,
  killAll,
  readStates,
  recordRow,
  REDIS_URL,
  signal,
  skipReason,
  startWorker,
} from "./support.ts";

const SCENARIO = "malformed input";
const GOOD = 1_000;
const MAX_MESSAGE_BYTES = 64 * 1024;
/** The delays of `requeue.<ms>.<queue>` queues the worker's back-off can use. */
const REQUEUE_DELAYS = [1000, 2000, 4000, 8000, 16000, 30000];

/** What must happen to a bad message. */
type Expect =
  | { kind: "dead"; reason: "unmarshal" | "size"; failure: boolean }
  | { kind: "argsFailure"; error?: string }
  | { kind: "accepted" }
  | { kind: "unknown" };

interface Bad {
  uuid: string;
  body: string;
  expect: Expect;
  category: string;
}

/** A Go-shaped message for task `name` with `args` (raw JSON) and extra raw fields. */
function message(uuid: string, name: string, args: string, extra = ""): string {
  return `{"UUID":"${uuid}","Name":"${name}","RoutingKey":"","ETA":null,"GroupUUID":"",` +
    `"GroupTaskCount":0,"Args":${args},"Headers":{},"Priority":0,"Immutable":false,` +
    `"RetryCount":0,"RetryTimeout":0,"OnSuccess":null,"OnError":null,"ChordCallback":null` +
    `${extra}}`;
}

const arg = (type: string, value: string) => `[{"Name":"","Type":"${type}","Value":${value}}]`;

/** The 10,000 bad messages, by category. */
function badMessages(): Bad[] {
  const out: Bad[] = [];
  const add = (
    category: string,
    n: number,
    make: (uuid: string, i: number) => string,
    expect: Expect | ((i: number) => Expect),
  ) => {
    for (let i = 0; i < n; i++) {
      const uuid = newTaskUUID();
      out.push({
        uuid,
        body: make(uuid, i),
        expect: typeof expect === "function" ? expect(i) : expect,
        category,
      });
    }
  };
  const unmarshal: Expect = { kind: "dead", reason: "unmarshal", failure: true };
  // Invalid JSON that still shows its UUID: FAILURE under that UUID, and a dead letter.
  const broken = [
    (u: string) => message(u, "noop", "[]").slice(0, 60),
    (u: string) => message(u, "noop", "[]") + "xyz",
    (u: string) => `{"UUID":"${u}",'Name':'noop'}`,
    (u: string) => `{"UUID":"${u}","Name":"no\u0001op"}`,
    (u: string) => `{"UUID":"${u}","Name":"noop",}`,
  ];
  add("invalid JSON", 1500, (u, i) => broken[i % broken.length](u), unmarshal);
  // Garbage without a UUID: only a dead letter.
  const garbage = ["", "not json", "{", "[1,2", "[]", "42", '"x"', "\u0000\u0001\u0002", "}{"];
  add(
    "garbage",
    2000,
    (_u, i) => `${garbage[i % garbage.length]}${i % 2 ? "" : " ".repeat(i % 7)}`,
    { kind: "dead", reason: "unmarshal", failure: false },
  );
  // Too large for the worker's limit; one in five in two-byte characters, fewer characters
  // than the limit but more bytes.
  add(
    "huge body",
    50,
    (u, i) =>
      message(
        u,
        "noop",
        arg("string", `"${i % 5 ? "x".repeat(MAX_MESSAGE_BYTES + 1000) : "é".repeat(40_000)}"`),
      ),
    { kind: "dead", reason: "size", failure: true },
  );
  // Nested past the JSON decoder's depth limit (Go's limit is 10,000; ours is 1,000).
  add(
    "too deep",
    250,
    (u, i) =>
      i % 2
        ? message(u, "noop", arg("[]int64", `${"[".repeat(3000)}${"]".repeat(3000)}`))
        : message(u, "noop", "[]", `,"Bogus":${'{"a":'.repeat(2000)}1${"}".repeat(2000)}`),
    unmarshal,
  );
  // Deep but legal JSON where a slice of int64 belongs: the argument does not decode.
  add(
    "deep argument",
    200,
    (u) => message(u, "noop", arg("[]int64", `${"[".repeat(300)}${"]".repeat(300)}`)),
    { kind: "argsFailure" },
  );
  // Fields of the wrong type: the whole message is rejected, as Go rejects it.
  const wrongFields = [
    `,"Priority":"high"`,
    `,"Priority":300`,
    `,"RetryCount":1.5`,
    `,"GroupTaskCount":"3"`,
    `,"Immutable":"yes"`,
    `,"OnSuccess":{}`,
    `,"Headers2":1,"ETA":""`,
    `,"ETA":"2025-01-02 03:04:05"`,
  ];
  add("wrong field types", 2000, (u, i) => {
    switch (i % 10) {
      case 8:
        return message(u, "noop", '"abc"');
      case 9:
        return `{"UUID":"${u}","Name":5}`;
      default:
        // A later duplicate key wins in Go, so the wrong value overrides the good one.
        return message(u, "noop", "[]", wrongFields[i % 10]);
    }
  }, unmarshal);
  // Unknown fields are ignored (Go's encoding/json does the same): the task runs.
  add(
    "unknown fields",
    1000,
    (u, i) => message(u, "noop", "[]", `,"Bogus${i % 5}":1,"Extra":{"x":[1,2,{"y":null}]}`),
    { kind: "accepted" },
  );
  // `null` where a list belongs: an empty list, as in Go.
  const nulls = [
    (u: string) => message(u, "noop", "null"),
    (u: string) => message(u, "noop", arg("[]int64", "null")),
    (u: string) => message(u, "noop", "[]").replace('"Headers":{}', '"Headers":null'),
    (u: string) => `{"UUID":"${u}","Name":"noop","Args":null,"OnSuccess":null,"OnError":null}`,
  ];
  add("null lists", 1000, (u, i) => nulls[i % nulls.length](u), { kind: "accepted" });
  // Arguments of the wrong type: FAILURE with Go's text.
  const wrongArgs: [string, string][] = [
    [arg("int64", '"abc"'), "Reflect task args error: abc is not int64"],
    [arg("bool", "1"), "Reflect task args error: 1 is not bool"],
    [arg("string", "null"), "Reflect task args error: <nil> is not string"],
    [
      arg("int64", "1.5"),
      'Reflect task args error: strconv.ParseInt: parsing "1.5": invalid syntax',
    ],
    [arg("complex128", "1"), "Reflect task args error: complex128 is not one of supported types"],
  ];
  add(
    "wrong argument types",
    1000,
    (u, i) => message(u, "noop", wrongArgs[i % wrongArgs.length][0]),
    (i) => ({ kind: "argsFailure", error: wrongArgs[i % wrongArgs.length][1] }),
  );
  // A slice argument given an object or a bool (Go's worker panics on these).
  const sliceArgs: [string, string][] = [
    [arg("[]int64", '{"a":1}'), "Reflect task args error: map[a:1] is not []int64"],
    [arg("[]string", "true"), "Reflect task args error: true is not []string"],
  ];
  add(
    "object for a slice",
    500,
    (u, i) => message(u, "noop", sliceArgs[i % 2][0]),
    (i) => ({ kind: "argsFailure", error: sliceArgs[i % 2][1] }),
  );
  // Tasks no worker has: given back with a delay, again and again, until one has them.
  add("unknown task", 500, (u, i) => message(u, `no_such_task_${i % 10}`, "[]"), {
    kind: "unknown",
  });
  return out;
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it("10,000 bad messages among 1,000 good ones: each has its outcome", {
      timeout: 150_000,
    }, async () => {
      const { queue, exchange, keyPrefix, server, redis } = faultRig(kind, "bad");
      const amqp = kind === "amqp" ? await connect(AMQP_URL) : undefined;
      amqp?.on("error", () => {});
      const children: Child[] = [];
      const bad = badMessages();
      const good: Signature[] = Array.from(
        { length: GOOD },
        (_, i) => newSignature("noop", [{ name: "", type: "int64", value: i }]),
      );
      const allUUIDs = [...bad.map((b) => b.uuid), ...good.map((s) => s.uuid)];
      try {
        const worker = await startWorker({
          FAULT_BROKER: kind,
          BROKER_URL: kind === "redis" ? REDIS_URL : AMQP_URL,
          BACKEND_URL: REDIS_URL,
          QUEUE: queue,
          KEY_PREFIX: keyPrefix,
          EXCHANGE: exchange,
          CONCURRENCY: "50",
          MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        });
        children.push(worker);

        // Raw bytes, as a careless or hostile sender would put them on the broker.
        const publisher = await amqp?.createConfirmChannel();
        publisher?.on("error", () => {});
        // Declared as the worker declares them, in case it has not connected yet.
        await publisher?.assertExchange(exchange, "direct", { durable: true });
        await publisher?.assertQueue(queue, { durable: true });
        await publisher?.bindQueue(queue, exchange, queue);
        const pushRaw = (body: string): Promise<unknown> => {
          if (kind === "redis") return redis.rpush(queue, body);
          return new Promise<void>((resolve, reject) =>
            publisher!.publish(exchange, queue, Buffer.from(body), {
              contentType: "application/json",
              deliveryMode: 2,
            }, (err) => (err ? reject(err) : resolve()))
          );
        };
        const mixed = shuffle<Bad | Signature>([...bad, ...good]);
        for (let i = 0; i < mixed.length; i += 250) {
          await Promise.all(
            mixed.slice(i, i + 250).map((item) =>
              "expect" in item ? pushRaw(item.body) : server.sendTask(item)
            ),
          );
        }

        const expected = (pred: (e: Expect) => boolean) =>
          bad.filter((b) => pred(b.expect)).map((b) => b.uuid);
        const deadCount = bad.filter((b) => b.expect.kind === "dead").length;
        const failureUUIDs = expected((e) =>
          (e.kind === "dead" && e.failure) || e.kind === "argsFailure"
        );
        const successUUIDs = [
          ...expected((e) => e.kind === "accepted"),
          ...good.map((s) => s.uuid),
        ];
        const deadLetters = async (): Promise<{ reason: string; body: string }[]> => {
          if (kind === "redis") {
            const items = await redis.lrange(`${keyPrefix}dead:${queue}`, 0, -1);
            return items.map((item) => JSON.parse(item));
          }
          const ch = await amqp!.createChannel();
          ch.on("error", () => {});
          try {
            const out: { reason: string; body: string }[] = [];
            for (;;) {
              // Taken for good: the queue is deleted at the end anyway (fast once empty).
              const m = await ch.get(`${queue}.dead_letters`, { noAck: true });
              if (m === false) break;
              out.push({
                reason: String(m.properties.headers?.["x-machinery-reason"] ?? ""),
                body: m.content.toString("utf8"),
              });
            }
            return out;
          } finally {
            await ch.close().catch(() => {});
          }
        };
        const deadSoFar = async () =>
          kind === "redis"
            ? await redis.llen(`${keyPrefix}dead:${queue}`)
            : await amqp!.createChannel().then(async (ch) => {
              ch.on("error", () => {});
              try {
                return (await ch.checkQueue(`${queue}.dead_letters`)).messageCount;
              } catch {
                return 0;
              } finally {
                await ch.close().catch(() => {});
              }
            });
        let progress = "";
        await waitFor(
          async () => {
            const failures = (await countStates(redis, failureUUIDs)).get("FAILURE") ?? 0;
            const successes = (await countStates(redis, successUUIDs)).get("SUCCESS") ?? 0;
            const dead = await deadSoFar();
            progress = `${failures}/${failureUUIDs.length} FAILURE, ` +
              `${successes}/${successUUIDs.length} SUCCESS, ${dead}/${deadCount} dead letters`;
            return failures === failureUUIDs.length && successes === successUUIDs.length &&
              dead >= deadCount;
          },
          "every outcome recorded",
          90_000,
        ).catch((error) => {
          throw new Error(`${error.message} (${progress})`);
        });
        assert.ok(worker.alive(), `the worker died:\n${worker.stderr()}`);

        // Every state, checked against what its message should have led to.
        const states = await readStates(redis, bad.map((b) => b.uuid));
        const mismatches: string[] = [];
        const outcome = { deadFailure: 0, argsFailure: 0, accepted: 0 };
        bad.forEach((b, i) => {
          const state = states[i];
          const e = b.expect;
          const wrong = (why: string) =>
            mismatches.push(`${b.category} ${b.uuid}: ${why} (${JSON.stringify(state)})`);
          if (e.kind === "dead" && e.failure) {
            const prefix = e.reason === "size"
              ? `Message of ${
                utf8Length(b.body)
              } bytes exceeds the limit of ${MAX_MESSAGE_BYTES} bytes`
              : `Could not unmarshal '`;
            if (state?.State !== "FAILURE" || !state.Error.startsWith(prefix)) {
              wrong(`expected FAILURE "${prefix}…"`);
            } else if (
              e.reason === "unmarshal" && !state.Error.includes("into a task signature: ")
            ) {
              wrong("expected Go's unmarshal text");
            } else outcome.deadFailure++;
          } else if (e.kind === "dead") {
            if (state !== null) wrong("expected no state");
          } else if (e.kind === "argsFailure") {
            const ok = state?.State === "FAILURE" &&
              (e.error
                ? state.Error === e.error
                : state.Error.startsWith("Reflect task args error: "));
            if (!ok) wrong(`expected FAILURE ${e.error ?? "Reflect task args error: …"}`);
            else outcome.argsFailure++;
          } else if (e.kind === "accepted") {
            if (state?.State !== "SUCCESS") wrong("expected SUCCESS");
            else outcome.accepted++;
          } else if (state !== null) {
            wrong("an unknown task must not run");
          }
        });
        assert.deepEqual(mismatches.slice(0, 10), []);

        // The dead letters: exactly one per undecodable or oversized message, with its reason.
        const letters = await deadLetters();
        const reasons = { unmarshal: 0, size: 0, other: 0 };
        for (const letter of letters) {
          if (letter.reason.startsWith("Could not unmarshal '")) reasons.unmarshal++;
          else if (letter.reason.startsWith("Message of ")) reasons.size++;
          else reasons.other++;
        }
        const expectDead = (reason: string) =>
          bad.filter((b) => b.expect.kind === "dead" && b.expect.reason === reason).length;
        assert.deepEqual(reasons, {
          unmarshal: expectDead("unmarshal"),
          size: expectDead("size"),
          other: 0,
        });

        // Stop the worker (gracefully: it has not crashed), then count the unknown tasks, which
        // wait in the queue or in the delayed requeue set/queues.
        signal(worker, "SIGTERM");
        const exit = await worker.exited;
        assert.equal(exit.code, 0, worker.stderr());
        const unknown = bad.filter((b) => b.expect.kind === "unknown").length;
        let held = 0;
        await waitFor(
          async () => {
            held = kind === "redis"
              ? await redis.multi().llen(queue).zcard(`${keyPrefix}requeued`).exec().then((r) =>
                r!.reduce((n, [, v]) => n + Number(v), 0)
              )
              : await amqpDepth(amqp!, [
                queue,
                ...REQUEUE_DELAYS.map((d) => `requeue.${d}.${queue}`),
              ]);
            return held === unknown;
          },
          `${unknown} unknown tasks held`,
          40_000,
        ).catch(() => {});
        assert.equal(held, unknown, "every unknown task is still held for a worker that has it");

        const goodDone = (await countStates(redis, good.map((s) => s.uuid))).get("SUCCESS") ?? 0;
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: GOOD,
          lost: GOOD - goodDone,
          duplicated: 0,
          badInputs: bad.length,
          outcome: `dead-lettered ${letters.length} (${outcome.deadFailure} with FAILURE), ` +
            `args FAILURE ${outcome.argsFailure}, accepted ${outcome.accepted}, ` +
            `unknown held ${held}; worker up, exit 0`,
        });
        assert.equal(goodDone, GOOD);
      } finally {
        await killAll(children);
        await server.close();
        await deleteKeys(redis, [...allUUIDs, queue]);
        await deletePrefix(redis, keyPrefix);
        redis.disconnect();
        await amqp?.close().catch(() => {});
        if (kind === "amqp") {
          await deleteAMQP(
            [
              queue,
              `${queue}.dead_letters`,
              ...REQUEUE_DELAYS.map((d) => `requeue.${d}.${queue}`),
            ],
            [exchange],
          ).catch(() => {});
        }
      }
    });
  });
}

/** The total of ready messages in `queues` (a missing queue counts 0). */
async function amqpDepth(
  conn: import("amqplib").ChannelModel,
  queues: string[],
): Promise<number> {
  let total = 0;
  for (const name of queues) {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    try {
      total += (await ch.checkQueue(name)).messageCount;
      await ch.close();
    } catch {
      // Not declared: nothing was ever requeued with that delay.
    }
  }
  return total;
}
