import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { newChain, newChord, newGroup, newSignature } from "../mod.ts";
import { encodeSignature } from "../src/wire/mod.ts";

const vectors = JSON.parse(
  await readFile(new URL("./fixtures/go_vectors.json", import.meta.url), "utf8"),
);

const int64 = (value: number) => ({ name: "", type: "int64", value });

describe("workflow builders", () => {
  it("nest a chain the way Go's NewChain does (vector V3)", () => {
    const uuid = (n: number) => `task_00000000-0000-4000-8000-00000000000${n}`;
    const chain = newChain(
      newSignature("add", [int64(1), int64(1)], { uuid: uuid(1) }),
      newSignature("add", [int64(2), int64(2)], { uuid: uuid(2) }),
      newSignature("add", [int64(5), int64(6)], { uuid: uuid(3) }),
      newSignature("multiply", [int64(4)], { uuid: uuid(4) }),
    );
    for (const sig of chain.tasks) sig.headers = {}; // what sendChain does
    chain.tasks[0].routingKey = "machinery_tasks"; // what the broker does at publish
    assert.equal(encodeSignature(chain.tasks[0]), vectors.messages["chain first message"]);
  });

  it("give group members the group UUID and size, and chord members the callback", () => {
    const members = [newSignature("add"), newSignature("add"), newSignature("add")];
    const group = newGroup(...members);
    assert.match(
      group.groupUUID,
      /^group_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    for (const sig of group.tasks) {
      assert.equal(sig.groupUUID, group.groupUUID);
      assert.equal(sig.groupTaskCount, 3);
    }
    const callback = newSignature("multiply", null, { uuid: "" });
    const chord = newChord(group, callback);
    assert.match(chord.callback.uuid, /^chord_/);
    for (const sig of group.tasks) assert.equal(sig.chordCallback, callback);
  });

  it("refuse an empty chain", () => {
    assert.throws(() => newChain(), RangeError);
  });
});
