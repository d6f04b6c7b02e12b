/**
 * Task states and group metadata as machinery's result backends store them (`tasks.TaskState`,
 * `tasks.GroupMeta`), with their exact JSON codecs.
 *
 * @module
 */

import { parseJson, quoteGo, stringifyGo } from "./json.ts";
import { formatGoTime, parseGoTime, TimeParseError, ZERO_TIME } from "./go_time.ts";
import {
  decodeGoBool,
  decodeGoInt,
  decodeGoString,
  decodeGoTime,
  GoDecodeState,
  GoFields,
  isJsonObject,
  jsonKind,
  type Signature,
  unmarshalTypeText,
} from "./signature.ts";
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
  /** Go time text; {@link ZERO_TIME} when unset. */
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

/** Go's zero TaskState with `taskUUID` and `state` set (what a decoder starts from, too). */
export function zeroTaskState(taskUUID = "", state: StateName | "" = ""): TaskState {
  return {
    taskUUID,
    taskName: "",
    state,
    results: null,
    error: "",
    createdAt: ZERO_TIME,
    ttl: 0,
  };
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
  return {
    groupUUID,
    taskUUIDs,
    chordTriggered: false,
    lock: false,
    createdAt: formatGoTime(now ?? new Date()),
    ttl: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

function timeText(t: string | undefined): string {
  if (!t) return ZERO_TIME;
  parseGoTime(t); // Go can only have written a valid time
  return t;
}

function intText(n: number | undefined, field: string): string {
  const v = n ?? 0;
  if (!Number.isSafeInteger(v)) throw new RangeError(`${field} ${v} is not a safe integer`);
  return String(v);
}

/**
 * The JSON of a results array, e.g. `[{"Type":"int64","Value":2}]`; null gives `null`. Values
 * in wire form are written verbatim, JS values encoded for their type.
 */
export function encodeResults(results: TaskResult[] | null): string {
  if (results == null) return "null";
  let out = "[";
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (i > 0) out += ",";
    out += '{"Type":' + quoteGo(r.type ?? "") + ',"Value":' +
      stringifyGo(toWireValue(r.type, r.value), { sortKeys: true }) + "}";
  }
  return out + "]";
}

/** The exact bytes Go writes for a TaskState (key order TaskUUID … TTL, every key present). */
export function encodeTaskState(s: TaskState): string {
  return '{"TaskUUID":' + quoteGo(s.taskUUID ?? "") +
    ',"TaskName":' + quoteGo(s.taskName ?? "") +
    ',"State":' + quoteGo(s.state ?? "") +
    ',"Results":' + encodeResults(s.results ?? null) +
    ',"Error":' + quoteGo(s.error ?? "") +
    ',"CreatedAt":' + quoteGo(timeText(s.createdAt)) +
    ',"TTL":' + intText(s.ttl, "TTL") + "}";
}

/** The exact bytes Go writes for a GroupMeta. */
export function encodeGroupMeta(m: GroupMeta): string {
  const ids = m.taskUUIDs ?? null;
  return '{"GroupUUID":' + quoteGo(m.groupUUID ?? "") +
    ',"TaskUUIDs":' + (ids === null ? "null" : "[" + ids.map(quoteGo).join(",") + "]") +
    ',"ChordTriggered":' + (m.chordTriggered === true) +
    ',"Lock":' + (m.lock === true) +
    ',"CreatedAt":' + quoteGo(timeText(m.createdAt)) +
    ',"TTL":' + intText(m.ttl, "TTL") + "}";
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

const STATE_FIELDS = new GoFields([
  "TaskUUID",
  "TaskName",
  "State",
  "Results",
  "Error",
  "CreatedAt",
  "TTL",
]);
const RESULT_FIELDS = new GoFields(["Type", "Value"]);
const NO_PATH: readonly string[] = [];
const GROUP_FIELDS = new GoFields([
  "GroupUUID",
  "TaskUUIDs",
  "ChordTriggered",
  "Lock",
  "CreatedAt",
  "TTL",
]);

function decodeStruct<T>(text: string, goType: string, fill: (obj: unknown) => T): T {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (e) {
    throw new StateDecodeError((e as Error).message, { cause: e });
  }
  if (value !== null && !isJsonObject(value)) {
    throw new StateDecodeError(
      `json: cannot unmarshal ${jsonKind(value)} into Go value of type ${goType}`,
    );
  }
  try {
    return fill(value);
  } catch (e) {
    if (e instanceof TimeParseError) throw new StateDecodeError(e.message, { cause: e });
    throw e;
  }
}

/**
 * Reads a stored TaskState as Go does (keys case-insensitive, unknown keys ignored, typed fields
 * strict). Result values stay wire values. Throws {@link StateDecodeError} with Go's text.
 */
export function decodeTaskState(text: string): TaskState {
  return decodeStruct(text, "tasks.TaskState", (obj) => {
    const st = new GoDecodeState();
    const s = zeroTaskState();
    if (obj !== null) {
      const o = obj as Record<string, unknown>;
      for (const key in o) {
        const field = STATE_FIELDS.match(key);
        if (field === undefined) continue;
        const v = o[key];
        switch (field) {
          case "TaskUUID":
            s.taskUUID = decodeGoString(v, "TaskState", NO_PATH, field, st) ?? s.taskUUID;
            break;
          case "TaskName":
            s.taskName = decodeGoString(v, "TaskState", NO_PATH, field, st) ?? s.taskName;
            break;
          case "State":
            s.state = (decodeGoString(v, "TaskState", NO_PATH, field, st) ?? s.state) as StateName;
            break;
          case "Results":
            s.results = decodeResultList(v, st);
            break;
          case "Error":
            s.error = decodeGoString(v, "TaskState", NO_PATH, field, st) ?? s.error;
            break;
          case "CreatedAt":
            s.createdAt = decodeGoTime(v) ?? s.createdAt; // null leaves a time.Time unchanged
            break;
          case "TTL":
            s.ttl = decodeGoInt(v, "int64", "TaskState", NO_PATH, field, st) ?? s.ttl;
            break;
        }
      }
    }
    if (st.saved !== null) throw new StateDecodeError(st.saved);
    return s;
  });
}

// A null element would be a nil *TaskResult in Go (which its client cannot read); dropped here.
function decodeResultList(v: unknown, st: GoDecodeState): TaskResult[] | null {
  if (v === null || v === undefined) return null;
  const path = ["Results"];
  if (!Array.isArray(v)) {
    st.save(unmarshalTypeText(jsonKind(v), "TaskState", path, "[]*tasks.TaskResult"));
    return null;
  }
  const out: TaskResult[] = [];
  for (const item of v) {
    if (item === null) continue;
    if (!isJsonObject(item)) {
      st.save(unmarshalTypeText(jsonKind(item), "TaskState", path, "tasks.TaskResult"));
      continue;
    }
    const r: TaskResult = { type: "", value: null };
    for (const key in item) {
      const field = RESULT_FIELDS.match(key);
      if (field === "Value") r.value = item[key];
      else if (field === "Type") {
        r.type = decodeGoString(item[key], "TaskResult", path, field, st) ?? r.type;
      }
    }
    out.push(r);
  }
  return out;
}

/** Reads a stored GroupMeta as Go does. Throws {@link StateDecodeError} with Go's text. */
export function decodeGroupMeta(text: string): GroupMeta {
  return decodeStruct(text, "tasks.GroupMeta", (obj) => {
    const st = new GoDecodeState();
    const m: GroupMeta = {
      groupUUID: "",
      taskUUIDs: null,
      chordTriggered: false,
      lock: false,
      createdAt: ZERO_TIME,
      ttl: 0,
    };
    if (obj !== null) {
      const o = obj as Record<string, unknown>;
      for (const key in o) {
        const field = GROUP_FIELDS.match(key);
        if (field === undefined) continue;
        const v = o[key];
        switch (field) {
          case "GroupUUID":
            m.groupUUID = decodeGoString(v, "GroupMeta", NO_PATH, field, st) ?? m.groupUUID;
            break;
          case "TaskUUIDs":
            if (v === null) m.taskUUIDs = null;
            else if (!Array.isArray(v)) {
              st.save(unmarshalTypeText(jsonKind(v), "GroupMeta", [field], "[]string"));
            } else {
              m.taskUUIDs = v.map((x) => decodeGoString(x, "GroupMeta", NO_PATH, field, st) ?? "");
            }
            break;
          case "ChordTriggered":
            m.chordTriggered = decodeGoBool(v, "GroupMeta", NO_PATH, field, st) ?? m.chordTriggered;
            break;
          case "Lock":
            m.lock = decodeGoBool(v, "GroupMeta", NO_PATH, field, st) ?? m.lock;
            break;
          case "CreatedAt":
            m.createdAt = decodeGoTime(v) ?? m.createdAt;
            break;
          case "TTL":
            m.ttl = decodeGoInt(v, "int64", "GroupMeta", NO_PATH, field, st) ?? m.ttl;
            break;
        }
      }
    }
    if (st.saved !== null) throw new StateDecodeError(st.saved);
    return m;
  });
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
