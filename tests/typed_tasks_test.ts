/**
 * Tasks with declared Go parameter types: the checks Go's `reflect.Value.Call` makes, with its
 * exact texts; the example tasks declared as machinery's Go functions and computing in Go's
 * wrapping int64 arithmetic; results with Go's type names and exact digits.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Arg,
  CallArgsError,
  InvalidTaskError,
  MemoryBackend,
  MemoryBroker,
  newSignature,
  type ParamType,
  Server,
  silentLogger,
  type TaskState,
} from "../mod.ts";
import { checkCallArgs, compileParams } from "../src/task_params.ts";
import { encodeResults } from "../src/wire/state.ts";
import { add, multiply, registerExampleTasks, sumInts } from "../examples/tasks.ts";
import { waitFor } from "./helpers.ts";

const TIMEOUT = { timeout: 20_000 };

const arg = (type: string, value: unknown): Arg => ({ name: "", type, value });

/** The error `checkCallArgs` throws for these declared types and argument types, or "ok". */
function callError(declared: ParamType[], argTypes: string[]): string {
  try {
    checkCallArgs(compileParams(declared), argTypes.map((t) => arg(t, null)));
    return "ok";
  } catch (error) {
    assert.ok(error instanceof CallArgsError);
    return error.message;
  }
}

describe("declared parameter types", () => {
  it("fail a call with the texts of Go's reflect.Call", () => {
    const cases: [ParamType[], string[], string][] = [
      // func(args ...int64): any count, each an int64.
      [["...int64"], [], "ok"],
      [["...int64"], ["int64", "int64", "int64"], "ok"],
      [["...int64"], ["int64", "string"], "reflect: cannot use string as type int64 in Call"],
      [["...int64"], ["int"], "reflect: cannot use int as type int64 in Call"],
      [["...int64"], ["[]int64"], "reflect: cannot use []int64 as type int64 in Call"],
      // func(numbers []int64)
      [["[]int64"], ["[]int64"], "ok"],
      [["[]int64"], ["int64"], "reflect: Call using int64 as type []int64"],
      [["[]int64"], [], "reflect: Call with too few input arguments"],
      [["[]int64"], ["[]int64", "[]int64"], "reflect: Call with too many input arguments"],
      // Go assigns nothing across types: no int64 to a float64, no []int64 to a []float64.
      [["float64"], ["int64"], "reflect: Call using int64 as type float64"],
      [["[]float64"], ["[]int64"], "reflect: Call using []int64 as type []float64"],
      [["int"], ["int64"], "reflect: Call using int64 as type int"],
      // func() and func(str string)
      [[], [], "ok"],
      [[], ["int64"], "reflect: Call with too many input arguments"],
      [["string"], [], "reflect: Call with too few input arguments"],
      // The count comes first, then the fixed parameters, then the variadic ones.
      [["string", "...int64"], [], "reflect: Call with too few input arguments"],
      [["string", "...int64"], ["string"], "ok"],
      [["string", "...int64"], ["int64", "string"], "reflect: Call using int64 as type string"],
      [
        ["string", "...int64"],
        ["string", "int64", "bool"],
        "reflect: cannot use bool as type int64 in Call",
      ],
      [["int64", "string"], ["string", "int64"], "reflect: Call using string as type int64"],
      // []byte is Go's alias of []uint8, and reflection names it []uint8.
      [["[]byte"], ["[]uint8"], "ok"],
      [["[]uint8"], ["[]byte"], "ok"],
      [["[]byte"], ["string"], "reflect: Call using string as type []uint8"],
      [["...[]byte"], ["[]int8"], "reflect: cannot use []int8 as type []uint8 in Call"],
    ];
    for (const [declared, argTypes, expected] of cases) {
      assert.equal(
        callError(declared, argTypes),
        expected,
        `(${declared.join(", ")}) called with (${argTypes.join(", ")})`,
      );
    }
  });

  it("are checked when registered", () => {
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      logger: silentLogger,
    });
    const fn = () => {};
    assert.throws(() => server.registerTask("t", fn, { args: ["int65" as ParamType] }), {
      name: "InvalidTaskError",
      message: 'Argument type "int65" is not one of supported types',
    });
    assert.throws(() => server.registerTask("t", fn, { args: ["...int64", "string"] }), {
      name: "InvalidTaskError",
      message: 'Only the last argument type can be variadic, not "...int64"',
    });
    // registerTasks is all or nothing, specs included.
    assert.throws(
      () =>
        server.registerTasks({
          good: { fn, args: ["int64"] },
          bad: { fn, args: "int64" as unknown as ParamType[] },
        }),
      InvalidTaskError,
    );
    assert.throws(
      () => server.registerTasks({ nofn: {} as { fn: () => void } }),
      { message: "Task must be a func type" },
    );
    assert.deepEqual(server.getRegisteredTaskNames(), []);
    server.registerTasks({ plain: fn, spec: { fn, args: ["...string"] } });
    assert.equal(server.getRegisteredTask("plain").params, undefined);
    assert.deepEqual(server.getRegisteredTask("spec").params, { fixed: [], variadic: "string" });
  });

  it("type the signatures a task handle builds, variadic included", () => {
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      logger: silentLogger,
    });
    const sum = server.registerTask("sum", (...n: number[]) => n.length, { args: ["...int32"] });
    assert.deepEqual(sum.signature(1, 2, 3).args?.map((a) => a.type), ["int32", "int32", "int32"]);
    const tag = server.registerTask("tag", (_s: string, ..._n: number[]) => 0, {
      args: ["string", "...float64"],
    });
    assert.deepEqual(tag.signature("x", 1, 2).args?.map((a) => a.type), [
      "string",
      "float64",
      "float64",
    ]);
  });
});

