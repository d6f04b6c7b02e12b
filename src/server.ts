/**
 * The Server: it holds the configuration, the broker, the result backend and the registered
 * tasks, sends tasks and workflows, and makes workers, as machinery's `Server` does.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Broker } from "./broker.ts";
import { type Config, type ConfigInput, resolveConfig } from "./config.ts";
import { newSignature, newTaskUUID, type Signature } from "./wire/signature.ts";
import {
  defineTask,
  type TaskArgs,
  type TaskDefinition,
  type TaskFunction,
  type TaskOptions,
  type TaskResultValues,
  type TaskSpec,
  toArgs,
} from "./task.ts";
import { AsyncResult, ChainAsyncResult, ChordAsyncResult } from "./result.ts";
import type { Chain, Chord, Group } from "./workflow.ts";
import { ClosedError, SendError, TaskNotRegisteredError } from "./errors.ts";
import { consoleLogger, type Logger } from "./log.ts";
import { Worker, type WorkerOptions } from "./worker.ts";
import {
  claimUnique,
  defaultUniqueKey,
  releaseUnique,
  UNIQUE_KEY_HEADER,
  type UniqueLocks,
  uniqueLocksOf,
} from "./unique.ts";
import { backendFromURL, brokerFromURL, lockFromURL } from "./from_url.ts";
import { defaultLockURL } from "./urls.ts";
import type { Lock } from "./lock.ts";
import { type PeriodicEntry, Scheduler } from "./periodic/scheduler.ts";
import {
  messagingSystem,
  type OtelApi,
  type OtelContext,
  TaskTracing,
} from "./tracing/task_tracing.ts";
import type { SendOptions } from "./send_options.ts";
import { SENT_AT_HEADER } from "./metrics/wait_time.ts";
import {
  type CancelOptions,
  CancelUnsupportedError,
  DEFAULT_CANCEL_MARK_MS,
  recordCancelled,
} from "./cancel.ts";
import { StateNotFoundError } from "./errors.ts";
import { isCompleted, STARTED, type TaskState } from "./wire/state.ts";
import { redactURL } from "./urls.ts";

/** A signature that remembers its task's result types, so `sendTask` can type `get()`. */
export type TypedSignature<T extends unknown[]> = Signature & { readonly __results?: T };

/** A registered task; `signature(...)` builds a typed signature for it. */
export interface TaskRef<F extends TaskFunction> {
  /** The registered name. */
  readonly name: string;
  /** A new signature calling this task with these arguments (Go types inferred or declared). */
  signature(...args: TaskArgs<F>): TypedSignature<TaskResultValues<ReturnType<F>>>;
}

/** What a Server is built from. */
export interface ServerOptions {
  /** The configuration (machinery's fields; defaults fill the rest). */
  config?: ConfigInput;
  /** Where tasks travel. The server owns it and closes it. */
  broker: Broker;
  /** Where states are kept. The server owns it and closes it. */
  backend: Backend;
  /** Where logs go (default: stderr). */
  logger?: Logger;
  /**
   * Decides which process sends each periodic tick (default: an in-process `MemoryLock`); pass
   * a `RedisLock` to share ticks between processes. The server owns it and closes it.
   */
  lock?: Lock;
  /**
   * Put in the periodic lock keys where Go puts its binary's basename (default `""`): set it to
   * a Go scheduler's binary name to share that scheduler's ticks.
   */
  lockBinaryName?: string;
  /**
   * The application's `@opentelemetry/api` module (`import * as api from
   * "@opentelemetry/api"`): sends and task runs then make `send {queue}` and `process {queue}`
   * spans, and the trace context travels in `Signature.Headers`. Without it machinery makes no
   * span and loads no OpenTelemetry code.
   */
  tracing?: OtelApi;
}

/** Registers tasks, sends tasks and workflows, and makes workers. */
export class Server {
  /** The resolved configuration. */
  readonly config: Config;
  /** The broker. */
  readonly broker: Broker;
  /** The result backend. */
  readonly backend: Backend;
  /** The logger. */
  readonly logger: Logger;
  /** Makes spans when the server was given `tracing`. */
  readonly tracing?: TaskTracing;
  readonly #tasks = new Map<string, TaskDefinition>();
  readonly #lock?: Lock;
  readonly #lockBinaryName: string;
  #scheduler?: Scheduler;
  #prePublishHandler?: (signature: Signature) => void;
  #closed = false;
  #closing?: Promise<void>;

