/**
 * Task functions: how they are declared, how the worker calls them with decoded arguments, and
 * how their return values become machinery's typed results.
 *
 * @module
 */
import { parseRateLimit } from "./rate_limit.ts";
import type { Arg, Signature } from "./wire/signature.ts";
import type { TaskResult } from "./wire/state.ts";
import { decodeValue, encodeValue, inferType, type TypeName } from "./wire/types.ts";
import { InvalidTaskError } from "./errors.ts";
import {
  checkCallArgs,
  compileParams,
  type ParamType,
  paramTypeAt,
  type TaskParams,
} from "./task_params.ts";

/** What a task sees besides its arguments. */
export interface TaskContext {
  /** The signature being processed (machinery's `SignatureFromContext`). */
  readonly signature: Signature;
  /**
   * Aborted when the task's timeout or deadline passes, when it is cancelled, or when the worker
   * quits abruptly (its `reason` says which); long tasks should stop early.
   */
  readonly signal: AbortSignal;
}

/** Any function (the widest task shape). */
// deno-lint-ignore no-explicit-any
export type AnyFunction = (...args: any[]) => unknown;

/** A task function whose first parameter is its `TaskContext` (made by `withContext`). */
export type ContextTask<F extends AnyFunction = AnyFunction> = F & {
  /** Marks the function; the worker passes the context first. */
  readonly machineryContext: true;
};

/** Anything that can be registered as a task. */
export type TaskFunction = AnyFunction;

/**
 * Marks `fn` as taking a `TaskContext` first, like a Go task whose first parameter is a
 * `context.Context`. The context does not count as a positional argument.
 *
 * @example
 * ```ts
 * import { withContext } from "./task.ts";
 * const slow = withContext(async (ctx, ms: number) => {
 *   await new Promise((r) => setTimeout(r, ms));
 *   return ctx.signature.uuid;
 * });
 * ```
 */
export function withContext<A extends unknown[], R>(
  fn: (ctx: TaskContext, ...args: A) => R,
): ContextTask<(ctx: TaskContext, ...args: A) => R> {
  return Object.assign(fn, { machineryContext: true as const });
}

/** The positional arguments a task takes (its context excluded). */
export type TaskArgs<F> = F extends ContextTask<(ctx: TaskContext, ...args: infer A) => unknown> ? A
  : F extends (...args: infer A) => unknown ? A
  : never;

/** Several results from one task (Go's `(r1, r2, error)`). */
export class Results<T extends unknown[] = unknown[]> {
  /** The result values, in order. */
  readonly values: T;
  /** Wraps the values. */
  constructor(values: T) {
    this.values = values;
  }
}

/** Returns several results from a task: `return results("foo", "bar")`. */
export function results<T extends unknown[]>(...values: T): Results<T> {
  return new Results(values);
}

/** A value with an explicit machinery type name, as an argument or a result. */
export class Typed<T = unknown> {
  /** The machinery type name (`int32`, `[]float64` …). */
  readonly type: TypeName;
  /** The JavaScript value. */
  readonly value: T;
  /** Pairs the type and the value. */
  constructor(type: TypeName, value: T) {
    this.type = type;
    this.value = value;
  }
}

/** Gives a value an explicit machinery type: `typed("float64", 200)`. */
export function typed<T>(type: TypeName, value: T): Typed<T> {
  return new Typed(type, value);
}

/** What a task's return value means as a list of results. */
export type TaskResultValues<R> = Awaited<R> extends void | undefined ? []
  : Awaited<R> extends Results<infer T> ? T
  : Awaited<R> extends Typed<infer V> ? [V]
  : [Awaited<R>];

/** Options for `registerTask`. */
export interface TaskOptions {
  /** The Go type of each result, for Go clients that read them (default: inferred from values). */
  results?: TypeName[];
  /**
   * The Go type of each parameter, as Go would declare it (`["...int64"]` for
   * `func(args ...int64)`, `["[]int64"]` for `func(numbers []int64)`, `[]` for `func()`). When
   * set, the worker checks the arguments' count and types before the call and fails the task
   * with Go's `reflect` texts, as a Go worker does; when unset, nothing is checked.
   */
  args?: ParamType[];
  /**
   * The most milliseconds one run may take (default: no limit): the task's signal fires then,
   * and it is recorded FAILURE `task timed out after …`, or retried while it has retries left.
   * A signature's `machinery_ts_timeout_ms` header (`setTaskTimeout`) overrides it.
   */
  timeout?: number;
  /**
   * A rate limit shared by every worker on the same Redis broker or backend: `"100/s"`,
   * `"30/m"`, `"500/h"`, with an optional burst (`"100/s:20"`). See `parseRateLimit`.
   */
  rateLimit?: string;
}

