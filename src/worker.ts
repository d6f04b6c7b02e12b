/**
 * The Worker: takes messages from the broker and processes them in machinery's order
 * (see `docs/architecture.md#the-path-of-one-task`):
 * RECEIVED, STARTED, the call, then SUCCESS with callbacks and chords, RETRY, or FAILURE.
 * Bad messages are set aside with a reason; no good message is lost.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Broker, Delivery } from "./broker.ts";
import type { Config } from "./config.ts";
import type { LogFields, Logger } from "./log.ts";
import { decodeSignature, encodeSignature, type Signature } from "./wire/signature.ts";
import { isFailure, isSuccess, type TaskResult } from "./wire/state.ts";
import { ArgsError, decodeArgs, invokeTask, type TaskDefinition } from "./task.ts";
import { fibonacciNext, RetryTaskLaterError } from "./retry.ts";
import { errorText, KeyConflictError, WorkerQuitAbruptlyError } from "./errors.ts";
import { UnsupportedTypeError, UnsupportedValueError } from "./wire/json.ts";
import { etaFromDate } from "./wire/signature.ts";
import { humanReadableResults } from "./wire/state.ts";
import { hardwareConcurrency, onShutdownSignals } from "./runtime.ts";
import { redactPassword } from "./urls.ts";
import { type ReleaseSlot, RunSlots } from "./run_slots.ts";
import type { WorkerRegistry } from "./inspector.ts";
import { TaskCounters, WorkerHeartbeat } from "./worker_heartbeat.ts";
import { logSafe } from "./log.ts";
import {
  Metrics,
  type QueueDepthSampler,
  type QueueMetrics,
  type TaskOutcome,
} from "./metrics/worker_metrics.ts";
import type { HttpServer } from "./http/serve.ts";
import type { ProcessSpan, TaskTracing } from "./tracing/task_tracing.ts";
import type { SendOptions } from "./send_options.ts";
import { waitSeconds } from "./metrics/wait_time.ts";
import { refusalToStart, runLimits, type TaskAbortedError } from "./task_deadline.ts";
import { DeadlineTimers } from "./deadline_timers.ts";
import {
  CANCELLED_TEXT,
  cancelledError,
  CancelMarks,
  isCancellation,
  recordCancelled,
} from "./cancel.ts";
import { ABANDONED, TaskRun } from "./task_run.ts";
import { RateGate } from "./rate_gate.ts";
import { sleep } from "./sleep.ts";
import { releaseUnique, UNIQUE_KEY_HEADER, uniqueLocksOf } from "./unique.ts";

/** Options for a worker. */
export interface WorkerOptions {
  /** Listen for SIGINT/SIGTERM (default: unless the config says `noUnixSignals`). */
  handleSignals?: boolean;
  /**
   * Messages held beyond the running tasks (default: twice the concurrency), so that a task
   * whose slot frees starts without waiting for a fetch, and the broker's round trips overlap
   * with the work. They stay in the broker's care (unacked, or in a processing hash), and a
   * graceful stop gives back the ones that have not started. 0 holds no more than it runs.
   */
  prefetch?: number;
  /**
   * Where the worker announces itself and its counts every few seconds (`machinery workers`,
   * `machinery stats`); none by default. The worker closes it when it stops.
   */
  registry?: WorkerRegistry;
  /** How long the registry entry outlives the last heartbeat, in ms (15,000); beats every third. */
  heartbeatTtlMs?: number;
  /** The host name shown in the registry (the CLI passes the machine's; default "unknown"). */
  host?: string;
  /** The process id shown in the registry (the CLI passes its own; default 0). */
  pid?: number;
  /**
   * Prometheus metrics (see `docs/architecture.md#operating-a-worker`): `true` for a registry of
   * the worker's own, or a `Metrics` shared by several workers. Read them with
   * `worker.metrics.text()` or serve them with `metricsPort`. Off by default, and then free.
   */
  metrics?: Metrics | boolean;
  /** Serves `/metrics`, `/healthz` and `/readyz` on this port while the worker runs (0: any). */
  metricsPort?: number;
  /** The address the metrics server listens on (default `0.0.0.0`). */
  metricsHostname?: string;
  /**
   * Counts the queue for `machinery_queue_depth` (default: the broker's `queueDepth`, when it
   * has one); called every `queueDepthIntervalMs` (default 5 s), never per task.
   */
  queueDepthSampler?: QueueDepthSampler;
  /** How often the queue depth is sampled, in ms (default 5000). */
  queueDepthIntervalMs?: number;
  /**
   * How long a task whose signal fired (a timeout, a deadline, a cancellation) may take to stop
   * before its run slot is freed and its outcome recorded anyway; its late result is then
   * discarded and logged (default 5000 ms).
   */
  abortGraceMs?: number;
  /**
   * Rate limits by task name (`{ add: "100/s" }`, see `parseRateLimit`), over those given at
   * registration. Shared by every worker on the same Redis broker, or Redis result backend.
   */
  rateLimits?: Record<string, string>;
}

/**
 * What a worker needs from its server (a `Server` is one): the configuration, the logger, the
 * broker and backend, the registered tasks, and a way to send retries and callbacks.
 */
