/**
 * The MongoDB backend's mapping between TaskState/GroupMeta and machinery's documents (docs/wire.md#mongodb),
 * without a server: what each state's `$set` holds, the BSON type of each result type, and round
 * trips through real BSON bytes that give back Go's JSON (the vectors of tests/fixtures/go_vectors.json).
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Binary, BSON, Double, Int32, Long } from "mongodb";
import { newSignature } from "../mod.ts";
import { parseJson } from "../src/wire/json.ts";
import {
  encodeGroupMeta,
  encodeResults,
  encodeTaskState,
  failureState,
  newGroupMeta,
  pendingState,
  receivedState,
  retryState,
  startedState,
  successState,
  type TaskResult,
} from "../src/wire/state.ts";
import { bsonToWire, resultFromBson, resultToBson } from "../src/mongodb/_bson_values.ts";
import {
  DEFAULT_DATABASE,
  deleteAt,
  GROUP_METAS_COLLECTION,
  groupMetaFromDocument,
  groupMetaToDocument,
  TASKS_COLLECTION,
  taskStateFromDocument,
  taskStateUpdate,
} from "../src/mongodb/_documents.ts";

interface Vectors {
  task_states: Record<string, string>;
  group_metas: Record<string, string>;
  results: Record<string, string>;
}

let vectors: Vectors;

before(async () => {
  vectors = JSON.parse(
    await readFile(new URL("./fixtures/go_vectors.json", import.meta.url), "utf8"),
  );
});

/** A document as the server hands it back: through BSON bytes, numbers as driver classes. */
function stored<T extends object>(doc: T): Record<string, unknown> {
  return BSON.deserialize(BSON.serialize(doc), { promoteValues: false, promoteBuffers: false });
}

function resultsOf(text: string): TaskResult[] {
  return (parseJson(text) as { Type: string; Value: unknown }[]).map((r) => ({
    type: r.Type,
    value: r.Value,
  }));
}

const UUID = "task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11";
const NOW = new Date("2025-01-02T03:04:05.123Z");

describe("mongodb mapping: names", () => {
  it("uses machinery's database and collections", () => {
    assert.equal(DEFAULT_DATABASE, "machinery");
    assert.equal(TASKS_COLLECTION, "tasks");
    assert.equal(GROUP_METAS_COLLECTION, "group_metas");
  });

  it("sets delete_at to now + ResultsExpireIn", () => {
    assert.equal(deleteAt(3600, NOW.getTime()).toISOString(), "2025-01-02T04:04:05.123Z");
  });
});

describe("mongodb mapping: task state updates", () => {
  const sig = newSignature("add", null, { uuid: UUID });
  const expires = new Date("2025-01-02T04:04:05.123Z");

  it("PENDING sets state, task_name and created_at", () => {
    const update = taskStateUpdate(pendingState(sig, NOW), expires);
    assert.deepEqual(update, { state: "PENDING", task_name: "add", created_at: NOW });
    assert.ok(update.created_at instanceof Date);
  });

  it("RECEIVED, STARTED and RETRY set the state only", () => {
    assert.deepEqual(taskStateUpdate(receivedState(sig), expires), { state: "RECEIVED" });
    assert.deepEqual(taskStateUpdate(startedState(sig), expires), { state: "STARTED" });
    assert.deepEqual(taskStateUpdate(retryState(sig), expires), { state: "RETRY" });
  });

  it("SUCCESS sets results and delete_at", () => {
    const update = taskStateUpdate(successState(sig, [{ type: "int64", value: 2 }]), expires);
    assert.deepEqual(Object.keys(update), ["state", "results", "delete_at"]);
    assert.equal(update.state, "SUCCESS");
    assert.equal(update.delete_at, expires);
    const [r] = update.results as { type: string; value: unknown }[];
    assert.equal(r.type, "int64");
    assert.ok(r.value instanceof Long);
    assert.equal(String(r.value), "2");
    const empty = taskStateUpdate(successState(sig, []), expires);
    assert.deepEqual(empty.results, []);
  });

  it("FAILURE sets error and delete_at", () => {
    assert.deepEqual(taskStateUpdate(failureState(sig, "oops"), expires), {
      state: "FAILURE",
      error: "oops",
      delete_at: expires,
    });
  });
});

