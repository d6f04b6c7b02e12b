/**
 * The Go struct tables (src/wire/_go_struct.ts): each table lists Go's fields in the order of Go's
 * bytes, the compiled codec is the one in use, and the interpreted form (used where code
 * generation is refused) gives the same values, bytes and error texts.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import {
  GoDecodeState,
  goInt64,
  goString,
  type GoStruct,
  goStruct,
} from "../src/wire/_go_struct.ts";
import { parseJson } from "../src/wire/json.ts";
import { SIGNATURE_STRUCT } from "../src/wire/signature.ts";
import { GROUP_META_STRUCT, TASK_STATE_STRUCT } from "../src/wire/state.ts";

interface Vectors {
  messages: Record<string, string>;
  task_states: Record<string, string>;
  group_metas: Record<string, string>;
}

let vectors: Vectors;

before(async () => {
  const url = new URL("./fixtures/go_vectors.json", import.meta.url);
  vectors = JSON.parse(await readFile(url, "utf8"));
});

/** Each struct with its Go vectors and inputs that Go rejects or reads leniently. */
function cases(): { struct: GoStruct<unknown>; bodies: string[] }[] {
  return [
    {
      struct: SIGNATURE_STRUCT as GoStruct<unknown>,
      bodies: [
        ...Object.values(vectors.messages),
        '{"Priority":300,"Name":5,"uuid":"task_1","ſqsreceipthandle":"r"}',
        '{"Args":[{"type":1,"VALUE":[1]},null],"Headers":[],"OnSuccess":[{"Immutable":"no"}]}',
        '{"ChordCallback":{"OnError":{"x":1},"RetryCount":1.5},"GroupTaskCount":null}',
        '{"Unknown":1,"ETA":null,"routingkey":"q","RoutingKey":"r"}',
      ],
    },
    {
      struct: TASK_STATE_STRUCT as GoStruct<unknown>,
      bodies: [
        ...Object.values(vectors.task_states),
        '{"Results":[{"Type":7},null,3],"TTL":"1","taskname":"t","CreatedAt":null}',
      ],
    },
    {
      struct: GROUP_META_STRUCT as GoStruct<unknown>,
      bodies: [
        ...Object.values(vectors.group_metas),
        '{"TaskUUIDs":["a",1,null],"Lock":1,"ttl":9007199254740993}',
      ],
    },
  ];
}

describe("go structs: the tables", () => {
  it("list Go's fields in the order of Go's bytes", () => {
    const orders: [GoStruct<unknown>, string][] = [
      [SIGNATURE_STRUCT as GoStruct<unknown>, vectors.messages["mixed types"]],
      [TASK_STATE_STRUCT as GoStruct<unknown>, vectors.task_states["state success"]],
      [GROUP_META_STRUCT as GoStruct<unknown>, vectors.group_metas["groupmeta init"]],
    ];
    for (const [struct, text] of orders) {
      assert.deepEqual(struct.fields.map((f) => f.goName), Object.keys(JSON.parse(text)));
    }
  });

  it("are compiled where code generation is allowed, as it is here", () => {
    assert.equal(SIGNATURE_STRUCT.compiled, true);
    assert.equal(TASK_STATE_STRUCT.compiled, true);
    assert.equal(GROUP_META_STRUCT.compiled, true);
  });

  it("give a fresh zero value each time", () => {
    const a = TASK_STATE_STRUCT.zero();
    a.taskUUID = "task_1";
    assert.deepEqual(TASK_STATE_STRUCT.zero(), {
      taskUUID: "",
      taskName: "",
      state: "",
      results: null,
      error: "",
      createdAt: "0001-01-01T00:00:00Z",
      ttl: 0,
    });
    assert.deepEqual(TASK_STATE_STRUCT.interpreted.zero(), TASK_STATE_STRUCT.zero());
  });

  it("must name every property of the type (checked by the compiler)", () => {
    // @ts-expect-error: `count` is missing from the table.
    const partial = goStruct<{ name: string; count: number }>("T", { name: ["Name", goString] });
    assert.equal(partial.fields.length, 1);
  });
});

describe("go structs: compiled and interpreted forms agree", () => {
  it("on decoded values and on the first error text", () => {
    for (const { struct, bodies } of cases()) {
      for (const body of bodies) {
        const obj = parseJson(body) as Record<string, unknown>;
        const compiled = new GoDecodeState();
        const interpreted = new GoDecodeState();
        const a = struct.decode(obj, [], compiled);
        const b = struct.interpreted.decode(obj, [], interpreted);
        assert.deepEqual(b, a, body);
        assert.deepEqual(Object.keys(b as object), Object.keys(a as object), body);
        assert.equal(interpreted.saved, compiled.saved, body);
      }
    }
  });

  it("on the bytes written", () => {
    for (const { struct, bodies } of cases()) {
      for (const body of bodies) {
        const value = struct.decode(
          parseJson(body) as Record<string, unknown>,
          [],
          new GoDecodeState(),
        );
        assert.equal(struct.interpreted.encode(value), struct.encode(value), body);
      }
    }
    for (const text of Object.values(vectors.messages)) {
      const value = SIGNATURE_STRUCT.decode(
        parseJson(text) as Record<string, unknown>,
        [],
        new GoDecodeState(),
      );
      assert.equal(SIGNATURE_STRUCT.interpreted.encode(value), text);
    }
  });

  it("on the errors an encoder throws", () => {
    const sig = { ...SIGNATURE_STRUCT.zero(), priority: 256 };
    assert.throws(() => SIGNATURE_STRUCT.encode(sig), /^RangeError: Priority 256 is not/);
    assert.throws(
      () => SIGNATURE_STRUCT.interpreted.encode(sig),
      /^RangeError: Priority 256 is not/,
    );
    const state = { ...TASK_STATE_STRUCT.zero(), createdAt: "yesterday" };
    assert.throws(() => TASK_STATE_STRUCT.encode(state), { name: "TimeParseError" });
    assert.throws(() => TASK_STATE_STRUCT.interpreted.encode(state), { name: "TimeParseError" });
  });
});

describe("go structs: where code generation is refused", () => {
  it("falls back to the interpreted form", () => {
    const original = globalThis.Function;
    // What a Content Security Policy without 'unsafe-eval' does to `new Function`.
    globalThis.Function = function () {
      throw new EvalError("Code generation from strings disallowed for this context");
    } as unknown as FunctionConstructor;
    let struct: GoStruct<{ name: string; ttl: number }>;
    try {
      struct = goStruct<{ name: string; ttl: number }>("T", {
        name: ["Name", goString],
        ttl: ["TTL", goInt64],
      });
    } finally {
      globalThis.Function = original;
    }
    assert.equal(struct.compiled, false);
    assert.equal(struct.encode({ name: "a", ttl: 2 }), '{"Name":"a","TTL":2}');
    const st = new GoDecodeState();
    assert.deepEqual(struct.decode({ NAME: "b", ttl: true }, [], st), { name: "b", ttl: 0 });
    assert.equal(
      st.saved,
      "json: cannot unmarshal bool into Go struct field T.TTL of type int64",
    );
  });
});