export interface WorkerHost {
  /** The resolved configuration (default queue, signal handling, URLs for the start banner). */
  readonly config: Config;
  /** Where the worker logs. */
  readonly logger: Logger;
  /** The broker it consumes. */
  readonly broker: Broker;
  /** The backend it records states in. */
  readonly backend: Backend;
  /** True when `name` is registered. */
  isTaskRegistered(name: string): boolean;
  /** The registered task; throws `TaskNotRegisteredError` when there is none. */
  getRegisteredTask(name: string): TaskDefinition;
  /** Writes PENDING and publishes (retries, callbacks, chord callbacks). */
  sendTask(signature: Signature, options?: SendOptions): Promise<unknown>;
  /** Makes `process` spans when the application passed its OpenTelemetry API. */
  readonly tracing?: TaskTracing;
}

const MAX_REQUEUE_DELAY_MS = 30_000;
/**
 * The header that counts how often a message was given back (an unknown task, a state that
 * could not be written), so its back-off grows with the message itself, for any number of
 * messages and across workers.
 */
export const REQUEUES_HEADER = "machinery_ts_requeues";
/** A task whose state key holds another type is set aside after this many tries. */
const MAX_KEY_CONFLICT_TRIES = 3;
/**
 * Once a chord's trigger is taken no other run can send its callback, so sending it is retried
 * in place (1 s, 2 s, 4 s … at most 30 s apart) this many times before the message is given back.
 */
const CHORD_CALLBACK_ATTEMPTS = 10;
/** A consume that ran this long before it failed had recovered: the back-off starts over. */
const RECOVERED_AFTER_MS = 10_000;

/** Processes tasks from one queue with a bounded concurrency. */
export class Worker {
  /** The server whose tasks and backend it uses. */
  readonly server: WorkerHost;
  /** The consumer tag (the AMQP consumer tag; Redis ignores it). */
  readonly consumerTag: string;
  /** The most tasks running at once. */
  readonly concurrency: number;
  /** Messages held beyond the running tasks. */
  readonly prefetch: number;
  readonly #customQueue: string;
  readonly #handleSignals: boolean;
  #errorHandler?: (error: Error) => void;
  #preTaskHandler?: (signature: Signature) => void;
  #postTaskHandler?: (signature: Signature) => void;
  #stopFetching = new AbortController();
  #abortTasks = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #slots: RunSlots;
  #launched?: Promise<void>;
  #abrupt = false;
  readonly #options: WorkerOptions;
  /** Finished tasks by name, read by the heartbeat (a Map update per task, no I/O). */
  readonly counters: TaskCounters = new TaskCounters();
  #consuming = false;
  readonly #metrics?: Metrics;
  readonly #queueMetrics?: QueueMetrics;
  #metricsServer?: Promise<HttpServer>;
  readonly #abortGraceMs: number;
  /** One timer for every run's timeout or deadline. */
  readonly #deadlines = new DeadlineTimers();
  /** Cancellations heard of; `#running` is kept only while they are watched. */
  readonly #cancelMarks = new CancelMarks();
  #running?: Map<string, TaskRun>;
  readonly #rateGate: RateGate;

  /** Use `server.newWorker` or `server.newCustomQueueWorker`. */
  constructor(
    server: WorkerHost,
    consumerTag: string,
    concurrency: number,
    customQueue: string,
    options: WorkerOptions = {},
  ) {
    this.server = server;
    this.consumerTag = consumerTag;
    this.concurrency = concurrency > 0 ? concurrency : 2 * hardwareConcurrency();
    this.prefetch = Math.max(0, Math.floor(options.prefetch ?? 2 * this.concurrency));
    this.#slots = new RunSlots(this.concurrency);
    // Stopping: prefetched messages waiting for a slot are given back, not run.
    this.#stopFetching.signal.addEventListener("abort", () => this.#slots.close(), { once: true });
    this.#customQueue = customQueue;
    this.#handleSignals = options.handleSignals ?? !server.config.noUnixSignals;
    this.#rateGate = new RateGate(server, options.rateLimits ?? {}, this.#stopFetching.signal);
    this.#options = options;
    this.#abortGraceMs = Math.max(0, options.abortGraceMs ?? 5000);
    if (options.metrics || options.metricsPort !== undefined) {
      this.#metrics = options.metrics instanceof Metrics ? options.metrics : new Metrics();
      this.#queueMetrics = this.#metrics.queue(this.queue());
    }
  }

  /** The worker's metrics registry, when metrics are on (`metrics` or `metricsPort`). */
  get metrics(): Metrics | undefined {
    return this.#metrics;
  }

  /** True while the worker consumes from its broker (what `/readyz` answers). */
  get consuming(): boolean {
    return this.#consuming;
  }

  /**
   * The metrics server once it listens (with the port it got), while the worker runs with
   * `metricsPort`; undefined otherwise.
   */
  get metricsServer(): Promise<HttpServer> | undefined {
    return this.#metricsServer;
  }

  /** The custom queue, or `""` for the default queue. */
  customQueue(): string {
    return this.#customQueue;
  }

  /** The queue this worker consumes. */
  queue(): string {
    return this.#customQueue || this.server.config.defaultQueue;
  }

  /** Called with a task's final error instead of logging it, and with broker errors. */
  setErrorHandler(handler: (error: Error) => void): void {
    this.#errorHandler = handler;
  }

  /** Called after STARTED, just before the task runs. */
  setPreTaskHandler(handler: (signature: Signature) => void): void {
    this.#preTaskHandler = handler;
  }

