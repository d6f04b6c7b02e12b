import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { JsonNumber } from "../src/wire/json.ts";
import { ZERO_TIME } from "../src/wire/go_time.ts";
import { newSignature } from "../src/wire/signature.ts";
import { TypeDecodeError } from "../src/wire/types.ts";
import {
  decodeGroupMeta,
  decodeResults,
  decodeTaskState,
  encodeGroupMeta,
  encodeResults,
  encodeTaskState,
  FAILURE,
  failureState,
  humanReadableResults,
  isCompleted,
  isFailure,
  isSuccess,
  newGroupMeta,
  PENDING,
  pendingState,
  RECEIVED,
  receivedState,
  RETRY,
  retryState,
  STARTED,
  startedState,
  StateDecodeError,
  SUCCESS,
  successState,
} from "../src/wire/state.ts";

const UUID = "task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11";
const NOW = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 123));
const sig = newSignature("add", null, { uuid: UUID });

function rejects(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof StateDecodeError, String(e));
    assert.equal(e.name, "StateDecodeError");
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe("state constructors", () => {
  test("the state strings", () => {
    assert.deepEqual(
      [PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE],
      ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE"],
    );
  });

  test("PENDING has the name and the time; later states are unmerged", () => {
    assert.equal(
      encodeTaskState(pendingState(sig, NOW)),
      `{"TaskUUID":"${UUID}","TaskName":"add","State":"PENDING","Results":null,"Error":"",` +
        '"CreatedAt":"2025-01-02T03:04:05.123Z","TTL":0}',
    );
    for (
      const [s, name] of [[receivedState(sig), "RECEIVED"], [startedState(sig), "STARTED"], [
        retryState(sig),
        "RETRY",
      ]] as const
    ) {
      assert.equal(
        encodeTaskState(s),
        `{"TaskUUID":"${UUID}","TaskName":"","State":"${name}","Results":null,"Error":"",` +
          `"CreatedAt":"${ZERO_TIME}","TTL":0}`,
      );
    }
    assert.match(pendingState(sig).createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  test("SUCCESS and FAILURE", () => {
    const ok = successState(sig, [{ type: "int64", value: 2 }]);
    assert.ok(isCompleted(ok) && isSuccess(ok) && !isFailure(ok));
    assert.ok(encodeTaskState(ok).includes('"Results":[{"Type":"int64","Value":2}]'));
    assert.ok(encodeTaskState(successState(sig, [])).includes('"Results":[],'));
    const bad = failureState(sig, "oops");
    assert.ok(isCompleted(bad) && isFailure(bad) && !isSuccess(bad));
    assert.ok(encodeTaskState(bad).includes('"Results":null,"Error":"oops"'));
    assert.ok(!isCompleted(startedState(sig)));
  });

  test("newGroupMeta", () => {
    assert.equal(
      encodeGroupMeta(newGroupMeta("group_x", ["task_a", "task_b"], NOW)),
      '{"GroupUUID":"group_x","TaskUUIDs":["task_a","task_b"],"ChordTriggered":false,' +
        '"Lock":false,"CreatedAt":"2025-01-02T03:04:05.123Z","TTL":0}',
    );
  });
});

describe("results (Go's result vectors)", () => {
  test("JS values encode to Go's bytes", () => {
    const cases: [string, unknown, string][] = [
      ["[]string", ["f", "o", "o"], '[{"Type":"[]string","Value":["f","o","o"]}]'],
      ["float64", 1.5 + 2.7, '[{"Type":"float64","Value":4.2}]'],
      ["float32", 1.28, '[{"Type":"float32","Value":1.28}]'],
      ["[]uint8", new Uint8Array([1, 2, 255]), '[{"Type":"[]uint8","Value":"AQL/"}]'],
      ["int64", 185135722552891243n, '[{"Type":"int64","Value":185135722552891243}]'],
      ["uint64", 2n ** 64n - 1n, '[{"Type":"uint64","Value":18446744073709551615}]'],
      ["float64", 1e-7, '[{"Type":"float64","Value":1e-7}]'],
      ["float64", 1e21, '[{"Type":"float64","Value":1e+21}]'],
      ["float64", 200, '[{"Type":"float64","Value":200}]'],
      ["string", "<a&b>", '[{"Type":"string","Value":"\\u003ca\\u0026b\\u003e"}]'],
    ];
    for (const [type, value, text] of cases) {
      assert.equal(encodeResults([{ type, value }]), text);
    }
    assert.equal(encodeResults(null), "null");
    assert.equal(encodeResults([]), "[]");
    assert.throws(() => encodeResults([{ type: "float64", value: NaN }]), {
      message: "json: unsupported value: NaN",
    });
    // An unknown type is stored as it is (Go stores main.MyT too); objects are Go maps.
    assert.equal(
      encodeResults([{ type: "map[string]interface {}", value: { b: 1, a: 2 } }]),
      '[{"Type":"map[string]interface {}","Value":{"a":2,"b":1}}]',
    );
  });

  test("decodeResults is Go's ReflectTaskResults", () => {
    const s = decodeTaskState(
      '{"State":"SUCCESS","Results":[{"Type":"int64","Value":2},{"Type":"[]uint8","Value":"AQL/"},' +
        '{"Type":"uint64","Value":18446744073709551615}]}',
    );
    assert.deepEqual(decodeResults(s.results), [
      2,
      new Uint8Array([1, 2, 255]),
      18446744073709551615n,
    ]);
    assert.deepEqual(decodeResults(null), []);
    assert.throws(
      () => decodeResults([{ type: "main.MyT", value: {} }]),
      (e) => e instanceof TypeDecodeError && e.message === "main.MyT is not one of supported types",
    );
  });

  test("humanReadableResults", () => {
    const r = (type: string, value: unknown) => ({ type, value });
    assert.equal(humanReadableResults([r("int64", new JsonNumber("2"))]), "2");
    assert.equal(humanReadableResults([r("float64", new JsonNumber("4.2"))]), "4.2");
    assert.equal(humanReadableResults([r("string", "foobar")]), "foobar");
    assert.equal(humanReadableResults([r("[]string", ["f", "o", "o"])]), "[f o o]");
    assert.equal(humanReadableResults([]), "[]");
    assert.equal(humanReadableResults(null), "[]");
    assert.equal(humanReadableResults([r("string", "foo"), r("string", "bar")]), "[foo, bar]");
    assert.equal(humanReadableResults([r("[]uint8", "AQI=")]), "[1 2]");
    assert.equal(humanReadableResults([r("float64", new JsonNumber("200"))]), "200");
    assert.equal(humanReadableResults([r("float64", new JsonNumber("1e+21"))]), "1e+21");
    assert.equal(humanReadableResults([r("float64", new JsonNumber("1000000"))]), "1e+06");
    assert.equal(humanReadableResults([r("float32", new JsonNumber("1.28"))]), "1.28");
  });
});

describe("decoding states", () => {
  test("round trip and wire values", () => {
    const text = `{"TaskUUID":"${UUID}","TaskName":"add","State":"SUCCESS",` +
      '"Results":[{"Type":"int64","Value":9007199254740993}],"Error":"",' +
      '"CreatedAt":"2025-01-02T03:04:05.123456Z","TTL":0}';
    const s = decodeTaskState(text);
    assert.deepEqual(s.results, [{ type: "int64", value: new JsonNumber("9007199254740993") }]);
    assert.equal(s.createdAt, "2025-01-02T03:04:05.123456Z");
    assert.equal(encodeTaskState(s), text);
  });

  test("keys case-insensitive, unknown keys ignored, nulls leave zero values", () => {
    const s = decodeTaskState(
      '{"taskuuid":"u","STATE":"PENDING","results":[{"type":"bool","value":true},null],' +
        '"createdAt":null,"Extra":[1],"TTL":null}',
    );
    assert.equal(s.taskUUID, "u");
    assert.equal(s.state, "PENDING");
    assert.deepEqual(s.results, [{ type: "bool", value: true }]);
    assert.equal(s.createdAt, ZERO_TIME);
    assert.equal(decodeTaskState("null").createdAt, ZERO_TIME);
    assert.equal(decodeTaskState("{}").state, "");
  });

  test("Go's texts for bad records", () => {
    rejects(
      () => decodeTaskState('{"Results":"x"}'),
      "json: cannot unmarshal string into Go struct field TaskState.Results of type []*tasks.TaskResult",
    );
    rejects(
      () => decodeTaskState('{"Results":[1]}'),
      "json: cannot unmarshal number into Go struct field TaskState.Results of type tasks.TaskResult",
    );
    rejects(
      () => decodeTaskState('{"Results":[{"Type":1}]}'),
      "json: cannot unmarshal number into Go struct field TaskResult.Results.Type of type string",
    );
    rejects(
      () => decodeTaskState('{"TTL":1.5}'),
      "json: cannot unmarshal number 1.5 into Go struct field TaskState.TTL of type int64",
    );
    rejects(
      () => decodeTaskState('{"State":1}'),
      "json: cannot unmarshal number into Go struct field TaskState.State of type string",
    );
    rejects(() => decodeTaskState('{"CreatedAt":""}'), /^parsing time "\\"\\"" as/);
    rejects(
      () => decodeTaskState("[]"),
      "json: cannot unmarshal array into Go value of type tasks.TaskState",
    );
    rejects(() => decodeTaskState("{"), "unexpected end of JSON input");
    rejects(
      () => decodeGroupMeta('{"TaskUUIDs":[1]}'),
      "json: cannot unmarshal number into Go struct field GroupMeta.TaskUUIDs of type string",
    );
    rejects(
      () => decodeGroupMeta('{"TaskUUIDs":"a"}'),
      "json: cannot unmarshal string into Go struct field GroupMeta.TaskUUIDs of type []string",
    );
    rejects(
      () => decodeGroupMeta('{"ChordTriggered":"true"}'),
      "json: cannot unmarshal string into Go struct field GroupMeta.ChordTriggered of type bool",
    );
  });

  test("group meta", () => {
    const m = decodeGroupMeta(
      '{"groupuuid":"g","taskuuids":["a",null],"chordtriggered":true,"Lock":false}',
    );
    assert.deepEqual(m, {
      groupUUID: "g",
      taskUUIDs: ["a", ""],
      chordTriggered: true,
      lock: false,
      createdAt: ZERO_TIME,
      ttl: 0,
    });
    assert.equal(decodeGroupMeta('{"TaskUUIDs":null}').taskUUIDs, null);
  });

  test("encoding refuses times Go could not have written", () => {
    assert.throws(() => encodeTaskState({ ...receivedState(sig), createdAt: "yesterday" }));
    assert.ok(encodeTaskState({ ...receivedState(sig), createdAt: "" }).includes(ZERO_TIME));
  });
});
