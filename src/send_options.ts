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
}
