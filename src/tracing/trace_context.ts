/**
 * Trace context in `Signature.Headers`: the W3C `traceparent` and `tracestate` keys, and the
 * OpenTracing (Jaeger) `uber-trace-id` key a Go sender's tracer may have written
 * (see `docs/wire.md#signature-headers-we-use`).
 *
 * @module
 */

/** The W3C trace context header. */
export const TRACEPARENT_HEADER = "traceparent";
/** The W3C vendor trace state header. */
export const TRACESTATE_HEADER = "tracestate";
/** The header Jaeger's OpenTracing tracer (Go machinery's usual one) injects. */
export const UBER_TRACE_ID_HEADER = "uber-trace-id";
/**
 * The `traceparent` of the task that sent this one as a callback or chord callback: its
 * `process` span links to it.
 */
export const TRACE_ORIGIN_HEADER = "machinery_ts_trace_origin";

/** The parts of a span context that travel between processes. */
export interface TraceIds {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** W3C trace flags (1: sampled). */
  traceFlags: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/** `00-{traceId}-{spanId}-{flags}`. */
export function formatTraceparent(ids: TraceIds): string {
  return `00-${ids.traceId}-${ids.spanId}-${(ids.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** The ids of a version-00 `traceparent`, or undefined when it is malformed or all zeros. */
export function parseTraceparent(value: unknown): TraceIds | undefined {
  if (typeof value !== "string") return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16) };
}

/**
 * The ids of a Jaeger `uber-trace-id` (`{trace}:{span}:{parent}:{flags}`, hex, leading zeros
 * optional; a 64-bit trace id is padded to 128 bits as Jaeger's W3C bridge does).
 */
export function parseUberTraceId(value: unknown): TraceIds | undefined {
  if (typeof value !== "string") return undefined;
  const parts = decodeURIComponent(value).split(":");
  if (parts.length !== 4) return undefined;
  const [trace, span, , flags] = parts;
  if (!/^[0-9a-f]{1,32}$/i.test(trace) || !/^[0-9a-f]{1,16}$/i.test(span)) return undefined;
  const traceId = trace.toLowerCase().padStart(32, "0");
  const spanId = span.toLowerCase().padStart(16, "0");
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const f = parseInt(flags, 16);
  return { traceId, spanId, traceFlags: Number.isNaN(f) ? 0 : f & 1 };
}

/** The parent a consumer continues: `traceparent` first, else a Go sender's `uber-trace-id`. */
export function parentFromHeaders(
  headers: Record<string, unknown> | null | undefined,
): TraceIds | undefined {
  if (!headers) return undefined;
  return parseTraceparent(headers[TRACEPARENT_HEADER]) ??
    parseUberTraceId(headers[UBER_TRACE_ID_HEADER]);
}
