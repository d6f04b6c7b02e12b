/**
 * Task states and group metadata as machinery's result backends store them (`tasks.TaskState`,
 * `tasks.GroupMeta`), with their exact JSON codecs.
 *
 * @module
 */

import { parseJson, quoteGo, stringifyGo } from "./json.ts";
import { formatGoTime, TimeParseError } from "./go_time.ts";
import type { Signature } from "./signature.ts";
import {
  decodeGoSlice,
  decodeGoString,
  encodeGoSlice,
  goBool,
  GoDecodeState,
  goInt64,
  type GoKind,
  goString,
  goStrings,
  type GoStruct,
  goStruct,
  goTime,
  isJsonObject,
  jsonKind,
  unmarshalTypeText,
} from "./_go_struct.ts";
import { decodeValue, humanReadable, toWireValue } from "./types.ts";

/** The state strings machinery writes. */
export type StateName = "PENDING" | "RECEIVED" | "STARTED" | "RETRY" | "SUCCESS" | "FAILURE";

/** Initial state, written by the sender. */
export const PENDING = "PENDING";
/** A worker took the message. */
export const RECEIVED = "RECEIVED";
/** Just before the task function runs. */
export const STARTED = "STARTED";
/** A retry is scheduled. */
export const RETRY = "RETRY";
/** Finished with results. */
export const SUCCESS = "SUCCESS";
/** Finished with an error. */
export const FAILURE = "FAILURE";

/** One return value: its Go type name and its value (a wire value after decoding). */
export interface TaskResult {
  /** The Go type name (`int64`, `[]string`, …). */
  type: string;
  /** A wire value (JsonNumber, …) or a JS value to encode for `type`. */
  value: unknown;
}

/** Go's `tasks.TaskState`. */
export interface TaskState {
  /** The task's UUID. */
  taskUUID: string;
  /** The task name (set in PENDING; `""` in unmerged later states). */
  taskName: string;
  /** The state string (`""` only for a zero value). */
  state: StateName | "";
  /** Results (SUCCESS only; `[]` for a task that returns only an error), else null. */
  results: TaskResult[] | null;
  /** The error text (FAILURE), else `""`. */
  error: string;
  /** Go time text; `ZERO_TIME` when unset. */
  createdAt: string;
  /** Always 0 outside DynamoDB. */
  ttl: number;
}

/** Go's `tasks.GroupMeta`. */
export interface GroupMeta {
  /** The group's UUID. */
  groupUUID: string;
  /** The members' task UUIDs, in group order. */
  taskUUIDs: string[] | null;
  /** Set once the chord callback has been sent. */
  chordTriggered: boolean;
  /** Used by the Memcache and DynamoDB backends only. */
  lock: boolean;
  /** Go time text. */
  createdAt: string;
  /** Always 0 outside DynamoDB. */
  ttl: number;
}

/** SUCCESS or FAILURE. */
export function isCompleted(s: TaskState): boolean {
  return s.state === SUCCESS || s.state === FAILURE;
}

/** Whether the state is SUCCESS. */
export function isSuccess(s: TaskState): boolean {
  return s.state === SUCCESS;
}

/** Whether the state is FAILURE. */
export function isFailure(s: TaskState): boolean {
  return s.state === FAILURE;
}

/** Go's zero TaskState (see {@link TASK_STATE_STRUCT}) with `taskUUID` and `state` set. */
export function zeroTaskState(taskUUID = "", state: StateName | "" = ""): TaskState {
  const s = TASK_STATE_STRUCT.zero();
  s.taskUUID = taskUUID;
  s.state = state;
  return s;
}

function baseState(sig: Signature, state: StateName): TaskState {
  return zeroTaskState(sig.uuid, state);
}

/** PENDING: the task name and the creation time are set (the only state that has them). */
export function pendingState(sig: Signature, now?: Date): TaskState {
  return {
    ...baseState(sig, PENDING),
    taskName: sig.name,
    createdAt: formatGoTime(now ?? new Date()),
  };
}

/** RECEIVED (unmerged: no name, zero time; a backend may merge them in). */
export function receivedState(sig: Signature): TaskState {
  return baseState(sig, RECEIVED);
}

/** STARTED (unmerged). */
export function startedState(sig: Signature): TaskState {
  return baseState(sig, STARTED);
}

/** RETRY (unmerged). */
export function retryState(sig: Signature): TaskState {
  return baseState(sig, RETRY);
}

/** SUCCESS with the results (pass `[]` for a task that returns only an error). */
export function successState(sig: Signature, results: TaskResult[]): TaskState {
  return { ...baseState(sig, SUCCESS), results };
}

/** FAILURE with the error text. */
export function failureState(sig: Signature, error: string): TaskState {
  return { ...baseState(sig, FAILURE), error };
}

/** Group metadata as InitGroup writes it. */
export function newGroupMeta(groupUUID: string, taskUUIDs: string[], now?: Date): GroupMeta {
  const meta = GROUP_META_STRUCT.zero();
  meta.groupUUID = groupUUID;
  meta.taskUUIDs = taskUUIDs;
  meta.createdAt = formatGoTime(now ?? new Date());
  return meta;
}

// ---------------------------------------------------------------------------------------------
// The structs

/**
 * The JSON of a results array, e.g. `[{"Type":"int64","Value":2}]`; null gives `null`. Values
 * in wire form are written verbatim, JS values encoded for their type.
 */
export function encodeResults(results: TaskResult[] | null): string {
  return goResults.encode(results, "Results");
}

/** `tasks.TaskResult`'s fields by exact and by lower-case name (none of them folds further). */
const RESULT_FIELDS = new Map(
  ["Type", "Value"].flatMap((n) => [[n, n], [n.toLowerCase(), n]] as const),
);

