/**
 * Options of one send (`Server.sendTask`).
 *
 * @module
 */
import type { OtelContext } from "./tracing/task_tracing.ts";

/** Options of one send. */
export interface SendOptions {
  /**
   * The OpenTelemetry context the `send` span is a child of (default: the active context);
   * only used when the server has `tracing`.
   */
  traceContext?: OtelContext;
  /**
   * Makes the task unique for this many ms (see `docs/architecture.md#unique-tasks`): until it
   * reaches a final state, or this window ends, a send with the same unique key enqueues nothing
   * and rejects with `DuplicateTaskError`.
   */
  uniqueFor?: number;
  /** The unique key (default: the task name and a SHA-256 of its encoded arguments). */
  uniqueKey?: string;
}
