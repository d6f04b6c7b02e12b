/**
 * The domain errors. Each sets a literal `name` (minified binaries rename classes) and keeps
 * machinery's message text where Go clients may show it.
 *
 * @module
 */

/** `worker.launch()` after a second shutdown signal: running tasks were aborted. */
export class WorkerQuitAbruptlyError extends Error {
  /** Creates the error with machinery's text. */
  constructor() {
    super("Worker quit abruptly");
    this.name = "WorkerQuitAbruptlyError";
  }
}

/** `AsyncResult.get` gave up waiting. */
export class TimeoutReachedError extends Error {
  /** Creates the error with machinery's text. */
  constructor() {
    super("Timeout reached");
    this.name = "TimeoutReachedError";
  }
}

/** A task ended in FAILURE; `message` is the error string the worker stored. */
export class TaskFailedError extends Error {
  /** The UUID of the failed task. */
  readonly taskUUID: string;
  /** Creates the error from the stored state. */
  constructor(taskUUID: string, message: string) {
    super(message);
    this.name = "TaskFailedError";
    this.taskUUID = taskUUID;
  }
}

/** A task name that is not registered on this server. */
export class TaskNotRegisteredError extends Error {
  /** Creates the error with machinery's text. */
  constructor(taskName: string) {
    super(`Task not registered error: ${taskName}`);
    this.name = "TaskNotRegisteredError";
  }
}

/** A function that cannot be registered as a task. */
export class InvalidTaskError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidTaskError";
  }
}

/** The backend has no state for a task, or no meta for a group (yet, or any more). */
export class StateNotFoundError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "StateNotFoundError";
  }
}

/**
 * The backend has no metadata for a group (yet, or any more), or, for backends that keep no
 * metadata (AMQP), not all of its members' final states.
 */
export class GroupNotFoundError extends StateNotFoundError {
  /** The group's UUID. */
  readonly groupUUID: string;
  /** Creates the error; the message defaults to machinery's `Group not found: <uuid>`. */
  constructor(groupUUID: string, message = `Group not found: ${groupUUID}`) {
    super(message);
    this.name = "GroupNotFoundError";
    this.groupUUID = groupUUID;
  }
}

/** A broker or backend call failed; `cause` holds the driver's error. */
export class BackendError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BackendError";
  }
}

/** A send failed before the message reached the broker. */
export class SendError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SendError";
  }
}

/**
 * A call on something already closed: the server (machinery's text) or an adapter (a broker, a
 * backend, a lock, a connection), whose message names it.
 */
export class ClosedError extends Error {
  /** Creates the error; the message defaults to machinery's text for a stopped server. */
  constructor(message = "the server has been stopped") {
    super(message);
    this.name = "ClosedError";
  }
}

/** Text of an unknown thrown value, as machinery records it. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  return "Invoking task caused a panic";
}

/**
 * A task's UUID names a key the backend must not write: one of the broker's or backend's own
 * keys (a queue, `delayed_tasks`, `TriggerChordMutex`, anything under the key prefix), or a key
 * of another type (Redis `WRONGTYPE`). Writing would destroy that key, so the write is refused;
 * `reserved` says the name itself is refused, so no retry can succeed.
 */
export class KeyConflictError extends Error {
  /** True when the name is reserved; false when the key holds another type now. */
  readonly reserved: boolean;
  /** Creates the error. */
  constructor(message: string, reserved: boolean) {
    super(message);
    this.name = "KeyConflictError";
    this.reserved = reserved;
  }
}

/**
 * The broker cannot do this inspection (`src/inspector.ts`) without changing what it inspects,
 * such as listing a RabbitMQ queue, which would take the messages from the workers.
 */
export class InspectionUnsupportedError extends Error {
  /** Creates the error; the message says what is not possible and why. */
  constructor(message: string) {
    super(message);
    this.name = "InspectionUnsupportedError";
  }
}