  /** Called after the task's outcome is recorded and its callbacks are sent. */
  setPostTaskHandler(handler: (signature: Signature) => void): void {
    this.#postTaskHandler = handler;
  }

  /** Messages being handled now: running, prefetched (waiting for a run slot), or recording. */
  get activeTasks(): number {
    return this.#inFlight.size;
  }

  /**
   * Consumes until `quit()` (or a first SIGINT/SIGTERM), then waits for running tasks and
   * resolves. `abort()` (or a second signal) rejects it with `WorkerQuitAbruptlyError`.
   */
  launch(): Promise<void> {
    this.#launched ??= this.#run();
    return this.#launched;
  }

  /** Stops taking messages, waits for running tasks, and resolves when the worker has stopped. */
  async quit(): Promise<void> {
    this.#stopFetching.abort();
    if (this.#launched) await this.#launched.catch(() => {});
  }

  /** Stops at once: running tasks see their signal aborted and their messages are not acked. */
  abort(): void {
    this.#abrupt = true;
    this.#stopFetching.abort();
    this.#abortTasks.abort(new WorkerQuitAbruptlyError());
  }

  async #run(): Promise<void> {
    const { config, logger } = this.server;
    logger.info("Launching a worker with the following settings:");
    logger.info(`- Broker: ${shownURL(this.server.broker.url)}`);
    logger.info(
      this.#customQueue
        ? `- CustomQueue: ${this.#customQueue}`
        : `- DefaultQueue: ${config.defaultQueue}`,
    );
    logger.info(`- ResultBackend: ${shownURL(this.server.backend.url)}`);
    const removeSignals = this.#handleSignals ? this.#listenForSignals() : () => {};
    // A metrics port that cannot be bound fails the launch before anything else has started.
    const stopMetrics = await this.#startMetrics();
    const stopHeartbeat = this.#startHeartbeat();
    const stopWatching = new AbortController();
    try {
      // Before the first message: a task cancelled earlier must be known before it can start.
      await this.#watchCancellations(stopWatching.signal);
      await this.#consumeUntilStopped();
      if (!this.#abrupt) await this.#drain();
    } finally {
      stopWatching.abort();
      this.#deadlines.clear();
      removeSignals();
      await stopHeartbeat();
      await stopMetrics();
    }
    if (this.#abrupt) throw new WorkerQuitAbruptlyError();
  }

  /** Announces the worker in its registry, if it has one; returns what stops and removes it. */
  #startHeartbeat(): () => Promise<void> {
    const { registry, heartbeatTtlMs = 15_000, host = "unknown", pid = 0 } = this.#options;
    if (!registry) return () => Promise.resolve();
    const id = `${this.consumerTag}@${host}:${pid}:${crypto.randomUUID().slice(0, 8)}`;
    const started = new Date().toISOString();
    const heartbeat = new WorkerHeartbeat({
      registry,
      counters: this.counters,
      ttlMs: heartbeatTtlMs,
      snapshot: () => ({
        id,
        name: this.consumerTag,
        host,
        pid,
        queue: this.queue(),
        concurrency: this.concurrency,
        running: this.#inFlight.size,
        processed: this.counters.processed,
        failed: this.counters.failed,
        started,
      }),
      onError: (error) =>
        this.server.logger.warn(
          `Worker heartbeat failed: ${error.message} (said once until a beat succeeds)`,
        ),
      onRecovered: (failedBeats) =>
        this.server.logger.info(`Worker heartbeat recovered after ${failedBeats} failed beats`),
    });
    heartbeat.start();
    return async () => {
      await heartbeat.stop(id);
      await registry.close().catch(() => {});
    };
  }

  /** Starts the depth sampling and the metrics server, if asked; resolves with their stop. */
  async #startMetrics(): Promise<() => Promise<void>> {
    const metrics = this.#metrics;
    if (!metrics) return () => Promise.resolve();
    metrics.concurrency += this.concurrency;
    const broker = this.server.broker;
    const sampler = this.#options.queueDepthSampler ?? broker.queueDepth?.bind(broker);
    const stopSampling = sampler
      ? metrics.sampleQueueDepth(this.queue(), sampler, this.#options.queueDepthIntervalMs)
      : () => {};
    if (this.#options.metricsPort !== undefined) {
      const { serveMetrics } = await import("./http/metrics_server.ts");
      this.#metricsServer = serveMetrics(
        { port: this.#options.metricsPort, hostname: this.#options.metricsHostname },
        metrics,
        () => this.#consuming,
      );
      const { port } = await this.#metricsServer;
      this.server.logger.info(`Serving /metrics, /healthz and /readyz on port ${port}`);
    }
    return async () => {
      stopSampling();
      metrics.concurrency -= this.concurrency;
      await (await this.#metricsServer)?.close();
      this.#metricsServer = undefined;
    };
  }

  #listenForSignals(): () => void {
    let count = 0;
    return onShutdownSignals((signal) => {
      count++;
      if (count === 1) {
        this.server.logger.warn(`Signal received: ${signal}`);
        this.server.logger.warn("Waiting for running tasks to finish before shutting down");
        this.#stopFetching.abort();
      } else {
        this.abort();
      }
    });
  }

  /** Listens for cancellations when the broker offers them; without, tasks run as before. */
  async #watchCancellations(signal: AbortSignal): Promise<void> {
    const broker = this.server.broker;
    if (!broker.watchCancellations) return;
    try {
      await broker.watchCancellations((uuid, until) => {
        this.#cancelMarks.add(uuid, until);
        this.#running?.get(uuid)?.abort(cancelledError());
      }, signal);
      this.#running = new Map();
    } catch (error) {
      this.#reportBrokerError(error);
      this.server.logger.warn("Cancellations are not watched: cancelled tasks may still run");
    }
  }

