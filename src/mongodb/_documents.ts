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
  type GroupMeta,
  PENDING,
  type StateName,
  SUCCESS,
  type TaskResult,
  type TaskState,
} from "../wire/state.ts";
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

function stringOf(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** A stored task document as a TaskState (missing fields take Go's zero values). */
export function taskStateFromDocument(doc: Record<string, unknown>): TaskState {
  let results: TaskResult[] | null = null;
  if (Array.isArray(doc.results)) {
    results = doc.results.filter((r) => r !== null && r !== undefined).map(resultFromBson);
  }
  return {
    taskUUID: String(doc._id ?? ""),
    taskName: stringOf(doc.task_name),
    state: stringOf(doc.state) as StateName | "",
    results,
    error: stringOf(doc.error),
    createdAt: goTimeOf(doc.created_at),
    ttl: int64Of(doc.ttl),
  };
}

/** The document InitGroup inserts for `meta`, in Go's field order; `expiresAt` adds `delete_at`. */
export function groupMetaToDocument(meta: GroupMeta, expiresAt?: Date): GroupMetaDocument {
  const doc: GroupMetaDocument = {
    _id: meta.groupUUID,
    task_uuids: meta.taskUUIDs,
    chord_triggered: meta.chordTriggered,
    lock: meta.lock,
    created_at: toDate(meta.createdAt),
  };
  if (meta.ttl) doc.ttl = Long.fromNumber(meta.ttl);
  if (expiresAt) doc.delete_at = expiresAt;
  return doc;
}

/** A stored group document as a GroupMeta. */
export function groupMetaFromDocument(doc: Record<string, unknown>): GroupMeta {
  const ids = doc.task_uuids;
  return {
    groupUUID: String(doc._id ?? ""),
    taskUUIDs: Array.isArray(ids) ? ids.map((x) => String(x)) : null,
    chordTriggered: doc.chord_triggered === true,
    lock: doc.lock === true,
    createdAt: goTimeOf(doc.created_at),
    ttl: int64Of(doc.ttl),
  };
}
