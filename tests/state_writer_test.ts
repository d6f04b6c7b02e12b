import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, type Signature, StateWriter, type TaskState } from "../mod.ts";
import { ZERO_TIME } from "../src/wire/go_time.ts";

/** Records what the forwards hand to the one write. */
class Recorder extends StateWriter {
  readonly written: [Signature, TaskState][] = [];
  throwOn = "";

  protected writeState(signature: Signature, state: TaskState): Promise<void> {
    if (state.state === this.throwOn) throw new RangeError(`cannot write ${state.state}`);
    this.written.push([signature, state]);
    return Promise.resolve();
  }
}

describe("StateWriter", () => {
  it("builds each state as Go's NewXState does and writes it once", async () => {
    const backend = new Recorder();
    const sig = newSignature("add");
    await backend.setStatePending(sig);
    await backend.setStateReceived(sig);
    await backend.setStateStarted(sig);
    await backend.setStateRetry(sig);
    await backend.setStateSuccess(sig, [{ type: "int64", value: 2 }]);
    await backend.setStateFailure(sig, "boom");
    const states = backend.written.map(([s, state]) => {
      assert.equal(s, sig);
      assert.equal(state.taskUUID, sig.uuid);
      return state;
    });
    assert.deepEqual(states.map((s) => s.state), [
      "PENDING",
      "RECEIVED",
      "STARTED",
      "RETRY",
      "SUCCESS",
      "FAILURE",
    ]);
    assert.equal(states[0].taskName, "add");
    assert.notEqual(states[0].createdAt, ZERO_TIME);
    assert.equal(states[1].taskName, "", "a later state leaves the merge to the backend");
    assert.deepEqual(states[4].results, [{ type: "int64", value: 2 }]);
    assert.equal(states[5].error, "boom");
  });

  it("turns a write that throws into a rejection", async () => {
    const backend = new Recorder();
    backend.throwOn = "SUCCESS";
    const pending = backend.setStateSuccess(newSignature("add"), []);
    assert.ok(pending instanceof Promise);
    await assert.rejects(pending, { name: "RangeError", message: "cannot write SUCCESS" });
  });
});