/** One `tasks.TaskResult`: `{"Type":…,"Value":…}`, the value encoded for its type. */
function encodeResult(r: TaskResult): string {
  return '{"Type":' + quoteGo(r.type ?? "") + ',"Value":' +
    stringifyGo(toWireValue(r.type, r.value), SORTED) + "}";
}

/** Go's `[]*tasks.TaskResult`. A null element (a nil pointer Go's client cannot read) is dropped. */
export const goResults: GoKind<TaskResult[] | null> = {
  zero: null,
  encode: (results) => encodeGoSlice(results, encodeResult),
  decode(v, _current, struct, base, field, st) {
    return decodeGoSlice(v, "[]*tasks.TaskResult", struct, base, field, st, (item, path) => {
      if (item === null) return undefined;
      if (!isJsonObject(item)) {
        st.save(unmarshalTypeText(jsonKind(item), struct, path, "tasks.TaskResult"));
        return undefined;
      }
      const r: TaskResult = { type: "", value: null };
      for (const key in item) {
        const name = RESULT_FIELDS.get(key) ?? RESULT_FIELDS.get(key.toLowerCase());
        if (name === "Value") r.value = item[key];
        else if (name === "Type") {
          r.type = decodeGoString(item[key], "TaskResult", path, name, st) ?? r.type;
        }
      }
      return r;
    }) ?? null;
  },
  copy: (results) => results.map((r) => ({ ...r })),
};

const SORTED = { sortKeys: true } as const;

/**
 * Go's `tasks.TaskState`, field by field in declaration order with the `bson` tags of Go's MongoDB
 * backend: the one list the zero value, the codec and the MongoDB documents are built from.
 */
export const TASK_STATE_STRUCT: GoStruct<TaskState> = goStruct<TaskState>("TaskState", {
  taskUUID: ["TaskUUID", goString, "_id"],
  taskName: ["TaskName", goString, "task_name"],
  state: ["State", goString as GoKind<StateName | "">, "state"],
  results: ["Results", goResults, "results"],
  error: ["Error", goString, "error"],
  createdAt: ["CreatedAt", goTime, "created_at"],
  ttl: ["TTL", goInt64, "ttl,omitempty"],
});

/** Go's `tasks.GroupMeta`, field by field in declaration order, as {@link TASK_STATE_STRUCT}. */
export const GROUP_META_STRUCT: GoStruct<GroupMeta> = goStruct<GroupMeta>("GroupMeta", {
  groupUUID: ["GroupUUID", goString, "_id"],
  taskUUIDs: ["TaskUUIDs", goStrings, "task_uuids"],
  chordTriggered: ["ChordTriggered", goBool, "chord_triggered"],
  lock: ["Lock", goBool, "lock"],
  createdAt: ["CreatedAt", goTime, "created_at"],
  ttl: ["TTL", goInt64, "ttl,omitempty"],
});

// ---------------------------------------------------------------------------------------------
// Encoding

/** The exact bytes Go writes for a TaskState (key order TaskUUID … TTL, every key present). */
export function encodeTaskState(s: TaskState): string {
  return TASK_STATE_STRUCT.encode(s);
}

/** The exact bytes Go writes for a GroupMeta. */
export function encodeGroupMeta(m: GroupMeta): string {
  return GROUP_META_STRUCT.encode(m);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** A stored state or group record that Go's decoder would reject; the message is Go's. */
export class StateDecodeError extends Error {
  /** Creates the error; `cause` keeps the underlying error, when there is one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateDecodeError";
  }
}

const NO_PATH: readonly string[] = [];

function decodeStruct<T>(text: string, struct: GoStruct<T>): T {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (e) {
    throw new StateDecodeError((e as Error).message, { cause: e });
  }
  if (value === null) return struct.zero(); // Go leaves the struct at its zero value
  if (!isJsonObject(value)) {
    throw new StateDecodeError(
      `json: cannot unmarshal ${jsonKind(value)} into Go value of type tasks.${struct.name}`,
    );
  }
  const st = new GoDecodeState();
  let out: T;
  try {
    out = struct.decode(value, NO_PATH, st);
  } catch (e) {
    if (e instanceof TimeParseError) throw new StateDecodeError(e.message, { cause: e });
    throw e;
  }
  if (st.saved !== null) throw new StateDecodeError(st.saved);
  return out;
}

/**
 * Reads a stored TaskState as Go does (keys case-insensitive, unknown keys ignored, typed fields
 * strict). Result values stay wire values. Throws {@link StateDecodeError} with Go's text.
 */
export function decodeTaskState(text: string): TaskState {
  return decodeStruct(text, TASK_STATE_STRUCT);
}

/** Reads a stored GroupMeta as Go does. Throws {@link StateDecodeError} with Go's text. */
export function decodeGroupMeta(text: string): GroupMeta {
  return decodeStruct(text, GROUP_META_STRUCT);
}

// ---------------------------------------------------------------------------------------------
// Reading results

/**
 * Go's `ReflectTaskResults`: each result decoded for its type (see `decodeValue`); null gives
 * `[]`. Throws `TypeDecodeError`, e.g. `main.MyT is not one of supported types`.
 */
export function decodeResults(results: TaskResult[] | null): unknown[] {
  if (results == null) return [];
  return results.map((r) => decodeValue(r.type, r.value));
}

/**
 * Go's `HumanReadableResults(ReflectTaskResults(results))`: `2`, `[f o o]`, `[foo, bar]`, `[]`.
 * Throws `TypeDecodeError` for a result that cannot be read back.
 */
export function humanReadableResults(results: TaskResult[] | null): string {
  const values = decodeResults(results);
  return humanReadable(values, (results ?? []).map((r) => r.type));
}
