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
import type { Logger } from "./log.ts";
import { decodeSignature, encodeSignature, type Signature } from "./wire/signature.ts";
import { isSuccess, type TaskResult } from "./wire/state.ts";
import { ArgsError, decodeArgs, invokeTask, type TaskDefinition } from "./task.ts";
import { fibonacciNext, RetryTaskLaterError } from "./retry.ts";
import { errorText, KeyConflictError, WorkerQuitAbruptlyError } from "./errors.ts";
import { UnsupportedTypeError, UnsupportedValueError } from "./wire/json.ts";
import { etaFromDate } from "./wire/signature.ts";
import { humanReadableResults } from "./wire/state.ts";
import { hardwareConcurrency, onShutdownSignals } from "./runtime.ts";
import { redactURL } from "./urls.ts";
import { type ReleaseSlot, RunSlots } from "./run_slots.ts";
import type { WorkerRegistry } from "./inspector.ts";
import { TaskCounters, WorkerHeartbeat } from "./worker_heartbeat.ts";

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
  sendTask(signature: Signature): Promise<unknown>;
}

/** Thrown by `process` when the backend failed before the task ran: the message is retried. */
class NotStartedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotStartedError";
  }
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
    this.#options = options;
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
    logger.info(`- Broker: ${redactURL(config.broker)}`);
    logger.info(
      this.#customQueue
        ? `- CustomQueue: ${this.#customQueue}`
        : `- DefaultQueue: ${config.defaultQueue}`,
    );
    logger.info(`- ResultBackend: ${redactURL(config.resultBackend)}`);
    const removeSignals = this.#handleSignals ? this.#listenForSignals() : () => {};
    const stopHeartbeat = this.#startHeartbeat();
    try {
      await this.#consumeUntilStopped();
      if (!this.#abrupt) await this.#drain();
    } finally {
      removeSignals();
      await stopHeartbeat();
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
      onError: (error) => this.server.logger.warn(`Worker heartbeat failed: ${error.message}`),
    });
    heartbeat.start();
    return async () => {
      await heartbeat.stop(id);
      await registry.close().catch(() => {});
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
        backoffSeconds = 0;
      } catch (error) {
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
    else this.server.logger.warn(`Broker failed with error: ${err.message}`);
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
      logger.error(`${reason}: set aside (${preview(body)})`);
      await this.#recordBadMessage(body, reason);
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
      logger.error(reason);
      await this.#recordBadMessage(body, reason);
      await delivery.reject(reason);
      return;
    }
    if (signature.name === "") {
      // No worker can ever run a task without a name (`{}`, `null`): set it aside, do not loop.
      const reason = `Message '${preview(body)}' names no task`;
      logger.error(reason);
      await this.#recordBadMessage(body, reason);
      await delivery.reject(reason);
      return;
    }
    if (
      signature.uuid !== "" &&
      (signature.uuid === this.queue() || signature.uuid === signature.routingKey)
    ) {
      // A state written under it would turn the queue into a string: refuse before any write.
      const reason = `Task UUID "${signature.uuid}" names a queue; refused`;
      logger.error(reason);
      await delivery.reject(reason);
      return;
    }
    if (!this.server.isTaskRegistered(signature.name)) {
      await this.#handleUnregistered(delivery, signature);
      return;
    }
    if (this.#abortTasks.signal.aborted) return; // quitting abruptly: leave it to the broker
    const release = await this.#slots.acquire();
    if (!release) {
      // Prefetched, and the worker is stopping: it has not started, so it goes back.
      if (!this.#abortTasks.signal.aborted) await delivery.requeue(0);
      return;
    }
    try {
      await this.#process(signature, release);
    } catch (error) {
      if (this.#abortTasks.signal.aborted) return;
      if (error instanceof NotStartedError) {
        this.#reportBrokerError(error);
        const conflict = error.cause instanceof KeyConflictError ? error.cause : undefined;
        if (conflict && (conflict.reserved || requeues(signature) + 1 >= MAX_KEY_CONFLICT_TRIES)) {
          // Its state can never be written: set it aside rather than loop.
          await delivery.reject(error.message);
          return;
        }
        await this.#requeueWithBackoff(delivery, signature);
        return;
      }
      this.#reportBrokerError(error);
    } finally {
      release();
    }
    if (this.#abortTasks.signal.aborted) return;
    await delivery.ack();
  }

  async #handleUnregistered(delivery: Delivery, signature: Signature): Promise<void> {
    if (signature.ignoreWhenTaskNotRegistered) {
      this.server.logger.warn(
        `Task not registered with this worker. Dropping message: ${signature.uuid}`,
      );
      await delivery.ack();
      return;
    }
    const delay = await this.#requeueWithBackoff(delivery, signature);
    this.server.logger.warn(
      `Task not registered with this worker: "${signature.name}". Requeuing message ${signature.uuid} in ${delay} ms`,
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
      const sig = decodeSignature(JSON.stringify({ UUID: uuid }));
      await this.server.backend.setStateFailure(sig, reason);
    } catch (error) {
      this.#reportBrokerError(error);
    }
  }

  /**
   * Processes one decoded signature in machinery's order (see
   * `docs/architecture.md#the-path-of-one-task`). Rejects only for backend errors; task errors are
   * recorded as RETRY or FAILURE.
   */
  process(signature: Signature): Promise<void> {
    return this.#process(signature, () => {});
  }

  /** `process`, giving the run slot back as soon as the task function is done. */
  async #process(signature: Signature, releaseSlot: ReleaseSlot): Promise<void> {
    const { backend } = this.server;
    const def = this.server.isTaskRegistered(signature.name)
      ? this.server.getRegisteredTask(signature.name)
      : undefined;
    if (!def) return;
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
    const both = values !== undefined && backend.setStateReceivedAndStarted !== undefined;
    try {
      await (both
        ? backend.setStateReceivedAndStarted!(signature)
        : backend.setStateReceived(signature));
    } catch (error) {
      throw notStarted("received", signature, error);
    }
    if (argsError) return this.#taskFailed(signature, argsError);
    if (!both) {
      try {
        await backend.setStateStarted(signature);
      } catch (error) {
        throw notStarted("started", signature, error);
      }
    }
    this.#preTaskHandler?.(signature);
    try {
      await this.#runTask(def, signature, values!, releaseSlot);
    } finally {
      this.#postTaskHandler?.(signature);
    }
  }

  async #runTask(
    def: TaskDefinition,
    signature: Signature,
    values: unknown[],
    releaseSlot: ReleaseSlot,
  ): Promise<void> {
    let results: TaskResult[];
    try {
      const returned = invokeTask(def, signature, values, this.#abortTasks.signal);
      results = returned instanceof Promise ? await returned : returned;
    } catch (error) {
      releaseSlot();
      // Aborted by an abrupt quit: record nothing; the unacked message runs again elsewhere.
      if (this.#abortTasks.signal.aborted) return;
      if (error instanceof RetryTaskLaterError) {
        return this.#retryTaskIn(signature, error.retryInMs);
      }
      if (signature.retryCount > 0) return this.#taskRetry(signature);
      return this.#taskFailed(signature, error);
    }
    releaseSlot();
    // A task that returns after an abrupt quit (it may have stopped early because of it) is not
    // recorded either: its message is not acked, so it runs again in full.
    if (this.#abortTasks.signal.aborted) return;
    await this.#taskSucceeded(signature, results);
  }

  async #taskRetry(signature: Signature): Promise<void> {
    await this.server.backend.setStateRetry(signature);
    signature.retryCount--;
    signature.retryTimeout = fibonacciNext(signature.retryTimeout);
    signature.eta = etaFromDate(new Date(Date.now() + signature.retryTimeout * 1000));
    this.server.logger.warn(
      `Task ${signature.uuid} failed. Going to retry in ${signature.retryTimeout} seconds.`,
    );
    await this.server.sendTask(signature);
  }

  async #retryTaskIn(signature: Signature, retryInMs: number): Promise<void> {
    await this.server.backend.setStateRetry(signature);
    signature.eta = etaFromDate(new Date(Date.now() + retryInMs));
    this.server.logger.warn(
      `Task ${signature.uuid} failed. Going to retry in ${Math.round(retryInMs / 1000)} seconds.`,
    );
    await this.server.sendTask(signature);
  }

  async #taskSucceeded(signature: Signature, results: TaskResult[]): Promise<void> {
    const { backend, logger } = this.server;
    try {
      await backend.setStateSuccess(signature, results);
    } catch (error) {
      // A result that cannot be stored (NaN, say) fails the task rather than leaving it STARTED.
      if (error instanceof UnsupportedValueError && !(error instanceof UnsupportedTypeError)) {
        return this.#taskFailed(signature, error);
      }
      throw new Error(
        `Set state to 'success' for task ${signature.uuid} returned error: ${errorText(error)}`,
      );
    }
    this.counters.add(signature.name, true);
    if (logger.verbose !== false) {
      logger.debug(`Processed task ${signature.uuid}. Results = ${describe(results)}`);
    }
    for (const callback of signature.onSuccess ?? []) {
      if (!signature.immutable) {
        callback.args = [
          ...(callback.args ?? []),
          ...results.map((r) => ({ name: "", type: r.type, value: r.value })),
        ];
      }
      await this.#sendCallback(callback);
    }
    if (!signature.groupUUID || !signature.chordCallback) return;
    await this.#maybeTriggerChord(signature);
  }

  async #maybeTriggerChord(signature: Signature): Promise<void> {
    const { backend } = this.server;
    const group = signature.groupUUID;
    const completed = await backend.groupCompleted(group, signature.groupTaskCount);
    if (!completed) return;
    if (!(await backend.triggerChord(group))) return;
    const states = await backend.groupTaskStates(group, signature.groupTaskCount);
    const callback = signature.chordCallback!;
    for (const state of states) {
      if (!isSuccess(state)) return;
      if (!callback.immutable) {
        callback.args = [
          ...(callback.args ?? []),
          ...(state.results ?? []).map((r) => ({ name: "", type: r.type, value: r.value })),
        ];
      }
    }
    await this.server.sendTask(callback);
  }

  async #taskFailed(signature: Signature, error: unknown): Promise<void> {
    const text = errorText(error);
    await this.server.backend.setStateFailure(signature, text);
    this.counters.add(signature.name, false);
    const err = error instanceof Error ? error : new Error(text);
    if (this.#errorHandler) this.#errorHandler(err);
    else this.server.logger.error(`Failed processing task ${signature.uuid}. Error = ${text}`);
    for (const callback of signature.onError ?? []) {
      callback.args = [{ name: "", type: "string", value: text }, ...(callback.args ?? [])];
      await this.#sendCallback(callback);
    }
  }

  async #sendCallback(callback: Signature): Promise<void> {
    try {
      await this.server.sendTask(callback);
    } catch (error) {
      this.#reportBrokerError(error);
    }
  }
}

/** A state before the task could not be written: the message must run later. */
function notStarted(state: string, signature: Signature, error: unknown): NotStartedError {
  return new NotStartedError(
    `Set state to '${state}' for task ${signature.uuid} returned error: ${errorText(error)}`,
    { cause: error },
  );
}

/** How often the message was given back before (its `machinery_ts_requeues` header). */
function requeues(signature: Signature): number {
  const n = Number(signature.headers?.[REQUEUES_HEADER] ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