describe("mongodb mapping: result values", () => {
  function bsonOf(type: string, value: unknown): unknown {
    return resultToBson({ type, value }).value;
  }

  it("stores each Go type as the Go driver does", () => {
    assert.equal(bsonOf("bool", true), true);
    assert.equal(bsonOf("string", "x"), "x");
    for (const t of ["int8", "int16", "int32", "uint8", "uint16"]) {
      const v = bsonOf(t, 7);
      assert.ok(v instanceof Int32, t);
      assert.equal(Number(v), 7);
    }
    assert.ok(bsonOf("int", 7) instanceof Int32);
    assert.ok(bsonOf("int", 2 ** 40) instanceof Long);
    for (const t of ["int64", "uint", "uint32", "uint64"]) {
      assert.ok(bsonOf(t, 7) instanceof Long, t);
    }
    assert.equal(String(bsonOf("int64", 185135722552891243n)), "185135722552891243");
    const f32 = bsonOf("float32", 1.28);
    assert.ok(f32 instanceof Double);
    assert.equal(f32.value, Math.fround(1.28));
    assert.ok(bsonOf("float64", 4.2) instanceof Double);
    const bytes = bsonOf("[]byte", new Uint8Array([1, 2, 255]));
    assert.ok(bytes instanceof Binary);
    assert.deepEqual([...bytes.value()], [1, 2, 255]);
    assert.ok(bsonOf("[]uint8", "AQL/") instanceof Binary, "base64 wire form");
    assert.deepEqual(bsonOf("[]string", ["f", "o"]), ["f", "o"]);
    const longs = bsonOf("[]int64", [1, 2]) as unknown[];
    assert.ok(longs.every((x) => x instanceof Long));
    assert.equal(bsonOf("[]int64", null), null);
  });

  it("fails a uint64 beyond int64, as Go's driver does", () => {
    assert.throws(
      () => resultToBson({ type: "uint64", value: 18446744073709551615n }),
      { name: "RangeError", message: "18446744073709551615 overflows int64" },
    );
  });

  it("keeps a JSON-looking string a string (Go would store type json)", () => {
    assert.deepEqual(resultToBson({ type: "string", value: '{"a":1}' }), {
      type: "string",
      value: '{"a":1}',
    });
  });

  it("reads a json result Go wrote as a string of its JSON", () => {
    const doc = stored({ r: { type: "json", value: { a: new Double(1), b: ["x"] } } }).r;
    assert.deepEqual(resultFromBson(doc), { type: "string", value: '{"a":1,"b":["x"]}' });
    assert.deepEqual(resultFromBson({ type: "json", value: null }), {
      type: "string",
      value: "null",
    });
  });

  it("round-trips Go's result vectors through BSON to Go's bytes", () => {
    for (const [name, text] of Object.entries(vectors.results)) {
      if (name === "res uint64 max") continue; // Go cannot store it either (see above)
      const doc = stored({ results: resultsOf(text).map(resultToBson) });
      const back = (doc.results as unknown[]).map(resultFromBson);
      assert.equal(encodeResults(back), text, name);
    }
  });

  it("turns BSON values into wire values", () => {
    assert.equal(String(bsonToWire(Long.fromString("9223372036854775807"))), "9223372036854775807");
    assert.equal(String(bsonToWire(new Int32(5))), "5");
    assert.equal(String(bsonToWire(new Double(0.1))), "0.1");
    assert.equal(String(bsonToWire(3)), "3");
    assert.equal(bsonToWire(NOW), "2025-01-02T03:04:05.123Z");
    assert.deepEqual(bsonToWire(new Binary(new Uint8Array([9]))), new Uint8Array([9]));
    assert.equal(bsonToWire(undefined), null);
  });
});

