/**
 * A task's declared Go parameter types, and the checks Go's `reflect.Value.Call` makes before a
 * Go worker calls a task function: the count, then each argument's type, failing with Go's exact
 * texts (see `docs/wire.md#typed-tasks`).
 *
 * @module
 */
import type { Arg } from "./wire/signature.ts";
import { isTypeName, type TypeName } from "./wire/types.ts";
import { InvalidTaskError } from "./errors.ts";

/**
 * One declared parameter: a machinery type name (`"int64"`, `"[]string"` …), or, last only,
 * `"...T"` for a Go variadic parameter (`func(args ...int64)` is `["...int64"]`).
 */
export type ParamType = TypeName | `...${TypeName}`;

/** Declared parameters, compiled once at registration (Go's type strings, `[]byte` as `[]uint8`). */
export interface TaskParams {
  /** The fixed parameters' types, in order. */
  readonly fixed: readonly string[];
  /** The element type of the trailing variadic parameter, if there is one. */
  readonly variadic?: string;
}

/** The call does not fit the declared parameters; the message is Go's `reflect` panic text. */
export class CallArgsError extends Error {
  /** Creates the error with Go's text. */
  constructor(message: string) {
    super(message);
    this.name = "CallArgsError";
  }
}

/** Go's name of a machinery type: `[]byte` is an alias, and reflection calls it `[]uint8`. */
function goTypeString(type: string): string {
  return type === "[]byte" ? "[]uint8" : type;
}

/**
 * Checks and compiles declared parameter types; throws `InvalidTaskError` for a name machinery
 * does not know or a variadic parameter that is not the last.
 */
export function compileParams(declared: readonly ParamType[]): TaskParams {
  const fixed: string[] = [];
  let variadic: string | undefined;
  declared.forEach((param, i) => {
    const isVariadic = typeof param === "string" && param.startsWith("...");
    const type = isVariadic ? param.slice(3) : param;
    if (typeof type !== "string" || !isTypeName(type)) {
      throw new InvalidTaskError(`Argument type "${String(param)}" is not one of supported types`);
    }
    if (isVariadic && i !== declared.length - 1) {
      throw new InvalidTaskError(`Only the last argument type can be variadic, not "${param}"`);
    }
    if (isVariadic) variadic = goTypeString(type);
    else fixed.push(goTypeString(type));
  });
  return variadic === undefined ? { fixed } : { fixed, variadic };
}

/** The type name to send the argument at `index` with, by the declared parameters. */
export function paramTypeAt(declared: readonly ParamType[], index: number): TypeName | undefined {
  const last = declared[declared.length - 1];
  if (last?.startsWith("...") && index >= declared.length - 1) return last.slice(3) as TypeName;
  return declared[index] as TypeName | undefined;
}

/**
 * Go's `reflect.Value.Call` checks, in Go's order: too few arguments, too many (unless
 * variadic), each fixed argument's type (`reflect: Call using string as type int64`), then each
 * variadic one's (`reflect: cannot use string as type int64 in Call`). Types must be identical:
 * Go assigns no int to a float64, no int to an int64.
 */
export function checkCallArgs(params: TaskParams, args: readonly Arg[] | null): void {
  const list = args ?? [];
  const { fixed, variadic } = params;
  if (list.length < fixed.length) {
    throw new CallArgsError("reflect: Call with too few input arguments");
  }
  if (variadic === undefined && list.length > fixed.length) {
    throw new CallArgsError("reflect: Call with too many input arguments");
  }
  for (let i = 0; i < fixed.length; i++) {
    const type = goTypeString(list[i].type);
    if (type !== fixed[i]) {
      throw new CallArgsError(`reflect: Call using ${type} as type ${fixed[i]}`);
    }
  }
  for (let i = fixed.length; i < list.length; i++) {
    const type = goTypeString(list[i].type);
    if (type !== variadic) {
      throw new CallArgsError(`reflect: cannot use ${type} as type ${variadic} in Call`);
    }
  }
}