  /** Makes a server around a broker and a backend. */
  constructor(options: ServerOptions) {
    this.config = resolveConfig(options.config);
    this.broker = options.broker;
    this.backend = options.backend;
    this.logger = options.logger ?? consoleLogger();
    this.#lock = options.lock;
    this.#lockBinaryName = options.lockBinaryName ?? "";
    if (options.tracing) {
      this.tracing = new TaskTracing(options.tracing, messagingSystem(this.config.broker));
    }
  }

  /**
   * Makes a server from configuration alone: the broker and the result backend come from the
   * `broker` and `resultBackend` URLs, each adapter loaded only when its scheme is used. The
   * periodic lock comes from `lock`, or else from the Redis broker or backend URL (it connects
   * at the first periodic tick), or else it is the in-process lock. The adapters log to
   * `logger` too.
   */
  static async fromConfig(
    config: ConfigInput = {},
    logger: Logger = consoleLogger(),
  ): Promise<Server> {
    const resolved = resolveConfig(config);
    const options = { config: resolved, logger };
    const broker = await brokerFromURL(resolved.broker, options);
    try {
      const backend = await backendFromURL(resolved.resultBackend, options);
      try {
        const lock = await lockFromURL(defaultLockURL(resolved), options);
        return new Server({ config: resolved, broker, backend, logger, lock });
      } catch (error) {
        await backend.close();
        throw error;
      }
    } catch (error) {
      await broker.close();
      throw error;
    }
  }

  /**
   * Registers one task under `name`; a later registration of the same name replaces it. With
   * `options.args` (Go's parameter types, such as `["...int64"]`), the worker checks each call's
   * arguments as a Go worker does.
   */
  registerTask<F extends TaskFunction>(name: string, fn: F, options: TaskOptions = {}): TaskRef<F> {
    this.#tasks.set(name, defineTask(name, fn, options));
    return {
      name,
      signature: (...args) => newSignature(name, toArgs(args, options.args)),
    };
  }

  /**
   * Registers several tasks, each a function or a `{ fn, args, results }` spec; if any is
   * invalid, none is registered.
   */
  registerTasks(tasks: Record<string, TaskFunction | TaskSpec>): void {
    const defs = Object.entries(tasks).map(([name, task]) => {
      if (typeof task === "function") return defineTask(name, task);
      const { fn, ...options } = task ?? {};
      return defineTask(name, fn, options);
    });
    for (const def of defs) this.#tasks.set(def.name, def);
  }

  /** True when `name` is registered. */
  isTaskRegistered(name: string): boolean {
    return this.#tasks.has(name);
  }

  /** The registered task, or `TaskNotRegisteredError`. */
  getRegisteredTask(name: string): TaskDefinition {
    const def = this.#tasks.get(name);
    if (!def) throw new TaskNotRegisteredError(name);
    return def;
  }

  /** The registered names. */
  getRegisteredTaskNames(): string[] {
    return [...this.#tasks.keys()];
  }

  /** A hook called after PENDING is written and before each `sendTask` publish. */
  setPrePublishHandler(handler: (signature: Signature) => void): void {
    this.#prePublishHandler = handler;
  }

  /**
   * Sends one task: writes PENDING, then publishes. The signature gets a UUID if it has none
   * and `Headers` `{}` if it has none, as Go's sender does.
   *
   * With `options.uniqueFor`, the task is unique (see `docs/architecture.md#unique-tasks`): if a
   * task with the same unique key is not finished yet, nothing is sent and the promise rejects
   * with `DuplicateTaskError`, which carries that task's UUID.
   */
  async sendTask<T extends unknown[] = unknown[]>(
    signature: TypedSignature<T>,
    options: SendOptions = {},
  ): Promise<AsyncResult<T>> {
    this.#checkOpen();
    signature.headers ??= {};
    signature.uuid ||= newTaskUUID();
    const locks = await this.#claimUnique(signature, options);
    try {
      try {
        await this.backend.setStatePending(signature);
      } catch (error) {
        throw new SendError(`Set state pending error: ${message(error)}`, { cause: error });
      }
      this.#prePublishHandler?.(signature);
      try {
        await this.#publish(signature, options.traceContext);
      } catch (error) {
        throw new SendError(`Publish message error: ${message(error)}`, { cause: error });
      }
    } catch (error) {
      // Nothing was enqueued: the key is free for the next send.
      await releaseUnique(locks, signature).catch(() => {});
      throw error;
    }
    return new AsyncResult<T>(signature, this.backend);
  }

  /**
   * Publishes, with the send time in the headers when the config asks for it, inside a `send`
   * span when tracing.
   */
  async #publish(signature: Signature, traceContext?: OtelContext): Promise<void> {
    if (this.config.sendTimeHeader) signature.headers![SENT_AT_HEADER] = Date.now();
    if (!this.tracing) return this.broker.publish(signature);
    this.broker.adjustRoutingKey(signature);
    const span = this.tracing.startSend(signature, traceContext);
    try {
      await this.broker.publish(signature);
    } catch (error) {
      this.tracing.fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  }
  /** Claims the unique key of a send with `uniqueFor`; resolves with the locks it used. */
  async #claimUnique(
    signature: Signature,
    options: SendOptions,
  ): Promise<UniqueLocks | undefined> {
    if (options.uniqueFor === undefined) {
      if (options.uniqueKey !== undefined) throw new TypeError("uniqueKey needs uniqueFor");
      return undefined;
    }
    if (!(options.uniqueFor > 0)) {
      throw new RangeError(`Invalid uniqueFor "${options.uniqueFor}": expected ms above 0`);
    }
    const locks = uniqueLocksOf(this.broker, this.backend);
    if (!locks) {
      throw new SendError(
        "Unique tasks need a Redis or memory broker, or a Redis result backend, to keep their locks",
      );
    }
    const key = options.uniqueKey ?? await defaultUniqueKey(signature);
    await claimUnique(locks, this.backend, key, signature.uuid, options.uniqueFor);
    signature.headers = { ...signature.headers, [UNIQUE_KEY_HEADER]: key };
    return locks;
  }