describe("mongodb mapping: documents to TaskState", () => {
  it("reads a full SUCCESS document as Go's TaskState bytes", () => {
    const doc = stored({
      _id: UUID,
      state: "SUCCESS",
      task_name: "add",
      created_at: NOW,
      results: [{ type: "int64", value: Long.fromNumber(2) }],
      delete_at: NOW,
    });
    const expected = vectors.task_states["state success"].replace(
      "2025-01-02T03:04:05.123456Z",
      "2025-01-02T03:04:05.123Z", // BSON dates keep milliseconds
    );
    assert.equal(encodeTaskState(taskStateFromDocument(doc)), expected);
  });

  it("reads what each write leaves behind", () => {
    const sig = newSignature("add", null, { uuid: UUID });
    const expires = deleteAt(60, NOW.getTime());
    let doc: Record<string, unknown> = { _id: UUID };
    const apply = (update: Record<string, unknown>) => {
      doc = stored({ ...doc, ...update });
    };
    apply(taskStateUpdate(pendingState(sig, NOW), expires));
    apply(taskStateUpdate(receivedState(sig), expires));
    const received = taskStateFromDocument(doc);
    assert.equal(received.state, "RECEIVED");
    assert.equal(received.taskName, "add", "task_name stays from PENDING");
    assert.equal(received.createdAt, "2025-01-02T03:04:05.123Z");
    apply(taskStateUpdate(failureState(sig, "oops"), expires));
    const failed = taskStateFromDocument(doc);
    assert.equal(failed.state, "FAILURE");
    assert.equal(failed.error, "oops");
    assert.equal(failed.results, null);
    assert.equal(failed.ttl, 0);
  });

  it("gives Go's zero values for missing fields", () => {
    const s = taskStateFromDocument({ _id: UUID, state: "STARTED" });
    assert.equal(
      encodeTaskState(s),
      `{"TaskUUID":"${UUID}","TaskName":"","State":"STARTED","Results":null,"Error":"","CreatedAt":"0001-01-01T00:00:00Z","TTL":0}`,
    );
    assert.equal(taskStateFromDocument({ _id: UUID, ttl: Long.fromNumber(5) }).ttl, 5);
  });
});

describe("mongodb mapping: group metas", () => {
  const GROUP = "group_00000000-0000-4000-8000-0000000000ff";

  it("writes Go's fields in Go's order, ttl only when set, and our delete_at", () => {
    const meta = newGroupMeta(GROUP, ["task_a", "task_b"], NOW);
    const expires = deleteAt(60, NOW.getTime());
    const doc = groupMetaToDocument(meta, expires);
    assert.deepEqual(Object.keys(doc), [
      "_id",
      "task_uuids",
      "chord_triggered",
      "lock",
      "created_at",
      "delete_at",
    ]);
    assert.deepEqual(doc, {
      _id: GROUP,
      task_uuids: ["task_a", "task_b"],
      chord_triggered: false,
      lock: false,
      created_at: NOW,
      delete_at: expires,
    });
    assert.deepEqual(Object.keys(groupMetaToDocument(meta)), [
      "_id",
      "task_uuids",
      "chord_triggered",
      "lock",
      "created_at",
    ]);
    const withTtl = groupMetaToDocument({ ...meta, ttl: 9 });
    assert.ok(withTtl.ttl instanceof Long);
  });

  it("reads a group document back as Go's GroupMeta bytes", () => {
    const ms = (text: string) =>
      text.replace("2025-01-02T03:04:05.123456Z", "2025-01-02T03:04:05.123Z");
    const meta = newGroupMeta(GROUP, ["task_a", "task_b"], NOW);
    const doc = stored(groupMetaToDocument(meta));
    assert.equal(
      encodeGroupMeta(groupMetaFromDocument(doc)),
      ms(vectors.group_metas["groupmeta init"]),
    );
    const triggered = stored({ ...doc, chord_triggered: true });
    assert.equal(
      encodeGroupMeta(groupMetaFromDocument(triggered)),
      ms(vectors.group_metas["groupmeta triggered"]),
    );
  });
});
