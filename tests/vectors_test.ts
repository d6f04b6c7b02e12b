// Go's exact bytes (tests/fixtures/go_vectors.json; docs/wire.md): decode, re-encode, compare.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { JsonNumber, parseJson } from "../src/wire/json.ts";
import {
  decodeSignature,
  encodeSignature,
  etaUnixNanos,
  newArg,
  newSignature,
  type Signature,
} from "../src/wire/signature.ts";
import {
  decodeGroupMeta,
  decodeResults,
  decodeTaskState,
  encodeGroupMeta,
  encodeResults,
  encodeTaskState,
  type TaskResult,
} from "../src/wire/state.ts";
import { decodeValue } from "../src/wire/types.ts";

interface Vectors {
  messages: Record<string, string>;
  task_states: Record<string, string>;
  group_metas: Record<string, string>;
  results: Record<string, string>;
}

let vectors: Vectors;

before(async () => {
  const url = new URL("./fixtures/go_vectors.json", import.meta.url);
  vectors = JSON.parse(await readFile(url, "utf8"));
});

function resultsOf(text: string): TaskResult[] {
  return (parseJson(text) as { Type: string; Value: unknown }[]).map((r) => ({
    type: r.Type,
    value: r.Value,
  }));
}

describe("vectors: decode then encode gives Go's bytes", () => {
  test("task messages", () => {
    assert.ok(Object.keys(vectors.messages).length >= 15);
    for (const [name, text] of Object.entries(vectors.messages)) {
      assert.equal(encodeSignature(decodeSignature(text)), text, name);
    }
  });

  test("task states", () => {
    assert.ok(Object.keys(vectors.task_states).length >= 8);
    for (const [name, text] of Object.entries(vectors.task_states)) {
      assert.equal(encodeTaskState(decodeTaskState(text)), text, name);
    }
  });

  test("group metas", () => {
    for (const [name, text] of Object.entries(vectors.group_metas)) {
      assert.equal(encodeGroupMeta(decodeGroupMeta(text)), text, name);
    }
  });

  test("results", () => {
    for (const [name, text] of Object.entries(vectors.results)) {
      const results = resultsOf(text);
      assert.equal(encodeResults(results), text, name);
      // Every vector is readable back, and re-encoding the decoded JS values is byte-exact too.
      const values = decodeResults(results);
      const again = results.map((r, i) => ({ type: r.type, value: values[i] }));
      assert.equal(encodeResults(again), text, `${name} (from JS values)`);
    }
  });
});