  /**
   * Sends a group: records the group, writes PENDING for every member in order, then publishes
   * them with at most `sendConcurrency` publishes in flight (0: no limit).
   */
  async sendGroup(group: Group, sendConcurrency = 0): Promise<AsyncResult[]> {
    this.#checkOpen();
    for (const sig of group.tasks) sig.headers ??= {};
    try {
      await this.backend.initGroup(group.groupUUID, group.tasks.map((t) => t.uuid));
      for (const sig of group.tasks) await this.backend.setStatePending(sig);
    } catch (error) {
      throw new SendError(`Could not record group ${group.groupUUID}: ${message(error)}`, {
        cause: error,
      });
    }
    const limit = sendConcurrency > 0 ? sendConcurrency : group.tasks.length;
    const queue = [...group.tasks];
    const errors: unknown[] = [];
    const publishNext = async (): Promise<void> => {
      for (let sig = queue.shift(); sig; sig = queue.shift()) {
        try {
          await this.#publish(sig);
        } catch (error) {
          errors.push(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, publishNext));
    if (errors.length > 0) {
      throw new SendError(`Publish message error: ${message(errors[0])}`, { cause: errors[0] });
    }
    return group.tasks.map((sig) => new AsyncResult(sig, this.backend));
  }

  /** Sends a chord: the group as `sendGroup` does; the last member to succeed sends the callback. */
  async sendChord<T extends unknown[] = unknown[]>(
    chord: Chord & { callback: TypedSignature<T> },
    sendConcurrency = 0,
  ): Promise<ChordAsyncResult<T>> {
    chord.callback.headers ??= {};
    const results = await this.sendGroup(chord.group, sendConcurrency);
    return new ChordAsyncResult<T>(results, new AsyncResult<T>(chord.callback, this.backend));
  }

  /** Sends a chain: the first link, carrying the others nested in its OnSuccess. */
  async sendChain<T extends unknown[] = unknown[]>(chain: Chain): Promise<ChainAsyncResult<T>> {
    for (const sig of chain.tasks) sig.headers ??= {};
    await this.sendTask(chain.tasks[0]);
    return new ChainAsyncResult<T>(chain.tasks.map((sig) => new AsyncResult(sig, this.backend)));
  }

  /**
   * Cancels task `uuid`: one still queued, delayed or waiting for a retry never starts, and is
   * recorded FAILURE `task cancelled` now; a running one has its `AbortSignal` fired on the
   * worker that runs it and is recorded FAILURE `task cancelled` there, without retries. A
   * cancelled group member makes its chord never fire; a cancelled chain link stops the rest of
   * the chain. Resolves with false (and records nothing) when the task had finished already, or
   * finished while being cancelled: its SUCCESS or FAILURE is kept. That last check is atomic
   * where the backend has `setStateFailureUnlessCompleted` (memory, Redis, Memcache, MongoDB);
   * on the AMQP backend a task that finishes between the read and the write is recorded
   * cancelled.
   *
   * @throws {CancelUnsupportedError} when the broker keeps no cancellation marks.
   */
  async cancelTask(uuid: string, options: CancelOptions = {}): Promise<boolean> {
    this.#checkOpen();
    if (!this.broker.cancelTask) throw new CancelUnsupportedError(redactURL(this.config.broker));
    let state: TaskState | undefined;
    try {
      state = await this.backend.getState(uuid);
    } catch (error) {
      if (!(error instanceof StateNotFoundError)) throw error;
    }
    if (state && isCompleted(state)) return false;
    await this.broker.cancelTask(uuid, Date.now() + (options.keepMarkMs ?? DEFAULT_CANCEL_MARK_MS));
    // A running task is recorded by its worker once it stopped; the others are recorded now,
    // so that whoever waits for the task learns at once.
    if (state?.state !== STARTED) {
      const signature = newSignature(state?.taskName ?? "", []);
      signature.uuid = uuid;
      // Not written over a task that finished since the read: then nothing was cancelled.
      return await recordCancelled(this.backend, signature);
    }
    return true;
  }

  /**
   * The periodic scheduler, made on first use with the server's lock: `register(definition)`,
   * `list()`, `get(name)`, `remove(name)`.
   */
  get scheduler(): Scheduler {
    this.#checkOpen();
    this.#scheduler ??= new Scheduler(this, {
      lock: this.#lock,
      binaryName: this.#lockBinaryName,
      logger: this.logger,
    });
    return this.#scheduler;
  }