  async #consumeUntilStopped(): Promise<void> {
    let backoffSeconds = 0;
    while (!this.#stopFetching.signal.aborted) {
      const began = Date.now();
      let delivered = false;
      try {
        await this.server.broker.consume(
          {
            queue: this.queue(),
            capacity: this.concurrency + this.prefetch,
            consumerTag: this.consumerTag,
            signal: this.#stopFetching.signal,
            onConsuming: (consuming) => {
              this.#consuming = consuming;
            },
          },
          (delivery) => {
            delivered = true;
            // Never rejects: a failed broker call (ack/requeue) is reported, and the broker
            // redelivers the message later.
            this.#track(
              this.#handleDelivery(delivery).catch((error) => this.#reportBrokerError(error)),
            );
          },
        );
        this.#consuming = false;
        backoffSeconds = 0;
      } catch (error) {
        this.#consuming = false;
        this.#reportBrokerError(error);
        // A consume that got going (it delivered, or it lasted) ended a run of failures: the
        // back-off starts over, so outages far apart do not add up (Go's never resets).
        if (delivered || Date.now() - began >= RECOVERED_AFTER_MS) backoffSeconds = 0;
        backoffSeconds = fibonacciNext(backoffSeconds);
        this.server.logger.warn(`Retrying in ${backoffSeconds} seconds`);
        await sleep(backoffSeconds * 1000, this.#stopFetching.signal);
      }
    }
  }

  #reportBrokerError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.#errorHandler) this.#errorHandler(err);
    else this.server.logger.warn(`Broker failed with error: ${logSafe(err.message)}`);
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    work.finally(() => this.#inFlight.delete(work));
  }

  async #drain(): Promise<void> {
    const abortedTasks = aborted(this.#abortTasks.signal);
    while (this.#inFlight.size > 0 && !this.#abrupt) {
      await Promise.race([...this.#inFlight, abortedTasks]);
    }
  }

  async #handleDelivery(delivery: Delivery): Promise<void> {
    const { config, logger } = this.server;
    const body = delivery.body;
    // The limit is in bytes (UTF-8, as on the wire); a body of up to a third of it in
    // characters cannot exceed it, so most bodies are never counted. A broker that measured
    // a body over its limit gives only its size and first bytes.
    const size = delivery.oversizeBytes ??
      (body.length * 3 > config.maxMessageBytes ? utf8Length(body) : 0);
    if (size > config.maxMessageBytes || delivery.oversizeBytes !== undefined) {
      const reason =
        `Message of ${size} bytes exceeds the limit of ${config.maxMessageBytes} bytes`;
      logger.error(logSafe(`${reason}: set aside (${preview(body)})`));
      await this.#recordBadMessage(body, reason);
      this.#count("", "dead");
      await delivery.reject(reason);
      return;
    }
    let signature: Signature;
    try {
      signature = decodeSignature(body);
    } catch (error) {
      const reason = `Could not unmarshal '${preview(body)}' into a task signature: ${
        errorText(error)
      }`;
      logger.error(logSafe(reason));
      await this.#recordBadMessage(body, reason);
      this.#count("", "dead");
      await delivery.reject(reason);
      return;
    }
    if (signature.name === "") {
      // No worker can ever run a task without a name (`{}`, `null`): set it aside, do not loop.
      const reason = `Message '${preview(body)}' names no task`;
      logger.error(logSafe(reason));
      await this.#recordBadMessage(body, reason);
      this.#count("", "dead");
      await delivery.reject(reason);
      return;
    }
    if (
      signature.uuid !== "" &&
      (signature.uuid === this.queue() || signature.uuid === signature.routingKey)
    ) {
      // A state written under it would turn the queue into a string: refuse before any write.
      const reason = `Task UUID "${signature.uuid}" names a queue; refused`;
      logger.error(logSafe(reason));
      this.#count(signature.name, "dead");
      await delivery.reject(reason);
      return;
    }
    if (!this.server.isTaskRegistered(signature.name)) {
      await this.#handleUnregistered(delivery, signature);
      return;
    }
    if (this.#abortTasks.signal.aborted) return; // quitting abruptly: leave it to the broker
    // Over its rate limit, it waits without a run slot, or goes back until its reserved start.
    if (
      this.#rateGate.limits(signature.name) && !(await this.#rateGate.admit(delivery, signature))
    ) {
      return;
    }
    const release = await this.#slots.acquire();
    if (!release) {
      // Prefetched, and the worker is stopping: it has not started, so it goes back.
      if (!this.#abortTasks.signal.aborted) await delivery.requeue(0);
      return;
    }
    let recorded: boolean;
    try {
      // Prefetched, and the broker gave it back meanwhile (a lapsed lease): it runs elsewhere.
      if (!(await this.#mayRecord(delivery))) return;
      recorded = await this.#process(signature, release, delivery);
    } catch (error) {
      if (this.#abortTasks.signal.aborted) return;
      // The outcome or a follow-up (a retry, a callback) is not durably recorded: the message
      // goes back and the task runs again later (at-least-once), rather than being acked.
      this.#reportBrokerError(error);
      const conflict = keyConflict(error);
      if (conflict && (conflict.reserved || requeues(signature) + 1 >= MAX_KEY_CONFLICT_TRIES)) {
        // Its state can never be written: set it aside rather than loop.
        this.#count(signature.name, "dead");
        await delivery.reject(errorText(error));
        return;
      }
      // The run may have changed the signature (a retry's count and ETA, callback arguments):
      // what goes back is the message as it came, with its requeue count.
      await this.#requeueWithBackoff(delivery, decodeSignature(body));
      return;
    } finally {
      release();
    }
    // Given back by the broker, or quitting abruptly: not ours to settle.
    if (!recorded || this.#abortTasks.signal.aborted) return;
    await delivery.ack();
  }

  /**
   * False once the worker quits abruptly, or the broker gave the delivery back to be taken
   * again (a consumer whose lease lapsed): then nothing is recorded and nothing settled.
   */
  async #mayRecord(delivery?: Delivery): Promise<boolean> {
    if (this.#abortTasks.signal.aborted) return false;
    if (delivery?.stillHeld && !(await delivery.stillHeld())) {
      this.server.logger.warn(
        `The broker gave a message back while this worker held it; dropping this copy`,
      );
      return false;
    }
    return !this.#abortTasks.signal.aborted;
  }

  async #handleUnregistered(delivery: Delivery, signature: Signature): Promise<void> {
    if (signature.ignoreWhenTaskNotRegistered) {
      this.server.logger.warn(
        `Task not registered with this worker. Dropping message: ${logSafe(signature.uuid)}`,
      );
      await delivery.ack();
      return;
    }
    const delay = await this.#requeueWithBackoff(delivery, signature);
    this.server.logger.warn(
      `Task not registered with this worker: "${logSafe(signature.name)}". Requeuing message ${
        logSafe(signature.uuid)
      } in ${delay} ms`,
    );
  }

  /**
   * Gives a message back after an exponential back-off (1 s, 2 s … 30 s), so unknown tasks
   * never loop hot. The count travels in the message's `machinery_ts_requeues` header, so the
   * delay holds for any number of messages and whichever worker takes it next. Resolves with
   * the delay in ms.
   */
  async #requeueWithBackoff(delivery: Delivery, signature: Signature): Promise<number> {
    const count = requeues(signature) + 1;
    const delay = Math.min(MAX_REQUEUE_DELAY_MS, 1000 * 2 ** Math.min(count - 1, 30));
    let body: string | undefined;
    try {
      signature.headers = { ...signature.headers, [REQUEUES_HEADER]: count };
      body = encodeSignature(signature);
    } catch {
      body = undefined; // given back as it came, with the delay of this try
    }
    await delivery.requeue(delay, body);
    return delay;
  }

  /** A message that cannot run: record FAILURE under its UUID when one can be found. */
  async #recordBadMessage(body: string, reason: string): Promise<void> {
    const uuid = findUUID(body);
    if (!uuid) return;
    try {
      const sig = decodeSignature(JSON.stringify({ UUID: uuid, Name: findName(body) ?? "" }));
      const backend = this.server.backend;
      // FAILURE keeps the stored state's TaskName and CreatedAt; with none stored (a sender
      // that wrote no PENDING, an expired state), write PENDING first so they are real.
      const stored = await backend.getState(uuid).catch(() => undefined);
      if (stored === undefined || stored.taskName === "") await backend.setStatePending(sig);
      await backend.setStateFailure(sig, reason);
    } catch (error) {
      this.#reportBrokerError(error);
    }
  }

  /**
   * Processes one decoded signature in machinery's order (see
   * `docs/architecture.md#the-path-of-one-task`). Rejects only for backend errors; task errors are
   * recorded as RETRY or FAILURE.
   */
  async process(signature: Signature): Promise<void> {
    await this.#process(signature, () => {});
  }

  /**
   * `process`, giving the run slot back as soon as the task function is done. Resolves true
   * once the outcome is recorded and its follow-ups sent, false when it recorded nothing because
   * the worker quit abruptly or `delivery` was given back meanwhile.
   */
  async #process(
    signature: Signature,
    releaseSlot: ReleaseSlot,
    delivery?: Delivery,
  ): Promise<boolean> {
    const def = this.server.isTaskRegistered(signature.name)
      ? this.server.getRegisteredTask(signature.name)
      : undefined;
    if (!def) return true;
    const tracing = this.server.tracing;
    if (!tracing) return this.#processTraced(def, signature, releaseSlot, delivery);
    const trace = tracing.startProcess(signature, this.queue());
    try {
      return await this.#processTraced(def, signature, releaseSlot, delivery, trace);
    } catch (error) {
      tracing.fail(trace.span, error);
      throw error;
    } finally {
      trace.span.end();
    }
  }

  /** `#process` inside the task's `process` span, when tracing. */
  async #processTraced(
    def: TaskDefinition,
    signature: Signature,
    releaseSlot: ReleaseSlot,
    delivery?: Delivery,
    trace?: ProcessSpan,
  ): Promise<boolean> {
    const { backend } = this.server;
    // Decoding is pure, so it comes first: with good arguments, a backend that can write
    // RECEIVED and STARTED in one step does (one round trip instead of two).
    let values: unknown[] | undefined;
    let argsError: ArgsError | undefined;
    try {
      values = decodeArgs(signature.args);
    } catch (error) {
      if (!(error instanceof ArgsError)) throw error;
      argsError = error;
    }
    const refusal = this.#refusalToStart(signature);
    if (refusal) {
      this.server.logger.warn(`Task ${logSafe(signature.uuid)} not started: ${refusal.message}`);
      await this.#taskFailed(signature, refusal, trace);
      return true;
    }
    const both = values !== undefined && backend.setStateReceivedAndStarted !== undefined;
    try {
      await (both
        ? backend.setStateReceivedAndStarted!(signature)
        : backend.setStateReceived(signature));
    } catch (error) {
      throw stateNotWritten("received", signature, error);
    }
    if (argsError) {
      await this.#taskFailed(signature, argsError, trace);
      return true;
    }
    if (!both) {
      try {
        await backend.setStateStarted(signature);
      } catch (error) {
        throw stateNotWritten("started", signature, error);
      }
    }
    this.#callHook(this.#preTaskHandler, signature);
    if (this.server.logger.verbose !== false) {
      this.server.logger.debug(
        `Started task ${logSafe(signature.uuid)} (${logSafe(signature.name)})`,
        taskFields(signature),
      );
    }
    try {
      return await this.#runTask(def, signature, values!, releaseSlot, delivery, trace);
    } finally {
      this.#callHook(this.#postTaskHandler, signature);
    }
  }

  /** A user hook that throws is reported; it must not send the message round again. */
  #callHook(hook: ((signature: Signature) => void) | undefined, signature: Signature): void {
    try {
      hook?.(signature);
    } catch (error) {
      this.#reportBrokerError(error);
    }
  }

  /** Why the task must not start: it was cancelled, or its expiry or deadline passed. */
  #refusalToStart(signature: Signature): TaskAbortedError | undefined {
    const now = Date.now();
    if (this.#cancelMarks.has(signature.uuid, now)) return cancelledError();
    return refusalToStart(signature, now);
  }

  /**
   * Calls the task and records its outcome. With a timeout or deadline, or while cancellations
   * are watched, the call runs as a `TaskRun` whose signal can fire: then the task has
   * `abortGraceMs` to stop, its slot is freed, the abort is recorded (FAILURE, or a retry for a
   * timeout with retries left) and a late result is only logged. Without, nothing is added.
   */
  async #runTask(
    def: TaskDefinition,
    signature: Signature,
    values: unknown[],
    releaseSlot: ReleaseSlot,
    delivery?: Delivery,
    trace?: ProcessSpan,
  ): Promise<boolean> {
    const limits = runLimits(signature, def.options.timeout, Date.now());
    const run = limits || this.#running ? this.#startRun(signature, limits) : undefined;
    const metrics = this.#metrics;
    const series = this.#queueMetrics?.series(signature.name);
    let started = 0;
    if (series) {
      started = performance.now();
      const wait = waitSeconds(signature);
      if (wait !== undefined) series.wait.observe(wait);
      metrics!.running++;
    }
    const done = () => {
      if (run) this.#endRun(run, signature.uuid);
      releaseSlot();
      if (series) {
        metrics!.running--;
        series.duration.observe((performance.now() - started) / 1000);
      }
    };
    let results: TaskResult[];
    try {
      const signal = run ? () => run.signal : this.#abortTasks.signal;
      const returned = trace
        ? this.server.tracing!.within(trace, () => invokeTask(def, signature, values, signal))
        : invokeTask(def, signature, values, signal);
      const outcome = !(returned instanceof Promise)
        ? returned
        : run
        ? await run.settle(returned, this.#abortGraceMs)
        : await returned;
      if (run?.abortedWith) {
        if (outcome === ABANDONED) {
          this.#discardLateOutcome(signature, returned as Promise<unknown>);
        }
        throw run.abortedWith;
      }
      results = outcome as TaskResult[];
    } catch (thrown) {
      done();
      // Aborted by an abrupt quit, or given back: record nothing; the message runs again.
      if (!(await this.#mayRecord(delivery))) return false;
      const aborted = run?.abortedWith;
      const error = aborted ?? thrown;
      if (trace) this.server.tracing!.fail(trace.span, error);
      if (aborted) {
        this.server.logger.warn(`Task ${logSafe(signature.uuid)} aborted: ${aborted.message}`);
      }
      if (error instanceof RetryTaskLaterError) {
        await this.#retryTaskIn(signature, error.retryInMs, error, trace);
      } else if (signature.retryCount > 0 && !aborted?.final) {
        await this.#taskRetry(signature, error, trace);
      } else {
        await this.#taskFailed(signature, error, trace);
      }
      return true;
    }
    done();
    // A task that returns after an abrupt quit (it may have stopped early because of it) is not
    // recorded either: its message is not acked, so it runs again in full.
    if (!(await this.#mayRecord(delivery))) return false;
    await this.#taskSucceeded(signature, results, trace);
    return true;
  }

  /** A run that its timeout or deadline, or a cancellation, can abort. */
  #startRun(signature: Signature, limits: ReturnType<typeof runLimits>): TaskRun {
    const run = new TaskRun(this.#abortTasks.signal, limits);
    this.#running?.set(signature.uuid, run);
    if (limits) this.#deadlines.add(run);
    return run;
  }

  /** The run is over: it no longer has a deadline or answers cancellations. */
  #endRun(run: TaskRun, uuid: string): void {
    run.dispose();
    if (run.stopAt !== Infinity) this.#deadlines.delete(run);
    if (this.#running?.get(uuid) === run) this.#running.delete(uuid);
  }

  /** A task that did not stop within the grace period: its outcome, when it comes, is dropped. */
  #discardLateOutcome(signature: Signature, returned: Promise<unknown>): void {
    const { logger } = this.server;
    const uuid = logSafe(signature.uuid);
    logger.warn(
      `Task ${uuid} did not stop within ${this.#abortGraceMs} ms of its abort: its slot is freed and its late result will be discarded`,
    );
    returned.then(
      () => logger.warn(`Task ${uuid} finished late: its result is discarded`),
      (error) => logger.warn(`Task ${uuid} failed late: discarded (${logSafe(errorText(error))})`),
    );
  }

  /** Counts one outcome of `task`, when metrics are on. */
  #count(task: string, outcome: TaskOutcome): void {
    if (this.#queueMetrics) this.#queueMetrics.series(task).outcomes[outcome]++;
  }

  /** Sends a follow-up (retry, callback) inside the task's `process` span, when tracing. */
  #sendFollowUp(signature: Signature, trace?: ProcessSpan, callback = true): Promise<unknown> {
    if (!trace) return this.server.sendTask(signature);
    if (callback) this.server.tracing!.markOrigin(signature, trace);
    return this.server.sendTask(signature, { traceContext: trace.context });
  }

  async #taskRetry(signature: Signature, error: unknown, trace?: ProcessSpan): Promise<void> {
    const retryTimeout = fibonacciNext(signature.retryTimeout);
    const eta = retryETA(retryTimeout * 1000);
    if (eta instanceof Error) return this.#taskFailed(signature, eta, trace);
    await this.server.backend.setStateRetry(signature);
    this.#count(signature.name, "retry");
    signature.retryCount--;
    signature.retryTimeout = retryTimeout;
    signature.eta = eta;
    this.server.logger.warn(
      `Task ${logSafe(signature.uuid)} failed. Going to retry in ${retryTimeout} seconds. Error = ${
        logSafe(errorText(error))
      }`,
      taskFields(signature),
    );
    await this.#sendFollowUp(signature, trace, false);
  }

  async #retryTaskIn(
    signature: Signature,
    retryInMs: number,
    error: unknown,
    trace?: ProcessSpan,
  ): Promise<void> {
    const eta = retryETA(retryInMs);
    if (eta instanceof Error) return this.#taskFailed(signature, eta, trace);
    await this.server.backend.setStateRetry(signature);
    this.#count(signature.name, "retry");
    signature.eta = eta;
    this.server.logger.warn(
      `Task ${logSafe(signature.uuid)} failed. Going to retry in ${
        Math.round(retryInMs / 1000)
      } seconds. Error = ${logSafe(errorText(error))}`,
      taskFields(signature),
    );
    await this.#sendFollowUp(signature, trace, false);
  }

  async #taskSucceeded(
    signature: Signature,
    results: TaskResult[],
    trace?: ProcessSpan,
  ): Promise<void> {
    const { backend, logger } = this.server;
    try {
      await backend.setStateSuccess(signature, results);
    } catch (error) {
      // A result that cannot be stored (NaN, say) fails the task rather than leaving it STARTED.
      if (error instanceof UnsupportedValueError && !(error instanceof UnsupportedTypeError)) {
        return this.#taskFailed(signature, error, trace);
      }
      throw stateNotWritten("success", signature, error);
    }
    await this.#releaseUnique(signature);
    this.counters.add(signature.name, true);
    this.#count(signature.name, "success");
    if (logger.verbose !== false) {
      logger.debug(
        `Processed task ${logSafe(signature.uuid)}. Results = ${logSafe(describe(results))}`,
        taskFields(signature),
      );
    }
    for (const callback of signature.onSuccess ?? []) {
      if (!signature.immutable) {
        callback.args = [
          ...(callback.args ?? []),
          ...results.map((r) => ({ name: "", type: r.type, value: r.value })),
        ];
      }
      await this.#sendFollowUp(callback, trace);
    }
    if (!signature.groupUUID || !signature.chordCallback) return;
    await this.#maybeTriggerChord(signature, trace);
  }

  async #maybeTriggerChord(signature: Signature, trace?: ProcessSpan): Promise<void> {
    const { backend } = this.server;
    const group = signature.groupUUID;
    const completed = await backend.groupCompleted(group, signature.groupTaskCount);
    if (!completed) return;
    if (!(await backend.triggerChord(group))) return;
    // The trigger is ours now, and a later run of this task would not get it again: what is
    // left is retried here rather than by requeuing the message.
    const callback = signature.chordCallback!;
    const args = callback.args ?? [];
    for (let attempt = 1;; attempt++) {
      try {
        const states = await backend.groupTaskStates(group, signature.groupTaskCount);
        if (!states.every(isSuccess)) return;
        callback.args = callback.immutable ? args : [
          ...args,
          ...states.flatMap((state) =>
            (state.results ?? []).map((r) => ({ name: "", type: r.type, value: r.value }))
          ),
        ];
        await this.#sendFollowUp(callback, trace);
        return;
      } catch (error) {
        if (attempt >= CHORD_CALLBACK_ATTEMPTS || this.#abortTasks.signal.aborted) {
          throw new Error(
            `Sending the chord callback ${logSafe(callback.uuid)} of group ${
              logSafe(group)
            } failed ${attempt} times: ${errorText(error)}`,
          );
        }
        const delay = Math.min(MAX_REQUEUE_DELAY_MS, 1000 * 2 ** (attempt - 1));
        this.#reportBrokerError(error);
        this.server.logger.warn(
          `Sending the chord callback of group ${logSafe(group)} again in ${delay} ms`,
        );
        await sleep(delay, this.#abortTasks.signal);
      }
    }
  }

  async #taskFailed(signature: Signature, error: unknown, trace?: ProcessSpan): Promise<void> {
    const text = errorText(error);
    if (!isCancellation(error)) await this.server.backend.setStateFailure(signature, text);
    else if (!(await this.#recordCancellation(signature))) return;
    await this.#releaseUnique(signature);
    this.counters.add(signature.name, false);
    this.#count(signature.name, "failure");
    const err = error instanceof Error ? error : new Error(text);
    if (this.#errorHandler) this.#errorHandler(err);
    else {
      this.server.logger.error(
        `Failed processing task ${logSafe(signature.uuid)}. Error = ${logSafe(text)}`,
        taskFields(signature),
      );
    }
    for (const callback of signature.onError ?? []) {
      callback.args = [{ name: "", type: "string", value: text }, ...(callback.args ?? [])];
      await this.#sendFollowUp(callback, trace);
    }
  }

  /**
   * A cancelled task's FAILURE, not written over a final state. One that `cancelTask` stored
   * (FAILURE `task cancelled`) is this same outcome, and its follow-ups are still ours to send;
   * any other is the outcome of a run that finished (this message is a duplicate delivery), and
   * is kept, with nothing sent: resolves false then.
   */
  async #recordCancellation(signature: Signature): Promise<boolean> {
    const { backend, logger } = this.server;
    if (await recordCancelled(backend, signature)) return true;
    const stored = await backend.getState(signature.uuid).catch(() => undefined);
    if (stored === undefined || (isFailure(stored) && stored.error === CANCELLED_TEXT)) return true;
    logger.warn(
      `Task ${
        logSafe(signature.uuid)
      } was cancelled but had finished already (${stored.state}): its outcome is kept`,
    );
    return false;
  }

  /** A unique task reached its final state: its key is free (a failure here is only reported). */
  async #releaseUnique(signature: Signature): Promise<void> {
    if (signature.headers?.[UNIQUE_KEY_HEADER] === undefined) return;
    try {
      await releaseUnique(uniqueLocksOf(this.server.broker, this.server.backend), signature);
    } catch (error) {
      this.#reportBrokerError(error);
    }
  }
}