/** A registered task. */
export interface TaskDefinition {
  /** The registered name. */
  readonly name: string;
  /** The function. */
  readonly fn: TaskFunction;
  /** The options it was registered with. */
  readonly options: TaskOptions;
  /** The declared parameters, compiled (absent when `options.args` is). */
  readonly params?: TaskParams;
}

/** A task with its options, as `registerTasks` and a `--tasks` module's `tasks` object take it. */
export interface TaskSpec extends TaskOptions {
  /** The task function. */
  fn: TaskFunction;
}

/** Checks that `fn` can be a task (machinery's `ValidateTask`). */
export function validateTask(fn: unknown): asserts fn is TaskFunction {
  if (typeof fn !== "function") throw new InvalidTaskError("Task must be a func type");
}

/**
 * A checked task definition: `fn` must be a function and `options.args`, when given, a list of
 * machinery type names (the last may be `...T`); throws `InvalidTaskError` otherwise.
 */
export function defineTask(name: string, fn: unknown, options: TaskOptions = {}): TaskDefinition {
  validateTask(fn);
  if (options.rateLimit !== undefined) parseRateLimit(options.rateLimit); // refuse a typo now
  const declared: unknown = options.args;
  if (declared === undefined) return { name, fn, options };
  if (!Array.isArray(declared)) {
    throw new InvalidTaskError(`The argument types of task "${name}" are not a list`);
  }
  return { name, fn, options, params: compileParams(declared) };
}

/** Builds an argument list from JavaScript values, inferring Go types where not given. */
export function toArgs(values: unknown[], types?: readonly ParamType[]): Arg[] {
  return values.map((value, i) => {
    if (value instanceof Typed) return { name: "", type: value.type, value: value.value };
    const type = (types && paramTypeAt(types, i)) ?? inferType(value);
    return { name: "", type, value };
  });
}

/** Thrown when the arguments cannot be decoded; the task fails without retrying. */
export class ArgsError extends Error {
  /** Creates the error with machinery's prefix. */
  constructor(message: string) {
    super(`Reflect task args error: ${message}`);
    this.name = "ArgsError";
  }
}

/** Decodes a signature's arguments into JavaScript values (`docs/wire.md#decoding-values`). */
export function decodeArgs(args: Arg[] | null): unknown[] {
  const list = args ?? [];
  const values: unknown[] = [];
  for (const arg of list) {
    try {
      values.push(decodeValue(arg.type, arg.value));
    } catch (error) {
      throw new ArgsError(error instanceof Error ? error.message : String(error));
    }
  }
  return values;
}

/**
 * Calls the task with decoded arguments and returns its results in wire form: at once for a
 * task that returns a plain value (no promise to wait for), or as a promise. Throws (or
 * rejects) with the task's error.
 */
export function invokeTask(
  def: TaskDefinition,
  signature: Signature,
  values: unknown[],
  signal: AbortSignal | (() => AbortSignal),
): TaskResult[] | Promise<TaskResult[]> {
  // Go's reflect.Call panics here, inside the recovered call: a normal task error, so retries apply.
  if (def.params) checkCallArgs(def.params, signature.args);
  const fn = def.fn;
  // A getter makes the signal only for tasks that take a context (the others cannot see it).
  const returned = (fn as Partial<ContextTask>).machineryContext
    ? fn({ signature, signal: typeof signal === "function" ? signal() : signal }, ...values)
    : fn(...values);
  const types = def.options.results;
  if (isThenable(returned)) return Promise.resolve(returned).then((r) => toResults(r, types));
  return toResults(returned, types);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/** Turns a task's return value into typed results (`docs/wire.md#results`). */
export function toResults(returned: unknown, types?: TypeName[]): TaskResult[] {
  if (returned === undefined) return [];
  const values: unknown[] = returned instanceof Results ? returned.values : [returned];
  return values.map((value, i) => {
    if (value instanceof Typed) {
      return { type: value.type, value: encodeValue(value.type, value.value) };
    }
    const type = types?.[i] ?? inferType(value);
    return { type, value: encodeValue(type, value) };
  });
}