  /**
   * Sends a fresh copy of `signature` (new UUIDs) at every tick of the cron `spec`: five fields
   * (`0 6 * * ?`) or six with seconds first, descriptors (`@hourly`, `@every 1m`), a
   * `CRON_TZ=` prefix. Each tick is claimed from the lock first, so processes sharing a Redis
   * lock send it once. A registration with the same `name` replaces the earlier one.
   *
   * @throws {CronSpecError} when the spec is malformed.
   */
  registerPeriodicTask(spec: string, name: string, signature: Signature): PeriodicEntry {
    return this.scheduler.registerPeriodicTask(spec, name, signature);
  }

  /** Sends a new group of copies at every tick of `spec` (see `registerPeriodicTask`). */
  registerPeriodicGroup(
    spec: string,
    name: string,
    sendConcurrency: number,
    ...signatures: Signature[]
  ): PeriodicEntry {
    return this.scheduler.registerPeriodicGroup(spec, name, sendConcurrency, ...signatures);
  }

  /** Sends a new chain of copies at every tick of `spec` (see `registerPeriodicTask`). */
  registerPeriodicChain(spec: string, name: string, ...signatures: Signature[]): PeriodicEntry {
    return this.scheduler.registerPeriodicChain(spec, name, ...signatures);
  }

  /** Sends a new chord of copies at every tick of `spec` (see `registerPeriodicTask`). */
  registerPeriodicChord(
    spec: string,
    name: string,
    sendConcurrency: number,
    callback: Signature,
    ...signatures: Signature[]
  ): PeriodicEntry {
    return this.scheduler.registerPeriodicChord(
      spec,
      name,
      sendConcurrency,
      callback,
      ...signatures,
    );
  }

  /** The periodic registrations, with their next ticks. */
  listPeriodic(): PeriodicEntry[] {
    return this.#scheduler?.list() ?? [];
  }

  /** Stops the periodic registration `name`; false when there is none. */
  removePeriodic(name: string): boolean {
    return this.#scheduler?.remove(name) ?? false;
  }

  /** A worker on the default queue. `concurrency` 0 means twice the number of CPUs. */
  newWorker(consumerTag: string, concurrency: number, options: WorkerOptions = {}): Worker {
    return new Worker(this, consumerTag, concurrency, "", options);
  }

  /** A worker on `queue` instead of the default queue. */
  newCustomQueueWorker(
    consumerTag: string,
    concurrency: number,
    queue: string,
    options: WorkerOptions = {},
  ): Worker {
    return new Worker(this, consumerTag, concurrency, queue, options);
  }

  /**
   * Stops the periodic registrations (a tick being sent finishes), then closes the lock, the
   * broker and the backend. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#scheduler) await this.#scheduler.close();
      else await this.#lock?.close();
      this.#closed = true;
      await Promise.allSettled([this.broker.close(), this.backend.close()]);
    })();
    return this.#closing;
  }

  /** Closes the server at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
