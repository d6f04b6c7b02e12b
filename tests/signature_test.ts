import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { JsonNumber, UnsupportedValueError } from "../src/wire/json.ts";
import {
  formatGoTime,
  formatGoTimeNanos,
  nowNanos,
  parseGoTime,
  TimeParseError,
  ZERO_TIME,
} from "../src/wire/go_time.ts";
import {
  copySignature,
  decodeSignature,
  decodeSignatureValue,
  encodeSignature,
  etaFromDate,
  etaUnixNanos,
  newArg,
  newChordUUID,
  newGroupUUID,
  newSignature,
  newTaskUUID,
  SignatureDecodeError,
} from "../src/wire/signature.ts";

function rejects(text: string, message: string | RegExp): void {
  assert.throws(() => decodeSignature(text), (e) => {
    assert.ok(e instanceof SignatureDecodeError, `${text}: ${e}`);
    assert.equal(e.name, "SignatureDecodeError");
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

const TAIL = '"OnSuccess":null,"OnError":null,"ChordCallback":null,"BrokerMessageGroupId":"",' +
  '"SQSReceiptHandle":"","StopTaskDeletionOnError":false,"IgnoreWhenTaskNotRegistered":false}';

describe("UUIDs and construction", () => {
  test("prefixed UUIDv4 shapes", () => {
    const shape = (p: string) =>
      new RegExp(`^${p}_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`);
    assert.match(newTaskUUID(), shape("task"));
    assert.match(newGroupUUID(), shape("group"));
    assert.match(newChordUUID(), shape("chord"));
    assert.notEqual(newTaskUUID(), newTaskUUID());
  });

  test("newSignature has Go's zero values and writes every key", () => {
    const sig = newSignature("add");
    assert.match(sig.uuid, /^task_/);
    assert.equal(sig.args, null);
    assert.equal(
      encodeSignature({ ...sig, uuid: "u" }),
      '{"UUID":"u","Name":"add","RoutingKey":"","ETA":null,"GroupUUID":"","GroupTaskCount":0,' +
        '"Args":null,"Headers":null,"Priority":0,"Immutable":false,"RetryCount":0,' +
        '"RetryTimeout":0,' + TAIL,
    );
    const withFields = newSignature("add", [newArg("int64", 1)], { retryCount: 3, uuid: "x" });
    assert.equal(withFields.uuid, "x");
    assert.equal(withFields.retryCount, 3);
    assert.deepEqual(withFields.args, [{ name: "", type: "int64", value: 1 }]);
  });
});

describe("encodeSignature", () => {
  test("JS arg values are encoded for their type", () => {
    const sig = newSignature("t", [
      newArg("int64", 185135722552891243n),
      newArg("float32", 1.28),
      newArg("[]byte", new Uint8Array([104, 105])),
      newArg("[]string", ["<a>"]),
      newArg("float64", 1e21),
      newArg("uint64", new JsonNumber("18446744073709551615")),
    ], { uuid: "u", headers: {} });
    const text = encodeSignature(sig);
    assert.ok(
      text.includes(
        '"Args":[{"Name":"","Type":"int64","Value":185135722552891243},' +
          '{"Name":"","Type":"float32","Value":1.28},{"Name":"","Type":"[]byte","Value":"aGk="},' +
          '{"Name":"","Type":"[]string","Value":["\\u003ca\\u003e"]},' +
          '{"Name":"","Type":"float64","Value":1e+21},' +
          '{"Name":"","Type":"uint64","Value":18446744073709551615}],"Headers":{},',
      ),
      text,
    );
  });

  test("headers are a Go map: keys sorted", () => {
    const sig = newSignature("t", null, { uuid: "u", headers: { b: "2", a: { d: 1, c: 2 } } });
    assert.ok(encodeSignature(sig).includes('"Headers":{"a":{"c":2,"d":1},"b":"2"}'));
  });

  test("values Go cannot write fail the encode", () => {
    assert.throws(
      () => encodeSignature(newSignature("t", [newArg("float64", NaN)])),
      UnsupportedValueError,
    );
    assert.throws(() => encodeSignature(newSignature("t", [newArg("int64", 1.5)])), TypeError);
    assert.throws(() => encodeSignature(newSignature("t", null, { priority: 300 })), RangeError);
    assert.throws(() => encodeSignature(newSignature("t", null, { retryCount: 1.5 })), RangeError);
    assert.throws(
      () => encodeSignature(newSignature("t", null, { eta: "2025-01-02 03:04:05" })),
      TimeParseError,
    );
  });

  test("nested signatures, ETA and flags", () => {
    const cb = newSignature("cb", null, { uuid: "c" });
    const sig = newSignature("t", null, {
      uuid: "u",
      eta: "2025-01-02T03:04:05.5Z",
      onSuccess: [cb],
      onError: [],
      chordCallback: cb,
      immutable: true,
      ignoreWhenTaskNotRegistered: true,
    });
    const text = encodeSignature(sig);
    assert.ok(text.includes('"ETA":"2025-01-02T03:04:05.5Z"'));
    assert.ok(text.includes('"Immutable":true'));
    assert.ok(text.includes('"OnSuccess":[{"UUID":"c","Name":"cb"'));
    assert.ok(text.includes('"OnError":[],"ChordCallback":{"UUID":"c"'));
    assert.ok(text.endsWith('"IgnoreWhenTaskNotRegistered":true}'));
    assert.deepEqual(decodeSignature(text), sig);
  });
});

describe("decodeSignature", () => {
  test("messages Go rejects, with Go's texts", () => {
    rejects(
      '{"Name":"add","Priority":300}',
      "json: cannot unmarshal number 300 into Go struct field Signature.Priority of type uint8",
    );
    rejects(
      '{"Name":"add","GroupTaskCount":3.0}',
      "json: cannot unmarshal number 3.0 into Go struct field Signature.GroupTaskCount of type int",
    );
    rejects(
      '{"Name":"add","ETA":""}',
      'parsing time "\\"\\"" as "\\"2006-01-02T15:04:05Z07:00\\"": cannot parse "\\"" as "2006"',
    );
    rejects(
      '{"Name":"add","ETA":"2025-01-02 03:04:05"}',
      'parsing time "\\"2025-01-02 03:04:05\\"" as "\\"2006-01-02T15:04:05Z07:00\\"": ' +
        'cannot parse " 03:04:05\\"" as "T"',
    );
    rejects(
      '{"Name":"add","Args":"x"}',
      "json: cannot unmarshal string into Go struct field Signature.Args of type []tasks.Arg",
    );
  });

  test("more type errors name the Go field path and type", () => {
    const cases: [string, string][] = [
      ['{"Priority":-1}', "number -1 into Go struct field Signature.Priority of type uint8"],
      ['{"Priority":1.5}', "number 1.5 into Go struct field Signature.Priority of type uint8"],
      ['{"RetryCount":"3"}', "string into Go struct field Signature.RetryCount of type int"],
      ['{"RetryTimeout":true}', "bool into Go struct field Signature.RetryTimeout of type int"],
      ['{"Name":5}', "number into Go struct field Signature.Name of type string"],
      ['{"UUID":["x"]}', "array into Go struct field Signature.UUID of type string"],
      ['{"Immutable":1}', "number into Go struct field Signature.Immutable of type bool"],
      ['{"Headers":"x"}', "string into Go struct field Signature.Headers of type tasks.Headers"],
      ['{"Headers":[]}', "array into Go struct field Signature.Headers of type tasks.Headers"],
      ['{"Args":[1]}', "number into Go struct field Signature.Args of type tasks.Arg"],
      ['{"Args":[{"Type":1}]}', "number into Go struct field Arg.Args.Type of type string"],
      [
        '{"OnSuccess":{}}',
        "object into Go struct field Signature.OnSuccess of type []*tasks.Signature",
      ],
      [
        '{"OnError":["x"]}',
        "string into Go struct field Signature.OnError of type tasks.Signature",
      ],
      [
        '{"ChordCallback":7}',
        "number into Go struct field Signature.ChordCallback of type tasks.Signature",
      ],
      [
        '{"OnSuccess":[{"Priority":256}]}',
        "number 256 into Go struct field Signature.OnSuccess.Priority of type uint8",
      ],
      [
        '{"ChordCallback":{"OnError":[{"Args":[{"Name":false}]}]}}',
        "bool into Go struct field Arg.ChordCallback.OnError.Args.Name of type string",
      ],
    ];
    for (const [input, tail] of cases) rejects(input, "json: cannot unmarshal " + tail);
  });

  test("the first type error wins; an ETA error aborts at once", () => {
    rejects('{"Priority":300,"RetryCount":"x"}', /Signature\.Priority/);
    rejects('{"Priority":300,"ETA":"bad"}', /^parsing time "\\"bad\\""/);
    rejects('{"ETA":5}', /^parsing time "5" as/);
  });

  test("non-objects and syntax errors", () => {
    rejects("[1]", "json: cannot unmarshal array into Go value of type tasks.Signature");
    rejects('"x"', "json: cannot unmarshal string into Go value of type tasks.Signature");
    rejects("{", "unexpected end of JSON input");
    rejects("{} {}", "invalid character '{' after top-level value");
    // Go decodes null into the zero signature without an error.
    assert.equal(decodeSignature("null").uuid, "");
  });

  test("keys match case-insensitively; unknown keys are ignored and dropped", () => {
    const sig = decodeSignature('{"uuid":"x","name":"add","args":[{"type":"int64","value":1}]}');
    assert.equal(sig.uuid, "x");
    assert.equal(sig.name, "add");
    assert.equal(sig.args?.length, 1);
    assert.equal(sig.args?.[0].type, "int64");
    assert.deepEqual(sig.args?.[0].value, new JsonNumber("1"));
    // Go's folding also maps the long s (U+017F) to s.
    assert.equal(
      decodeSignature('{"ſqsreceipthandle":"r","ROUTINGKEY":"q"}').sqsReceiptHandle,
      "r",
    );
    const extra = decodeSignature('{"UUID":"u","Extra":1,"Name":"n"}');
    assert.ok(!encodeSignature(extra).includes("Extra"));
    // An exact match is preferred, but a later case-insensitive duplicate still overwrites.
    assert.equal(decodeSignature('{"UUID":"a","uuid":"b"}').uuid, "b");
  });

  test("numbers are kept exactly", () => {
    const text = '{"Args":[{"Type":"int64","Value":9007199254740993},' +
      '{"Type":"float64","Value":1.50}],"Headers":{"n":12345678901234567890}}';
    const sig = decodeSignature(text);
    assert.equal((sig.args?.[0].value as JsonNumber).text, "9007199254740993");
    const out = encodeSignature(sig);
    assert.ok(out.includes('"Value":9007199254740993}'));
    assert.ok(out.includes('"Value":1.50}'));
    assert.ok(out.includes('"Headers":{"n":12345678901234567890}'));
  });

  test("nulls leave zero values; null list elements", () => {
    const sig = decodeSignature(
      '{"UUID":null,"Priority":null,"Args":[null],"OnSuccess":[null],"Headers":null,' +
        '"ChordCallback":null,"ETA":null}',
    );
    assert.equal(sig.uuid, "");
    assert.equal(sig.priority, 0);
    assert.deepEqual(sig.args, [{ name: "", type: "", value: null }]);
    assert.deepEqual(sig.onSuccess, []);
    assert.equal(sig.eta, null);
  });

  test("deep nesting is rejected cleanly", () => {
    const depth = 5000;
    const text = '{"OnSuccess":['.repeat(depth) + "{}" + "]}".repeat(depth);
    rejects(text, "exceeded max depth");
  });

  test("decodeSignatureValue takes a parsed value", () => {
    const sig = decodeSignatureValue({ Name: "x", RetryCount: 2 });
    assert.equal(sig.name, "x");
    assert.equal(sig.retryCount, 2);
  });
});

describe("copySignature", () => {
  test("a deep copy", () => {
    const original = decodeSignature(
      '{"UUID":"u","ETA":"2025-01-02T03:04:05Z","Args":[{"Type":"[]int64","Value":[1]}],' +
        '"Headers":{"a":{"b":1}},"OnSuccess":[{"Name":"n"}],"ChordCallback":{"Name":"c"}}',
    );
    const copy = copySignature(original);
    assert.deepEqual(copy, original);
    copy.args?.push(newArg("int64", 1));
    (copy.args?.[0].value as unknown[]).push(2);
    (copy.headers?.a as Record<string, unknown>).b = 2;
    copy.onSuccess![0].name = "changed";
    copy.chordCallback!.name = "changed";
    assert.equal(original.args?.length, 1);
    assert.equal((original.args?.[0].value as unknown[]).length, 1);
    assert.deepEqual((original.headers?.a as Record<string, JsonNumber>).b, new JsonNumber("1"));
    assert.equal(original.onSuccess![0].name, "n");
    assert.equal(original.chordCallback!.name, "c");
    assert.equal(copy.eta, "2025-01-02T03:04:05Z");
  });
});

describe("ETA and Go time text", () => {
  test("formatGoTime trims fractional zeros", () => {
    assert.equal(
      formatGoTime(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 123))),
      "2025-01-02T03:04:05.123Z",
    );
    assert.equal(
      formatGoTime(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 100))),
      "2025-01-02T03:04:05.1Z",
    );
    assert.equal(formatGoTime(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 0))), "2025-01-02T03:04:05Z");
    assert.equal(
      etaFromDate(new Date(Date.UTC(2025, 0, 2, 3, 4, 6, 500))),
      "2025-01-02T03:04:06.5Z",
    );
    assert.equal(formatGoTime(new Date(ZERO_TIME)), ZERO_TIME);
    assert.throws(() => formatGoTime(new Date(NaN)), RangeError);
    assert.throws(() => formatGoTime(new Date(Date.UTC(10000, 0, 1))), RangeError);
  });

  test("formatGoTimeNanos keeps nanoseconds", () => {
    assert.equal(formatGoTimeNanos(1735787045123456789n), "2025-01-02T03:04:05.123456789Z");
    assert.equal(formatGoTimeNanos(1735787045120000000n), "2025-01-02T03:04:05.12Z");
    assert.equal(formatGoTimeNanos(0n), "1970-01-01T00:00:00Z");
    assert.equal(formatGoTimeNanos(-1n), "1969-12-31T23:59:59.999999999Z");
  });

  test("parseGoTime accepts what Go's UnmarshalJSON accepts", () => {
    const ok: [string, bigint][] = [
      ["2025-01-02T03:04:05.123456789Z", 1735787045123456789n],
      ["2025-01-02T03:04:05Z", 1735787045000000000n],
      ["2025-01-02T03:04:05+02:00", 1735779845000000000n],
      ["2025-01-02T03:04:05-00:30", 1735788845000000000n],
      ["2025-01-02T03:04:05.5Z", 1735787045500000000n],
      ["2025-01-02T03:04:05,5Z", 1735787045500000000n],
      ["2025-01-02T03:04:05.1234567899Z", 1735787045123456789n], // digits past 9 are ignored
      ["2025-01-02T3:04:05Z", 1735787045000000000n], // Go's "15" takes one or two digits
      ["2024-02-29T00:00:00Z", 1709164800000000000n],
      ["1970-01-01T00:00:00Z", 0n],
      ["0001-01-01T00:00:00Z", -62135596800000000000n],
    ];
    for (const [text, nanos] of ok) {
      const t = parseGoTime(text);
      assert.equal(t.unixNanos, nanos, text);
      assert.equal(t.date.getTime(), Number(nanos / 1_000_000n), text);
    }
  });

  test("parseGoTime rejects with Go 1.19's texts", () => {
    const layout = '"\\"2006-01-02T15:04:05Z07:00\\""';
    const bad: [string, string][] = [
      ["", `parsing time "\\"\\"" as ${layout}: cannot parse "\\"" as "2006"`],
      [
        "2025-13-02T03:04:05Z",
        'parsing time "\\"2025-13-02T03:04:05Z\\"": month out of range',
      ],
      ["2025-02-30T03:04:05Z", 'parsing time "\\"2025-02-30T03:04:05Z\\"": day out of range'],
      ["2025-01-02T24:04:05Z", 'parsing time "\\"2025-01-02T24:04:05Z\\"": hour out of range'],
      ["2025-01-02T03:60:05Z", 'parsing time "\\"2025-01-02T03:60:05Z\\"": minute out of range'],
      ["2025-01-02T03:04:60Z", 'parsing time "\\"2025-01-02T03:04:60Z\\"": second out of range'],
      [
        "2025-01-02T03:04:05",
        `parsing time "\\"2025-01-02T03:04:05\\"" as ${layout}: cannot parse "\\"" as "Z07:00"`,
      ],
      [
        "2025-01-02T03:04:05z",
        `parsing time "\\"2025-01-02T03:04:05z\\"" as ${layout}: cannot parse "z\\"" as "Z07:00"`,
      ],
      [
        "2025-1-02T03:04:05Z",
        `parsing time "\\"2025-1-02T03:04:05Z\\"" as ${layout}: cannot parse "1-02T03:04:05Z\\"" as "01"`,
      ],
      [
        "2025-01-02T03:04:05Zx",
        'parsing time "\\"2025-01-02T03:04:05Zx\\"" as ' + layout +
        ': cannot parse "x\\"" as "\\""',
      ],
      [
        "2025-01-02T03:04:05+0200",
        `parsing time "\\"2025-01-02T03:04:05+0200\\"" as ${layout}: cannot parse "+0200\\"" as "Z07:00"`,
      ],
      [
        "2025-01-02T03:04:05+02:61",
        'parsing time "\\"2025-01-02T03:04:05+02:61\\"": time zone offset minute out of range',
      ],
      [
        "2025-01-02T03:04:05.Z",
        `parsing time "\\"2025-01-02T03:04:05.Z\\"" as ${layout}: cannot parse ".Z\\"" as "Z07:00"`,
      ],
      ["é", `parsing time "\\"\\xc3\\xa9\\"" as ${layout}: cannot parse "\\xc3\\xa9\\"" as "2006"`],
    ];
    for (const [text, message] of bad) {
      assert.throws(() => parseGoTime(text), (e) => {
        assert.ok(e instanceof TimeParseError);
        assert.equal(e.message, message, text);
        return true;
      });
    }
  });

  test("etaUnixNanos is the Redis delayed-set score", () => {
    const sig = newSignature("t", null, { eta: "2025-01-02T03:04:05.123456789Z" });
    assert.equal(etaUnixNanos(sig), 1735787045123456789n);
    assert.equal(etaUnixNanos(newSignature("t")), null);
  });

  test("nowNanos follows the wall clock", () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const now = nowNanos();
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    assert.ok(now >= before && now <= after, `${before} <= ${now} <= ${after}`);
  });
});
