/**
 * OpenTelemetry spans for sends and task runs, made through the `@opentelemetry/api` object the
 * application passes in (`new Server({ tracing: api })`), so machinery itself never loads it:
 * without it, no span is made and nothing is loaded. Spans follow the OTel messaging
 * conventions: `send {queue}` (PRODUCER) and `process {queue}` (CONSUMER). The W3C ids travel in
 * `Signature.Headers`; they are written and read here rather than through the app's propagator,
 * so they travel whichever propagator the app installed.
 *
 * @module
 */
import type { Signature } from "../wire/signature.ts";
import {
  formatTraceparent,
  parentFromHeaders,
  parseTraceparent,
  TRACE_ORIGIN_HEADER,
  type TraceIds,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
} from "./trace_context.ts";

/** An OpenTelemetry `Context` (opaque here). */
export type OtelContext = unknown;

/** An OTel `TraceState`. */
export interface OtelTraceState {
  /** A copy with `key` set. */
  set(key: string, value: string): OtelTraceState;
  /** A copy without `key`. */
  unset(key: string): OtelTraceState;
  /** The value of `key`. */
  get(key: string): string | undefined;
  /** The `tracestate` header value. */
  serialize(): string;
}

/** The part of an OTel `SpanContext` machinery reads and makes. */
export interface OtelSpanContext extends TraceIds {
  /** True for a context that came from another process. */
  isRemote?: boolean;
  /** The vendor trace state. */
  traceState?: OtelTraceState;
}

/** The part of an OTel `Span` machinery uses. */
export interface OtelSpan {
  /** The span's ids. */
  spanContext(): OtelSpanContext;
  /** Sets an attribute. */
  setAttribute(key: string, value: string | number | boolean): unknown;
  /** Sets the status (`{ code: 2, message }` is ERROR). */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Ends the span. */
  end(): void;
}

/** The part of an OTel `Tracer` machinery uses. */
export interface OtelTracer {
  /** Starts a span under `context`. */
  startSpan(
    name: string,
    options: {
      kind: number;
      attributes: Record<string, string | number>;
      links?: { context: OtelSpanContext }[];
    },
    context?: OtelContext,
  ): OtelSpan;
}

/**
 * The part of the `@opentelemetry/api` module machinery uses: pass the module itself
 * (`import * as api from "@opentelemetry/api"`).
 */
export interface OtelApi {
  /** `api.trace`. */
  trace: {
    getTracer(name: string, version?: string): OtelTracer;
    setSpanContext(context: OtelContext, spanContext: OtelSpanContext): OtelContext;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
  };
  /** `api.context`. */
  context: {
    active(): OtelContext;
    with<F extends () => ReturnType<F>>(context: OtelContext, fn: F): ReturnType<F>;
  };
  /** `api.ROOT_CONTEXT`. */
  ROOT_CONTEXT: OtelContext;
  /** `api.createTraceState` (api 1.1 and later). */
  createTraceState?: (raw?: string) => OtelTraceState;
}

const PRODUCER = 3;
const CONSUMER = 4;
const ERROR = 2;

/** A running `process` span and the context to send callbacks under. */
export interface ProcessSpan {
  /** The span. */
  readonly span: OtelSpan;
  /** A context whose active span is `span`. */
  readonly context: OtelContext;
}

/** Makes machinery's spans through the application's OTel API. */
export class TaskTracing {
  readonly #api: OtelApi;
  readonly #tracer: OtelTracer;
  readonly #system: string;

  /** `system` is `messaging.system`: `redis`, `rabbitmq` or `memory`. */
  constructor(api: OtelApi, system: string) {
    this.#api = api;
    this.#tracer = api.trace.getTracer("machinery");
    this.#system = system;
  }

  /**
   * Starts the `send {queue}` span of `signature` under `parent` (default: the active context)
   * and writes its ids into the signature's headers; the caller ends it once published.
   */
  startSend(signature: Signature, parent?: OtelContext): OtelSpan {
    const queue = signature.routingKey;
    const span = this.#tracer.startSpan(`send ${queue}`, {
      kind: PRODUCER,
      attributes: this.#attributes(signature, "send"),
    }, parent ?? this.#api.context.active());
    const ids = span.spanContext();
    const headers = (signature.headers ??= {});
    headers[TRACEPARENT_HEADER] = formatTraceparent(ids);
    const state = ids.traceState?.serialize();
    if (state) headers[TRACESTATE_HEADER] = state;
    else delete headers[TRACESTATE_HEADER];
    return span;
  }

  /**
   * Starts the `process {queue}` span of a received task: a child of the sender's span when the
   * headers carry one (a W3C `traceparent`, or a Go sender's `uber-trace-id`), linked to the
   * task that sent it as a callback.
   */
  startProcess(signature: Signature, queue: string): ProcessSpan {
    const api = this.#api;
    const headers = signature.headers;
    const parentIds = parentFromHeaders(headers);
    let parent = api.ROOT_CONTEXT;
    if (parentIds) {
      const raw = headers?.[TRACESTATE_HEADER];
      const traceState = typeof raw === "string" && api.createTraceState
        ? api.createTraceState(raw)
        : undefined;
      parent = api.trace.setSpanContext(parent, { ...parentIds, isRemote: true, traceState });
    }
    const origin = parseTraceparent(headers?.[TRACE_ORIGIN_HEADER]);
    const span = this.#tracer.startSpan(`process ${queue}`, {
      kind: CONSUMER,
      attributes: this.#attributes(signature, "process", queue),
      links: origin ? [{ context: { ...origin, isRemote: true } }] : undefined,
    }, parent);
    return { span, context: api.trace.setSpan(parent, span) };
  }

  /**
   * Calls `fn` (the task) with `run`'s span active, so spans the task makes are its
   * children when the app installed a context manager (`NodeSDK` does).
   */
  within<T>(run: ProcessSpan, fn: () => T): T {
    return this.#api.context.with(run.context, fn);
  }

  /** Marks `callback` as sent by the task of `run`, so its `process` span links to it. */
  markOrigin(callback: Signature, run: ProcessSpan): void {
    (callback.headers ??= {})[TRACE_ORIGIN_HEADER] = formatTraceparent(
      run.span.spanContext(),
    );
  }

  /** Marks `span` failed with `error`'s message. */
  fail(span: OtelSpan, error: unknown): void {
    span.setStatus({
      code: ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  }

  #attributes(
    signature: Signature,
    operation: string,
    queue = signature.routingKey,
  ): Record<string, string> {
    return {
      "messaging.system": this.#system,
      "messaging.operation.type": operation,
      "messaging.operation.name": operation,
      "messaging.destination.name": queue,
      "messaging.message.id": signature.uuid,
      "machinery.task.name": signature.name,
    };
  }
}

/** `messaging.system` for a broker URL: `redis`, `rabbitmq`, or the scheme itself. */
export function messagingSystem(brokerURL: string): string {
  const scheme = brokerURL.slice(0, Math.max(0, brokerURL.indexOf(":"))).toLowerCase();
  if (scheme.startsWith("redis") || scheme === "rediss" || scheme === "sentinel") return "redis";
  if (scheme.startsWith("amqp")) return "rabbitmq";
  return scheme || "memory";
}
