/** Which exports of a `--tasks` module become tasks: the `tasks` object, all functions, `--task`. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { moduleTasks, ModuleTasksError } from "../src/module_tasks.ts";

const add = (a: number, b: number) => a + b;
const writeNote = (_path: string, _text: string) => {};

describe("moduleTasks", () => {
  it("without a tasks object, every exported function but classes and default", () => {
    const tasks = moduleTasks({ add, writeNote, Klass: class {}, n: 1, default: () => {} });
    assert.deepEqual(Object.keys(tasks), ["add", "writeNote"]);
  });

  it("an exported tasks object is the explicit list and takes precedence", () => {
    const tasks = moduleTasks({ tasks: { sum: add }, add, writeNote });
    assert.deepEqual(tasks, { sum: add });
  });

  it("names keep only those, and a missing name is an error", () => {
    assert.deepEqual(moduleTasks({ add, writeNote }, ["add"]), { add });
    assert.deepEqual(moduleTasks({ tasks: { add, writeNote } }, ["writeNote"]), { writeNote });
    assert.throws(() => moduleTasks({ tasks: { add } }, ["writeNote"]), {
      name: "ModuleTasksError",
      message: 'No task "writeNote" in the module (it offers: add)',
    });
  });

  it("refuses a tasks export that is not an object of functions", () => {
    assert.throws(() => moduleTasks({ tasks: 3 }), ModuleTasksError);
    assert.throws(() => moduleTasks({ tasks: { add, n: 1 } }), {
      message: 'The "tasks" export\'s "n" is not a function or a { fn, args } spec',
    });
    assert.throws(() => moduleTasks({ tasks: { add, spec: { args: ["int64"] } } }), {
      message: 'The "tasks" export\'s "spec" is not a function or a { fn, args } spec',
    });
  });

  it("takes { fn, args, results } specs, which declare Go's types", () => {
    const spec = { fn: add, args: ["int64", "int64"], results: ["int64"] };
    assert.deepEqual(moduleTasks({ tasks: { add: spec, writeNote } }), { add: spec, writeNote });
    assert.deepEqual(moduleTasks({ tasks: { add: spec, writeNote } }, ["add"]), { add: spec });
  });
});
