/**
 * TaskState and GroupMeta ↔ the documents of Go machinery's MongoDB backend (v2; `docs/wire.md#mongodb`). Pure
 * functions: no driver calls, so the mapping is tested without a server.
 *
 * `tasks` (one document per task, `_id` = the task UUID, written with an upsert `$set`):
 *
 * | State | `$set` |
 * |-------|--------|
 * | PENDING | `state`, `task_name`, `created_at` (a date) |
 * | RECEIVED, STARTED, RETRY | `state` |
 * | SUCCESS | `state`, `results` (`[{type, value}]`, see `_bson_values.ts`), `delete_at` |
 * | FAILURE | `state`, `error`, `delete_at` |
 *
 * So `task_name` and `created_at` stay from PENDING, and only finished tasks expire (`delete_at`
 * with a TTL index). `group_metas`: `{_id, task_uuids, chord_triggered, lock, created_at}`, plus
 * `ttl` when not 0 (Go's `omitempty`). We add `delete_at` to the group metas we write, so that
 * they expire too (Go never removes its own; its decoder ignores the extra field).
 *
 * @module
 */
import { Long } from "mongodb";
import { formatGoTime, parseGoTime, ZERO_TIME } from "../wire/go_time.ts";
import {
  FAILURE,
  goResults,
  GROUP_META_STRUCT,
  type GroupMeta,
  PENDING,
  SUCCESS,
  TASK_STATE_STRUCT,
  type TaskResult,
  type TaskState,
} from "../wire/state.ts";
import {
  goBool,
  goInt64,
  type GoKind,
  goString,
  goStrings,
  type GoStruct,
  type GoStructField,
  goTime,
} from "../wire/_go_struct.ts";
import { type BsonResult, resultFromBson, resultsToBson } from "./_bson_values.ts";

/** The collection of task states. */
export const TASKS_COLLECTION = "tasks";
/** The collection of group metas. */
export const GROUP_METAS_COLLECTION = "group_metas";
/** The database Go machinery uses when none is configured (the URI's path is ignored). */
export const DEFAULT_DATABASE = "machinery";

/** A stored task state. */
export interface TaskDocument {
  /** The task UUID. */
  _id: string;
  /** The state name. */
  state?: string;
  /** The task name (from PENDING). */
  task_name?: string;
  /** When PENDING was written. */
  created_at?: Date;
  /** The results (SUCCESS). */
  results?: BsonResult[] | null;
  /** The error text (FAILURE). */
  error?: string;
  /** When the TTL index removes the document (SUCCESS, FAILURE). */
  delete_at?: Date;
  /** Only DynamoDB sets it; omitted when 0. */
  ttl?: unknown;
}

/** A stored group meta. */
export interface GroupMetaDocument {
  /** The group UUID. */
  _id: string;
  /** The members' UUIDs in group order. */
  task_uuids: string[] | null;
  /** Set once the chord callback is sent. */
  chord_triggered: boolean;
  /** Unused on MongoDB (kept for Go's shape). */
  lock: boolean;
  /** When the group was made. */
  created_at: Date;
  /** Only when not 0. */
  ttl?: Long;
  /** When the TTL index removes the document (ours; Go writes none). */
  delete_at?: Date;
}

/** `now + ttlSeconds` as the date for `delete_at`. */
export function deleteAt(ttlSeconds: number, nowMs: number = Date.now()): Date {
  return new Date(nowMs + ttlSeconds * 1000);
}

function toDate(goTime: string): Date {
  return parseGoTime(goTime || ZERO_TIME).date;
}

/**
 * The `$set` document that writes `state` (as Go's SetState* calls do). `expiresAt` is the
 * `delete_at` of a finished state.
 */
export function taskStateUpdate(state: TaskState, expiresAt: Date): Record<string, unknown> {
  switch (state.state) {
    case PENDING:
      return { state: PENDING, task_name: state.taskName, created_at: toDate(state.createdAt) };
    case SUCCESS:
      return {
        state: SUCCESS,
        results: resultsToBson(state.results ?? []),
        delete_at: expiresAt,
      };
    case FAILURE:
      return { state: FAILURE, error: state.error, delete_at: expiresAt };
    default:
      return { state: state.state };
  }
}