describe("vectors: parsed fields", () => {
  test("the chain nests four links deep", () => {
    const first = decodeSignature(vectors.messages["chain first message"]);
    const names: string[] = [];
    const argText: string[][] = [];
    let sig: Signature | undefined = first;
    while (sig) {
      names.push(sig.name);
      argText.push((sig.args ?? []).map((a) => (a.value as JsonNumber).text));
      sig = sig.onSuccess?.[0];
    }
    assert.deepEqual(names, ["add", "add", "add", "multiply"]);
    assert.deepEqual(argText, [["1", "1"], ["2", "2"], ["5", "6"], ["4"]]);
    assert.equal(first.onSuccess?.[0].routingKey, "");
    assert.deepEqual(first.onSuccess?.[0].headers, {});
  });

  test("mixed types: []byte, uint64 max, bool, []string, headers, priority", () => {
    const sig = decodeSignature(vectors.messages["mixed types"]);
    const [bytes, max, flag, strs] = sig.args!;
    assert.equal(bytes.value, "aGk=");
    assert.deepEqual(decodeValue(bytes.type, bytes.value), new TextEncoder().encode("hi"));
    assert.ok(max.value instanceof JsonNumber);
    assert.equal(max.value.text, "18446744073709551615");
    assert.equal(decodeValue(max.type, max.value), 18446744073709551615n);
    assert.equal(decodeValue(flag.type, flag.value), false);
    assert.deepEqual(decodeValue(strs.type, strs.value), ["foo", "bar"]);
    assert.deepEqual(sig.headers, { "uber-trace-id": "abc:def:0:1" });
    assert.equal(sig.priority, 5);
  });

  test("ETAs: kept as text, scored in Unix nanoseconds", () => {
    const delayed = decodeSignature(vectors.messages["delayed"]);
    assert.equal(delayed.eta, "2025-01-02T03:04:05.123456789Z");
    assert.equal(etaUnixNanos(delayed), 1735787045123456789n);
    const local = decodeSignature(vectors.messages["delayed local tz"]);
    assert.equal(local.eta, "2025-01-02T03:04:05+02:00");
    assert.equal(etaUnixNanos(local), 1735779845000000000n);
    const retry = decodeSignature(vectors.messages["retry scheduled"]);
    assert.deepEqual([retry.retryCount, retry.retryTimeout, retry.eta], [
      2,
      1,
      "2025-01-02T03:04:06.5Z",
    ]);
  });

  test("chord member and OnError callback", () => {
    const member = decodeSignature(vectors.messages["chord member"]);
    assert.equal(member.groupUUID, "group_00000000-0000-4000-8000-0000000000ff");
    assert.equal(member.groupTaskCount, 3);
    assert.equal(member.chordCallback?.uuid, "chord_00000000-0000-4000-8000-0000000000cc");
    assert.equal(member.chordCallback?.args, null);
    const parent = decodeSignature(vectors.messages["task with onerror"]);
    assert.equal(parent.onError?.[0].headers, null);
    assert.equal(parent.onSuccess, null);
    const floats = decodeSignature(vectors.messages["sum_floats"]).args![0];
    assert.deepEqual(decodeValue(floats.type, floats.value), [1.5, 2.7]);
  });

  test("states and group metas", () => {
    const success = decodeTaskState(vectors.task_states["state success"]);
    assert.deepEqual(decodeResults(success.results), [2]);
    assert.deepEqual(decodeTaskState(vectors.task_states["state success no results"]).results, []);
    assert.equal(decodeTaskState(vectors.task_states["state failure"]).error, "oops");
    assert.equal(decodeTaskState(vectors.task_states["state pending"]).results, null);
    assert.deepEqual(decodeGroupMeta(vectors.group_metas["groupmeta init"]).taskUUIDs, [
      "task_a",
      "task_b",
    ]);
    assert.equal(decodeGroupMeta(vectors.group_metas["groupmeta triggered"]).chordTriggered, true);
  });
});

describe("vectors: built from JS values", () => {
  const tail = {
    routingKey: "machinery_tasks",
    headers: {},
  };

  test("add(1, 1) as SendTask writes it", () => {
    const sig = newSignature("add", [newArg("int64", 1), newArg("int64", 1)], {
      ...tail,
      uuid: "task_5d2c6b7e-3f51-4a4c-9d0e-2f0b8a1c7e11",
    });
    assert.equal(encodeSignature(sig), vectors.messages["add"]);
  });

  test("mixed types from a Uint8Array and a bigint", () => {
    const sig = newSignature("bytes", [
      newArg("[]byte", new TextEncoder().encode("hi")),
      newArg("uint64", 2n ** 64n - 1n),
      newArg("bool", false),
      newArg("[]string", ["foo", "bar"]),
    ], {
      ...tail,
      uuid: "task_00000000-0000-4000-8000-0000000000f2",
      headers: { "uber-trace-id": "abc:def:0:1" },
      priority: 5,
    });
    assert.equal(encodeSignature(sig), vectors.messages["mixed types"]);
  });

  test("the chain's first message", () => {
    const link = (n: string, name: string, args: number[], next: Signature[] | null) =>
      newSignature(name, args.map((a) => newArg("int64", a)), {
        uuid: `task_00000000-0000-4000-8000-00000000000${n}`,
        headers: {},
        onSuccess: next,
      });
    const l4 = link("4", "multiply", [4], null);
    const l3 = link("3", "add", [5, 6], [l4]);
    const l2 = link("2", "add", [2, 2], [l3]);
    const l1 = { ...link("1", "add", [1, 1], [l2]), routingKey: "machinery_tasks" };
    assert.equal(encodeSignature(l1), vectors.messages["chain first message"]);
  });

  test("a float slice arg", () => {
    const sig = newSignature("sum_floats", [newArg("[]float64", [1.5, 2.7])], {
      ...tail,
      uuid: "task_00000000-0000-4000-8000-0000000000f1",
    });
    assert.equal(encodeSignature(sig), vectors.messages["sum_floats"]);
  });
});
