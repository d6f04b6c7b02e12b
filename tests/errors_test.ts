import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  GroupNotFoundError,
  MemoryBackend,
  MemoryBroker,
  newChord,
  newGroup,
  newSignature,
  Server,
  silentLogger,
  StateNotFoundError,
} from "../mod.ts";
import { stringifyGo, UnsupportedTypeError, UnsupportedValueError } from "../src/wire/mod.ts";

describe("typed errors", () => {
  it("a missing group is a GroupNotFoundError, a StateNotFoundError with Go's text", async () => {
    const backend = new MemoryBackend();
    const error = await backend.groupCompleted("group_x", 1).catch((e) => e);
    assert.ok(error instanceof GroupNotFoundError);
    assert.ok(error instanceof StateNotFoundError);
    assert.equal(error.name, "GroupNotFoundError");
    assert.equal(error.message, "Group not found: group_x");
    assert.equal(error.groupUUID, "group_x");
    const missingTask = await backend.getState("task_x").catch((e) => e);
    assert.ok(missingTask instanceof StateNotFoundError);
    assert.ok(!(missingTask instanceof GroupNotFoundError));
  });

  it("a chord whose group meta is gone rejects with the expiry text", async () => {
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      logger: silentLogger,
    });
    try {
      const member = newSignature("add");
      const chord = newChord(newGroup(member), newSignature("done"));
      const result = await server.sendChord(chord);
      await server.backend.setStateSuccess(member, []);
      await server.backend.purgeGroupMeta(chord.group.groupUUID);
      await assert.rejects(result.get({ timeout: 5_000, pollInterval: 10 }), (error) => {
        assert.ok(error instanceof StateNotFoundError);
        assert.match((error as Error).message, /^Group ".*" expired before its chord callback/);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it("Go's unsupported type is its own class, still an UnsupportedValueError", () => {
    assert.throws(() => stringifyGo(() => 1), (error) => {
      assert.ok(error instanceof UnsupportedTypeError);
      assert.ok(error instanceof UnsupportedValueError);
      assert.equal((error as Error).message, "json: unsupported type: function");
      return true;
    });
    assert.throws(() => stringifyGo(NaN), (error) => !(error instanceof UnsupportedTypeError));
  });

  it("a closed adapter rejects with ClosedError, naming it", async () => {
    const broker = new MemoryBroker();
    await broker.close();
    const options = {
      queue: "q",
      capacity: 1,
      consumerTag: "t",
      signal: new AbortController().signal,
    };
    await assert.rejects(broker.consume(options, () => {}), {
      name: "ClosedError",
      message: "The memory broker is closed",
    });
    assert.equal(new ClosedError().message, "the server has been stopped");
  });
});