/** A state could not be written: the message must run later. */
function stateNotWritten(state: string, signature: Signature, error: unknown): Error {
  return new Error(
    `Set state to '${state}' for task ${logSafe(signature.uuid)} returned error: ${
      errorText(error)
    }`,
    { cause: error },
  );
}

/** The `KeyConflictError` behind `error` (its cause, or its cause's), if any. */
function keyConflict(error: unknown): KeyConflictError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof KeyConflictError) return e;
  }
  return undefined;
}

/** How often the message was given back before (its `machinery_ts_requeues` header). */
function requeues(signature: Signature): number {
  const n = Number(signature.headers?.[REQUEUES_HEADER] ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * The ETA of a retry `delayMs` from now, or the error to fail the task with when it is beyond
 * year 9999 (Go's time format, and so the message, cannot carry it): refused, not clamped, so a
 * runaway back-off ends in a visible FAILURE instead of a task parked until 9999.
 */
function retryETA(delayMs: number): string | Error {
  try {
    return etaFromDate(new Date(Date.now() + delayMs));
  } catch {
    return new Error(
      `Retry refused: the retry ETA, ${
        Math.round(delayMs / 1000)
      } seconds from now, is beyond year 9999`,
    );
  }
}

/** The task fields of a log line. */
function taskFields(signature: Signature): LogFields {
  return { task_uuid: signature.uuid, task_name: signature.name };
}

function describe(results: TaskResult[]): string {
  try {
    return humanReadableResults(results);
  } catch {
    return "[]";
  }
}

/** The UTF-8 size of `text` in bytes (as `TextEncoder` would encode it), without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function preview(body: string): string {
  return body.length > 200 ? `${body.slice(0, 200)}…` : body;
}

/** Best effort: the UUID of a message that does not decode, so its failure can be recorded. */
function findUUID(body: string): string | undefined {
  const match = /"uuid"\s*:\s*"([A-Za-z0-9_.:-]{1,200})"/i.exec(body.slice(0, 4096));
  return match?.[1];
}

/**
 * What the start-up banner shows for an adapter's URL: the URL it really uses (database, vhost
 * and user kept) with the password hidden. Go shows `RedactURL(config)` instead, which drops
 * the database and names the config's broker even for adapters built without it.
 */
function shownURL(url: string | undefined): string {
  return url === undefined ? "(an adapter that names no URL)" : redactPassword(url);
}

/** The task name of a message that did not decode, when its `"Name"` can be read. */
function findName(body: string): string | undefined {
  const match = /"Name"\s*:\s*"([^"\\]{1,200})"/.exec(body.slice(0, 4096));
  return match?.[1];
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
