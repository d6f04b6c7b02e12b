/**
 * machinery for Deno and Bun: a distributed task queue, wire-compatible with Go's
 * [machinery](https://github.com/RichardKnop/machinery). Senders put tasks on a broker; workers
 * run them and keep each task's state and results in a result backend. Go and TypeScript
 * senders and workers can share the same Redis or RabbitMQ.
 *
 * @example
 * ```ts
 * import { MemoryBackend, MemoryBroker, Server } from "@machinery/machinery";
 *
 * const server = new Server({ broker: new MemoryBroker(), backend: new MemoryBackend() });
 * const add = server.registerTask("add", (...args: number[]) => args.reduce((a, b) => a + b, 0));
 * const worker = server.newWorker("machinery_worker", 10);
 * const running = worker.launch();
 *
 * const result = await server.sendTask(add.signature(1, 1));
 * console.log(await result.get()); // [2]
 *
 * await worker.quit();
 * await running;
 * await server.close();
 * ```
 *
 * @module
 */
export { SENT_AT_HEADER } from "./src/metrics/wait_time.ts";
export type { SendOptions } from "./src/send_options.ts";
export { Server, type ServerOptions, type TaskRef, type TypedSignature } from "./src/server.ts";
export { Worker, type WorkerHost, type WorkerOptions } from "./src/worker.ts";
export { AsyncResult, ChainAsyncResult, ChordAsyncResult, type GetOptions } from "./src/result.ts";
export {
  type Chain,
  type Chord,
  type Group,
  newChain,
  newChord,
  newGroup,
} from "./src/workflow.ts";
export {
  type Arg,
  copySignature,
  etaFromDate,
  newChordUUID,
  newGroupUUID,
  newSignature,
  newTaskUUID,
  type Signature,
} from "./src/wire/signature.ts";
export {
  FAILURE,
  type GroupMeta,
  PENDING,
  RECEIVED,
  RETRY,
  STARTED,
  type StateName,
  SUCCESS,
  type TaskResult,
  type TaskState,
} from "./src/wire/state.ts";
export { type ScalarTypeName, type SliceTypeName, type TypeName } from "./src/wire/types.ts";
export {
  type AnyFunction,
  type ContextTask,
  Results,
  results,
  type TaskArgs,
  type TaskContext,
  type TaskDefinition,
  type TaskFunction,
  type TaskOptions,
  type TaskResultValues,
  type TaskSpec,
  Typed,
  typed,
  withContext,
} from "./src/task.ts";
export { CallArgsError, type ParamType, type TaskParams } from "./src/task_params.ts";
export { retryLater, RetryTaskLaterError } from "./src/retry.ts";
export { DuplicateTaskError, type UniqueLocks } from "./src/unique.ts";
export {
  parseRateLimit,
  type RateLimit,
  type RateLimiter,
  RateLimitError,
} from "./src/rate_limit.ts";
export {
  DEADLINE_HEADER,
  EXPIRED_TEXT,
  EXPIRES_HEADER,
  setTaskDeadline,
  setTaskExpiry,
  setTaskTimeout,
  TaskAbortedError,
  TIMEOUT_HEADER,
} from "./src/task_deadline.ts";
export {
  CANCELLED_TEXT,
  type CancelOptions,
  CancelUnsupportedError,
  DEFAULT_CANCEL_MARK_MS,
} from "./src/cancel.ts";
export {
  BackendError,
  ClosedError,
  GroupNotFoundError,
  InspectionUnsupportedError,
  InvalidTaskError,
  KeyConflictError,
  SendError,
  StateNotFoundError,
  TaskFailedError,
  TaskNotRegisteredError,
  TimeoutReachedError,
  WorkerQuitAbruptlyError,
} from "./src/errors.ts";
export {
  type AMQPConfig,
  type Config,
  ConfigError,
  configFromEnv,
  configFromYaml,
  type ConfigInput,
  defaultConfig,
  type RedisConfig,
  resolveConfig,
} from "./src/config.ts";
export type { Backend } from "./src/backend.ts";
export type { AdapterOptions } from "./src/adapter_options.ts";
export { StateWriter } from "./src/state_writer.ts";
export type { Broker, ConsumeOptions, Delivery, QueueDepth } from "./src/broker.ts";
export {
  backendFromURL,
  brokerFromURL,
  inspectorFromURL,
  lockFromURL,
  registryFromURL,
  registryURL,
} from "./src/from_url.ts";
export type {
  DeadLetterRecord,
  DeadLetterSelection,
  Inspector,
  MessageLocation,
  Page,
  QueueCounts,
  QueuedTask,
  TaskStats,
  WorkerInfo,
  WorkerRegistry,
} from "./src/inspector.ts";
export { TaskCounters } from "./src/worker_heartbeat.ts";
export { type DeadLetter, MemoryBroker, type MemoryBrokerOptions } from "./src/memory/broker.ts";
export { MemoryBackend, type MemoryBackendOptions } from "./src/memory/backend.ts";
export {
  consoleLogger,
  type LogFields,
  type Logger,
  type LogLevel,
  logSafe,
  silentLogger,
} from "./src/log.ts";
export { createLogger, isLogLevel, type LogFormat, type LoggerOptions } from "./src/log_format.ts";
export {
  type LogCategory,
  logtapeFormatter,
  logtapeLogger,
  type LogTapeRecord,
} from "./src/logtape.ts";
export { Histogram } from "./src/metrics/prometheus.ts";
export { inspectorDepthSampler } from "./src/metrics/inspector_depth.ts";
export type { HttpServer } from "./src/http/serve.ts";
export type { TraceIds } from "./src/tracing/trace_context.ts";
export {
  Metrics,
  type QueueDepthSampler,
  QueueMetrics,
  type TaskOutcome,
  TaskSeries,
} from "./src/metrics/worker_metrics.ts";
export type {
  OtelApi,
  OtelContext,
  OtelSpan,
  OtelSpanContext,
  OtelTracer,
  OtelTraceState,
  ProcessSpan,
  TaskTracing,
} from "./src/tracing/task_tracing.ts";
export type { Lock } from "./src/lock.ts";
export { MemoryLock, type MemoryLockOptions } from "./src/memory/lock.ts";
export { CronSpecError, parseSchedule, type Schedule } from "./src/periodic/schedule.ts";
export {
  type PeriodicDefinition,
  type PeriodicEntry,
  type PeriodicKind,
  type PeriodicSender,
  Scheduler,
  type SchedulerOptions,
  type TickEvent,
} from "./src/periodic/scheduler.ts";
export { scheduleFromFlag, schedulesFromConfig, schedulesFromYaml } from "./src/periodic/config.ts";