describe("the example tasks compute in Go's int64", () => {
  it("exactly, wrapping at 64 bits", () => {
    assert.equal(multiply(3037000499, 3037000499), 9223372030926249001n);
    assert.equal(multiply(4294967296, 4294967296), 0);
    assert.equal(add(9223372036854775807n, 1), -9223372036854775808n);
    assert.equal(sumInts([9007199254740993n, 1]), 9007199254740994n);
    assert.equal(add(), 0);
    assert.equal(multiply(), 1);
    assert.equal(add(1, 2, 3), 6);
    assert.equal(add(9007199254740991, 1), 9007199254740992n);
    assert.equal(add(9007199254740992n, -1), 9007199254740991);
    assert.equal(multiply(-3, 4), -12);
  });
});

describe("a worker running the example tasks", () => {
  /**
   * Runs one signature through a worker with the example tasks; resolves with its final state
   * and how many RETRY states were written.
   */
  async function run(
    name: string,
    args: Arg[],
    retryCount = 0,
  ): Promise<TaskState & { retries: number }> {
    const backend = new MemoryBackend();
    let retries = 0;
    const setStateRetry = backend.setStateRetry.bind(backend);
    backend.setStateRetry = (sig) => {
      retries++;
      return setStateRetry(sig);
    };
    const server = new Server({
      broker: new MemoryBroker(),
      backend,
      config: { noUnixSignals: true },
      logger: silentLogger,
    });
    registerExampleTasks(server, 1);
    const worker = server.newWorker("typed", 2);
    worker.setErrorHandler(() => {});
    const running = worker.launch();
    try {
      const sig = newSignature(name, args);
      sig.retryCount = retryCount;
      await server.sendTask(sig);
      return await waitFor(
        async () => {
          const state = await backend.getState(sig.uuid);
          const done = state.state === "SUCCESS" || state.state === "FAILURE";
          return done ? { ...state, retries } : undefined;
        },
        `${name} to complete`,
        15_000,
      );
    } finally {
      await worker.quit();
      await running;
      await server.close();
    }
  }

  it("fails ill-typed calls with Go's texts", TIMEOUT, async () => {
    const cases: [string, Arg[], string][] = [
      [
        "add",
        [arg("int64", 1), arg("string", "x")],
        "reflect: cannot use string as type int64 in Call",
      ],
      ["sum_ints", [arg("int64", 1)], "reflect: Call using int64 as type []int64"],
      ["sum_floats", [arg("[]int64", [1, 2])], "reflect: Call using []int64 as type []float64"],
      ["split", [], "reflect: Call with too few input arguments"],
      [
        "concat",
        [arg("[]string", ["a"]), arg("[]string", ["b"])],
        "reflect: Call with too many input arguments",
      ],
      ["panic_task", [arg("int64", 1)], "reflect: Call with too many input arguments"],
      ["HelloWorld", [arg("int64", 1)], "reflect: Call using int64 as type string"],
    ];
    for (const [name, args, error] of cases) {
      const state = await run(name, args);
      assert.equal(state.state, "FAILURE", name);
      assert.equal(state.error, error, name);
    }
  });

  it("retries an ill-typed call as Go does (the check is inside the call)", TIMEOUT, async () => {
    const state = await run("add", [arg("string", "x")], 1);
    assert.equal(state.retries, 1);
    assert.equal(state.state, "FAILURE");
    assert.equal(state.error, "reflect: cannot use string as type int64 in Call");
  });

  it("stores int64 results with Go's type and exact digits", TIMEOUT, async () => {
    const cases: [string, Arg[], string][] = [
      [
        "multiply",
        [arg("int64", 3037000499), arg("int64", 3037000499)],
        '[{"Type":"int64","Value":9223372030926249001}]',
      ],
      [
        "multiply",
        [arg("int64", 4294967296), arg("int64", 4294967296)],
        '[{"Type":"int64","Value":0}]',
      ],
      [
        "add",
        [arg("int64", 9223372036854775807n), arg("int64", 1)],
        '[{"Type":"int64","Value":-9223372036854775808}]',
      ],
      [
        "sum_ints",
        [arg("[]int64", [9007199254740993n, 1])],
        '[{"Type":"int64","Value":9007199254740994}]',
      ],
      ["add", [], '[{"Type":"int64","Value":0}]'],
      ["sum_floats", [arg("[]float64", [1, 2])], '[{"Type":"float64","Value":3}]'],
      ["split", [arg("string", "ab")], '[{"Type":"[]string","Value":["a","b"]}]'],
    ];
    for (const [name, args, results] of cases) {
      const state = await run(name, args);
      assert.equal(state.state, "SUCCESS", `${name}: ${state.error}`);
      assert.equal(encodeResults(state.results), results, name);
    }
  });
});