function goTimeOf(v: unknown): string {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) return ZERO_TIME;
  try {
    return formatGoTime(v);
  } catch {
    return ZERO_TIME; // a year Go could not marshal either
  }
}

function int64Of(v: unknown): number {
  if (v === null || v === undefined) return 0;
  const n = Number(typeof v === "object" ? String(v) : v);
  return Number.isSafeInteger(n) ? n : 0;
}

/** How a field of each Go kind is stored (as Go's driver does) and read back (missing: zero). */
interface BsonCodec {
  toBson(value: never): unknown;
  fromBson(value: unknown): unknown;
}

const BSON_CODECS = new Map<GoKind<unknown>, BsonCodec>([
  [goString, { toBson: (v: string) => v, fromBson: (v) => typeof v === "string" ? v : "" }],
  [goBool, { toBson: (v: boolean) => v, fromBson: (v) => v === true }],
  [goTime, { toBson: toDate, fromBson: goTimeOf }],
  [goInt64, { toBson: (v: number) => Long.fromNumber(v), fromBson: int64Of }],
  [goStrings, {
    toBson: (v: string[] | null) => v,
    fromBson: (v) => Array.isArray(v) ? v.map((x) => String(x)) : null,
  }],
  [goResults, {
    toBson: (v: TaskResult[] | null) => v == null ? null : resultsToBson(v),
    fromBson: (v) =>
      Array.isArray(v) ? v.filter((r) => r !== null && r !== undefined).map(resultFromBson) : null,
  }],
]);

/** A field's BSON name, whether it is `omitempty`, and its codec. */
function bsonField<T>(struct: GoStruct<T>, f: GoStructField<T>) {
  const [name, option] = (f.bsonTag ?? "").split(",");
  const codec = BSON_CODECS.get(f.kind as GoKind<unknown>);
  if (!name || codec === undefined) {
    throw new TypeError(`${struct.name}.${f.goName} has no BSON form`);
  }
  return { prop: f.prop, name, omitEmpty: option === "omitempty", codec };
}

/** The document Go's driver writes for `value`, keys in Go's order (`omitempty` zeros left out). */
function toDocument<T>(struct: GoStruct<T>, value: T): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const f of struct.fields) {
    const { prop, name, omitEmpty, codec } = bsonField(struct, f);
    const v = (value as Record<string, unknown>)[prop];
    if (omitEmpty && isEmpty(v)) continue;
    doc[name] = codec.toBson(v as never);
  }
  return doc;
}

/** Go's `omitempty`: false, 0, "", a nil pointer and an empty slice are left out. */
function isEmpty(v: unknown): boolean {
  return v === false || v === 0 || v === "" || v == null || (Array.isArray(v) && v.length === 0);
}

/** A stored document as the struct Go's driver reads from it (missing fields: Go's zeros). */
function fromDocument<T>(struct: GoStruct<T>, doc: Record<string, unknown>): T {
  const out = struct.zero() as Record<string, unknown>;
  for (const f of struct.fields) {
    const { prop, name, codec } = bsonField(struct, f);
    out[prop] = codec.fromBson(doc[name]);
  }
  return out as T;
}

/** A stored task document as a TaskState (missing fields take Go's zero values). */
export function taskStateFromDocument(doc: Record<string, unknown>): TaskState {
  return fromDocument(TASK_STATE_STRUCT, doc);
}

/** The document InitGroup inserts for `meta`, in Go's field order; `expiresAt` adds `delete_at`. */
export function groupMetaToDocument(meta: GroupMeta, expiresAt?: Date): GroupMetaDocument {
  const doc = toDocument(GROUP_META_STRUCT, meta) as unknown as GroupMetaDocument;
  if (expiresAt) doc.delete_at = expiresAt;
  return doc;
}

/** A stored group document as a GroupMeta. */
export function groupMetaFromDocument(doc: Record<string, unknown>): GroupMeta {
  return fromDocument(GROUP_META_STRUCT, doc);
}
