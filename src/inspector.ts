/**
 * The inspection contract: what an operator (the CLI's `queues`, `pending`, `dead` … commands,
 * and a dashboard) can see and repair in a broker, whatever the technology. Each broker
 * folder implements it (`src/redis/inspector.ts`, `src/amqp/inspector.ts`); what a broker
 * cannot tell is `null` ("unknown") or an `InspectionUnsupportedError`, never a guess.
 *
 * Types only: this file imports nothing that talks to a server.
 *
 * @module
 */
import type { Signature } from "./wire/signature.ts";

/** The counts of one queue; `null` where the broker cannot tell. */
export interface QueueCounts {
  /** The queue name. */
  queue: string;
  /** Messages waiting to be taken. */
  ready: number | null;
  /** Messages held for a future ETA that will go to this queue. */
  delayed: number | null;
  /** Messages workers have taken and not settled (running or prefetched). */
  held: number | null;
  /** Messages set aside as dead letters. */
  dead: number | null;
}

/** A task message waiting in a queue or for its ETA. */
export interface QueuedTask {
  /** The queue it is on, or will go to. */
  queue: string;
  /** The decoded task, or `null` when the body is not a machinery task. */
  signature: Signature | null;
  /** The raw body (as the sender wrote it). */
  body: string;
  /** When it is due (delayed tasks), as an ISO 8601 string; otherwise `null`. */
  eta: string | null;
}

/** A message a worker set aside, with its reason. */
export interface DeadLetterRecord {
  /** The queue it came from (and goes back to when retried). */
  queue: string;
  /** The task UUID when the body decodes, else `null`. */
  uuid: string | null;
  /** The task name when the body decodes, else `null`. */
  name: string | null;
  /** Why it was set aside. */
  reason: string;
  /** When, as an ISO 8601 string, or `null` when not recorded. */
  rejectedAt: string | null;
  /** The body as kept (possibly cut, see `truncated`). */
  body: string;
  /** True when `body` is only the beginning of the message (it cannot be retried whole). */
  truncated: boolean;
}

/** Which dead letters an operation applies to: some task UUIDs, or all of them. */
export type DeadLetterSelection = { uuids: string[] } | { all: true };

/** Where a task's message is, when it can be found. */
export type MessageLocation =
  | { where: "queue"; queue: string }
  | { where: "delayed"; queue: string; eta: string | null }
  | { where: "held"; queue: string; consumer: string }
  | { where: "dead"; queue: string; reason: string }
  | { where: "unknown"; detail: string };

/** A page: `offset` messages skipped, at most `limit` returned (a range read, never a scan). */
export interface Page {
  /** Messages to skip from the oldest (default 0). */
  offset?: number;
  /** The most messages to return (default 20). */
  limit?: number;
}

/** What one worker announced in its last heartbeat. */
export interface WorkerInfo {
  /** Unique per worker process and worker: consumer tag, host, pid and a random part. */
  id: string;
  /** The consumer tag (`--name`). */
  name: string;
  /** The host name. */
  host: string;
  /** The process id. */
  pid: number;
  /** The queue it consumes. */
  queue: string;
  /** The most tasks it runs at once. */
  concurrency: number;
  /** Messages it is handling now. */
  running: number;
  /** Tasks it finished with success since it started. */
  processed: number;
  /** Tasks it finished with failure since it started. */
  failed: number;
  /** When it started, ISO 8601. */
  started: string;
  /** Its last heartbeat, ISO 8601. */
  lastHeartbeat: string;
}

/** Processed and failed counts of one task name over a time window. */
export interface TaskStats {
  /** The task name. */
  task: string;
  /** Finished with success. */
  processed: number;
  /** Finished with failure. */
  failed: number;
}

/** Reads and repairs a broker's queues. */
export interface Inspector {
  /** The counts of each queue given, or of the queues the broker knows about. */
  queues(queues?: string[]): Promise<QueueCounts[]>;
  /** A page of the tasks waiting in `queue`, oldest first. */
  pending(queue: string, page?: Page): Promise<QueuedTask[]>;
  /** A page of the tasks held for an ETA, earliest first. */
  delayed(page?: Page): Promise<QueuedTask[]>;
  /** A page of the dead letters of `queue`, oldest first. */
  deadLetters(queue: string, page?: Page): Promise<DeadLetterRecord[]>;
  /** Puts the selected dead letters' original bodies back on their queue; resolves to the count. */
  retryDeadLetters(queue: string, selection: DeadLetterSelection): Promise<number>;
  /** Deletes the selected dead letters; resolves to the count. */
  deleteDeadLetters(queue: string, selection: DeadLetterSelection): Promise<number>;
  /** Removes every waiting message of `queue`; resolves to the count removed. */
  purge(queue: string): Promise<number>;
  /** Where the message of task `uuid` is, looking in `queues`. */
  locate(uuid: string, queues: string[]): Promise<MessageLocation>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}

/** Where workers announce themselves and their counts (see `docs/wire.md`). */
export interface WorkerRegistry {
  /** Writes (or renews) a worker's entry, valid for `ttlMs`, and adds the finished-task deltas. */
  beat(info: WorkerInfo, ttlMs: number, finished: TaskStats[]): Promise<void>;
  /** Removes a worker's entry (a graceful stop). */
  remove(id: string): Promise<void>;
  /** The workers whose heartbeat has not expired. */
  workers(): Promise<WorkerInfo[]>;
  /** Processed and failed per task name over the last `minutes` minutes. */
  stats(minutes: number): Promise<TaskStats[]>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
