/**
 * Which of a module's exports are tasks (`machinery worker --tasks MODULE`): its exported `tasks`
 * object (name → function, or `{ fn, args, results }` to declare Go's types) when it has one,
 * otherwise every exported function; then, when names are given (`--task NAME`), only those.
 *
 * @module
 */
import type { TaskFunction, TaskSpec } from "./task.ts";

/** A tasks module that cannot be used as asked: not a function where one is needed, a missing name. */
export class ModuleTasksError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ModuleTasksError";
  }
}

/**
 * The tasks `module` offers, by name. An exported `tasks` object is the explicit list and takes
 * precedence: only its entries are tasks, whatever else the module exports. An entry is a
 * function, or a `{ fn, args, results }` spec that declares the task's Go parameter and result
 * types (`{ fn: add, args: ["...int64"] }`), checked when it is registered. Without one, every
 * exported function (not classes) is a task under its export name, so a helper such as
 * `writeNote(path, text)` exported next to the tasks becomes callable by anyone who can publish
 * to the queue: export `tasks`, or pass `only`. `only` keeps just those names, and each must be
 * there.
 *
 * @example
 * ```ts
 * const module = { tasks: { add: (a: number, b: number) => a + b }, writeNote: () => {} };
 * Object.keys(moduleTasks(module)); // ["add"]
 * ```
 */
export function moduleTasks(
  module: Record<string, unknown>,
  only: string[] = [],
): Record<string, TaskFunction | TaskSpec> {
  const offered: Record<string, TaskFunction | TaskSpec> = {};
  const explicit = module.tasks;
  if (explicit !== undefined) {
    if (typeof explicit !== "object" || explicit === null) {
      throw new ModuleTasksError(`The "tasks" export is not an object of functions`);
    }
    for (const [name, value] of Object.entries(explicit)) {
      if (typeof value !== "function" && typeof value?.fn !== "function") {
        throw new ModuleTasksError(
          `The "tasks" export's "${name}" is not a function or a { fn, args } spec`,
        );
      }
      offered[name] = value as TaskFunction | TaskSpec;
    }
  } else {
    for (const [name, value] of Object.entries(module)) {
      if (name !== "default" && typeof value === "function" && !isClass(value)) {
        offered[name] = value as TaskFunction;
      }
    }
  }
  if (only.length === 0) return offered;
  const chosen: Record<string, TaskFunction | TaskSpec> = {};
  for (const name of only) {
    if (!Object.hasOwn(offered, name)) {
      throw new ModuleTasksError(
        `No task "${name}" in the module (it offers: ${Object.keys(offered).join(", ") || "none"})`,
      );
    }
    chosen[name] = offered[name];
  }
  return chosen;
}

function isClass(fn: unknown): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}
