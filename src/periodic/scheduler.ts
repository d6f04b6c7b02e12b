/**
 * The periodic scheduler: tasks, groups, chains and chords sent on a cron schedule (machinery
 * machinery's `RegisterPeriodicTask` and its siblings), with listing and removal at run time.
 *
 * At each tick every scheduler that registered the schedule wakes, claims the tick from its
 * {@linkcode Lock} and sends fresh copies of the signatures only if the claim succeeds: with a
 * shared lock (Redis) many processes send each tick once. A tick is claimed before anything is
 * sent, and a failed send is logged, not retried, so a tick is never sent twice. Ticks missed
 * while no scheduler ran (or while the process was suspended past the next tick) are skipped,
 * not replayed.
 *
 * @example
 * ```ts
 * import { MemoryBackend, MemoryBroker, newSignature, Server } from "../../mod.ts";
 * import { Scheduler } from "./scheduler.ts";
 *
 * const server = new Server({ broker: new MemoryBroker(), backend: new MemoryBackend() });
 * const scheduler = new Scheduler(server);
 * scheduler.registerPeriodicTask("@hourly", "cleanup", newSignature("cleanup"));
 * console.log(scheduler.list().map((e) => `${e.name} ${e.spec} next ${e.next?.toISOString()}`));
 * scheduler.remove("cleanup");
 * await scheduler.close();
 * await server.close();
 * ```
 *
 * @module
 */
import { type Logger, logSafe } from "../log.ts";
import type { Lock } from "../lock.ts";
import { MemoryLock } from "../memory/lock.ts";
import { lockName, lockValue } from "./lock_name.ts";
import { copySignature, newChordUUID, newTaskUUID, type Signature } from "../wire/signature.ts";
import { type Chain, type Chord, type Group, newChain, newChord, newGroup } from "../workflow.ts";
import { ClosedError } from "../errors.ts";
import { parseSchedule, type Schedule } from "./schedule.ts";

/** What a scheduler needs from its server (a `Server` is one): the four sends and the logger. */
export interface PeriodicSender {
  /** Where send failures are logged (unless `SchedulerOptions.logger` is given). */
  readonly logger: Logger;
  /** Sends one task. */
  sendTask(signature: Signature): Promise<unknown>;
  /** Sends a group with at most `sendConcurrency` publishes in flight (0: no limit). */
  sendGroup(group: Group, sendConcurrency?: number): Promise<unknown>;
  /** Sends a chain. */
  sendChain(chain: Chain): Promise<unknown>;
  /** Sends a chord. */
  sendChord(chord: Chord, sendConcurrency?: number): Promise<unknown>;
}

/** The kinds of periodic registration. */
export type PeriodicKind = "task" | "group" | "chain" | "chord";

/** A periodic registration, in the form {@linkcode Scheduler.register} takes. */
export type PeriodicDefinition =
  | {
    /** Sends one task. */
    kind: "task";
    /** The schedule's name: unique in a scheduler, and part of the lock key. */
    name: string;
    /** The cron spec (see `parseSchedule`). */
    spec: string;
    /** The task. */
    signature: Signature;
  }
  | {
    /** Sends a group. */
    kind: "group";
    /** The schedule's name. */
    name: string;
    /** The cron spec. */
    spec: string;
    /** The members. */
    signatures: Signature[];
    /** Publishes in flight at once (0: no limit). */
    sendConcurrency?: number;
  }
  | {
    /** Sends a chain. */
    kind: "chain";
    /** The schedule's name. */
    name: string;
    /** The cron spec. */
    spec: string;
    /** The links, in order. */
    signatures: Signature[];
  }
  | {
    /** Sends a chord. */
    kind: "chord";
    /** The schedule's name. */
    name: string;
    /** The cron spec. */
    spec: string;
    /** The group's members. */
    signatures: Signature[];
    /** Sent with the members' results once they all succeeded. */
    callback: Signature;
    /** Publishes in flight at once (0: no limit). */
    sendConcurrency?: number;
  };

/** A registration as {@linkcode Scheduler.list} shows it. */
export interface PeriodicEntry {
  /** The schedule's name. */
  readonly name: string;
  /** The cron spec as registered. */
  readonly spec: string;
  /** What it sends. */
  readonly kind: PeriodicKind;
  /** The lock key its ticks are claimed under. */
  readonly lockKey: string;
  /** The next tick, or `null` when the spec has none. */
  readonly next: Date | null;
}

/** What happened at one tick of one schedule, for {@linkcode SchedulerOptions.onTick}. */
export interface TickEvent {
  /** The schedule's name. */
  readonly name: string;
  /** Its spec. */
  readonly spec: string;
  /** The tick's scheduled time. */
  readonly tick: Date;
  /**
   * `sent`: this scheduler claimed the tick and sent it. `taken`: the lock said another
   * scheduler (or an earlier wake of this one) has the tick. `failed`: the lock failed or did not
   * answer before the next tick, or the send failed (logged; not retried). `missed`: the
   * process woke, or got the lock's answer, only once the next tick was due, so this tick is
   * skipped.
   */
  readonly outcome: "sent" | "taken" | "failed" | "missed";
  /** The error, for `failed`. */
  readonly error?: unknown;
}

/** Options for {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /**
   * Who sends each tick. The scheduler owns it and closes it. Default: a {@linkcode MemoryLock},
   * which dedups within this process only; pass a `RedisLock` to share ticks between processes.
   */
  lock?: Lock;
  /**
   * Put in the lock key after `machinery_lock_`, as Go puts its binary's basename there: set it
   * to a Go scheduler's binary name to share that scheduler's ticks. Default `""`.
   */
  binaryName?: string;
  /** Where errors go (default: the server's logger). */
  logger?: Logger;
  /** Called after every tick of every schedule (for metrics and tests); must not throw. */
  onTick?: (event: TickEvent) => void;
  /** The clock, in Unix milliseconds (default `Date.now`); for tests. */
  now?: () => number;
}

/** The longest a timer may wait (setTimeout's limit, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  readonly definition: PeriodicDefinition;
  readonly schedule: Schedule;
  readonly lockKey: string;
  next: Date | null;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Sends tasks, groups, chains and chords on cron schedules through a server.
 *
 * Registration names are unique: registering a name again replaces the earlier registration.
 * Every registration starts at once; {@linkcode Scheduler.close} stops them all.
 */
export class Scheduler {
  readonly #server: PeriodicSender;
  readonly #lock: Lock;
  readonly #binaryName: string;
  readonly #logger: Logger;
  readonly #onTick?: (event: TickEvent) => void;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #closing?: Promise<void>;

  /** Makes a scheduler that sends through `server`. */
  constructor(server: PeriodicSender, options: SchedulerOptions = {}) {
    this.#server = server;
    this.#lock = options.lock ?? new MemoryLock();
    this.#binaryName = options.binaryName ?? "";
    this.#logger = options.logger ?? server.logger;
    this.#onTick = options.onTick;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Sends a fresh copy of `signature` (new UUID) at every tick of `spec`.
   *
   * @throws {CronSpecError} when the spec is malformed.
   */
  registerPeriodicTask(spec: string, name: string, signature: Signature): PeriodicEntry {
    return this.register({ kind: "task", spec, name, signature });
  }

  /** Sends a new group (new group UUID, new member UUIDs) of copies at every tick of `spec`. */
  registerPeriodicGroup(
    spec: string,
    name: string,
    sendConcurrency: number,
    ...signatures: Signature[]
  ): PeriodicEntry {
    return this.register({ kind: "group", spec, name, sendConcurrency, signatures });
  }

  /** Sends a new chain of copies at every tick of `spec`. */
  registerPeriodicChain(spec: string, name: string, ...signatures: Signature[]): PeriodicEntry {
    return this.register({ kind: "chain", spec, name, signatures });
  }

  /** Sends a new chord of copies (the callback copied too) at every tick of `spec`. */
  registerPeriodicChord(
    spec: string,
    name: string,
    sendConcurrency: number,
    callback: Signature,
    ...signatures: Signature[]
  ): PeriodicEntry {
    return this.register({ kind: "chord", spec, name, sendConcurrency, callback, signatures });
  }

  /**
   * Registers any kind of periodic send (the four `registerPeriodic…` methods call this). The
   * signatures are copied now, so later changes to them do not affect the schedule.
   *
   * @throws {CronSpecError} when the spec is malformed.
   * @throws {RangeError} when the name is empty or a group, chain or chord has no tasks.
   * @throws {ClosedError} after {@linkcode Scheduler.close}.
   */
  register(definition: PeriodicDefinition): PeriodicEntry {
    if (this.#closing) throw new ClosedError();
    if (typeof definition.name !== "string" || definition.name === "") {
      throw new RangeError("A periodic registration needs a name");
    }
    const schedule = parseSchedule(definition.spec);
    const snapshot = snapshotDefinition(definition);
    this.remove(definition.name);
    const entry: Entry = {
      definition: snapshot,
      schedule,
      lockKey: lockName(definition.name, definition.spec, this.#binaryName),
      next: null,
    };
    this.#entries.set(definition.name, entry);
    this.#arm(entry, schedule.next(new Date(this.#now())));
    return view(entry);
  }

  /** The registrations, in the order they were made. */
  list(): PeriodicEntry[] {
    return [...this.#entries.values()].map(view);
  }

  /** The registration named `name`, if any. */
  get(name: string): PeriodicEntry | undefined {
    const entry = this.#entries.get(name);
    return entry && view(entry);
  }

  /**
   * Stops the registration named `name`; a tick already being sent finishes. Returns false
   * when there is none.
   */
  remove(name: string): boolean {
    const entry = this.#entries.get(name);
    if (!entry) return false;
    clearTimeout(entry.timer);
    this.#entries.delete(name);
    return true;
  }

  /**
   * Stops every registration, gives up the claims still waiting for the lock, waits for the
   * ticks being sent, and closes the lock. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      for (const name of [...this.#entries.keys()]) this.remove(name);
      await Promise.allSettled([...this.#inFlight]);
      await this.#lock.close();
    })();
    return this.#closing;
  }

  /** Closes the scheduler at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Waits for the tick `tick` (or nothing when null). */
  #arm(entry: Entry, tick: Date | null): void {
    entry.next = tick;
    if (tick === null) return;
    const delay = Math.min(Math.max(0, tick.getTime() - this.#now()), MAX_TIMER_MS);
    entry.timer = setTimeout(() => this.#wake(entry, tick), delay);
  }

  #wake(entry: Entry, tick: Date): void {
    if (this.#entries.get(entry.definition.name) !== entry) return;
    const now = this.#now();
    if (now < tick.getTime()) {
      // Woken early (a long wait is cut into pieces; clocks may step back): wait again.
      this.#arm(entry, tick);
      return;
    }
    const following = entry.schedule.next(tick);
    if (following !== null && now >= following.getTime()) {
      // The process slept past the next tick: skip what was missed; never replay it.
      this.#event(entry, tick, "missed");
      this.#arm(entry, entry.schedule.next(new Date(now)));
      return;
    }
    this.#arm(entry, following);
    // A schedule with no later tick still claims a value after this tick's.
    const next = following ?? new Date(tick.getTime() + 1000);
    const firing = this.#fire(entry, tick, next);
    this.#inFlight.add(firing);
    firing.finally(() => this.#inFlight.delete(firing));
  }

  /**
   * Claims `tick` (whose successor is `next`) and sends it. A tick is only ever started before
   * `next`: a lock that answers later (Redis unreachable for a while) does not make it late.
   */
  async #fire(entry: Entry, tick: Date, next: Date): Promise<void> {
    const { name } = entry.definition;
    let claimed: boolean | "late" | "stopped";
    try {
      claimed = await this.#claim(entry.lockKey, lockValue(next), next.getTime());
    } catch (error) {
      this.#logger.error(
        `periodic task failed. task name is: ${logSafe(name)}. error is ${
          logSafe(errorText(error))
        }`,
      );
      this.#event(entry, tick, "failed", error);
      return;
    }
    if (claimed === "stopped") return;
    if (claimed === "late") {
      const error = new Error("the lock did not answer before the next tick");
      this.#logger.error(
        `periodic task failed. task name is: ${logSafe(name)}. error is ${logSafe(error.message)}`,
      );
      this.#event(entry, tick, "failed", error);
      return;
    }
    if (!claimed) {
      this.#event(entry, tick, "taken");
      return;
    }
    if (this.#now() >= next.getTime()) {
      // Claimed, but only once the next tick was due: skip it rather than send it late.
      this.#event(entry, tick, "missed");
      return;
    }
    try {
      await this.#send(entry.definition);
    } catch (error) {
      this.#logger.error(
        `periodic task failed. task name is: ${logSafe(name)}. error is ${
          logSafe(errorText(error))
        }`,
      );
      this.#event(entry, tick, "failed", error);
      return;
    }
    this.#event(entry, tick, "sent");
  }

  /** The lock's answer, or "late" at `deadline`, or "stopped" when the scheduler closes. */
  #claim(key: string, value: bigint, deadline: number): Promise<boolean | "late" | "stopped"> {
    const signal = this.#stop.signal;
    if (signal.aborted) return Promise.resolve("stopped");
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onStop);
        settle();
      };
      const onStop = () => finish(() => resolve("stopped"));
      const timer = setTimeout(
        () => finish(() => resolve("late")),
        Math.min(Math.max(0, deadline - this.#now()), MAX_TIMER_MS),
      );
      signal.addEventListener("abort", onStop, { once: true });
      this.#lock.acquire(key, value).then(
        (claimed) => finish(() => resolve(claimed)),
        (error) => finish(() => reject(error)),
      );
    });
  }

  async #send(definition: PeriodicDefinition): Promise<void> {
    const server = this.#server;
    switch (definition.kind) {
      case "task":
        await server.sendTask(freshCopy(definition.signature));
        return;
      case "chain":
        await server.sendChain(newChain(...definition.signatures.map(freshMember)));
        return;
      case "group":
        await server.sendGroup(
          newGroup(...definition.signatures.map(freshMember)),
          definition.sendConcurrency ?? 0,
        );
        return;
      case "chord": {
        const callback = freshCopy(definition.callback);
        callback.uuid = "";
        const chord = newChord(newGroup(...definition.signatures.map(freshMember)), callback);
        await server.sendChord(chord, definition.sendConcurrency ?? 0);
        return;
      }
    }
  }

  #event(entry: Entry, tick: Date, outcome: TickEvent["outcome"], error?: unknown): void {
    if (!this.#onTick) return;
    const { name, spec } = entry.definition;
    try {
      this.#onTick({ name, spec, tick, outcome, ...(error === undefined ? {} : { error }) });
    } catch (err) {
      this.#logger.error(`The periodic onTick hook failed: ${logSafe(errorText(err))}`);
    }
  }
}

function view(entry: Entry): PeriodicEntry {
  const { name, spec, kind } = entry.definition;
  return { name, spec, kind, lockKey: entry.lockKey, next: entry.next };
}

/** Copies the definition's signatures (and validates their count). */
function snapshotDefinition(definition: PeriodicDefinition): PeriodicDefinition {
  switch (definition.kind) {
    case "task":
      return { ...definition, signature: copySignature(definition.signature) };
    case "group":
    case "chain":
    case "chord": {
      if (definition.signatures.length === 0) {
        throw new RangeError(`A periodic ${definition.kind} needs at least one task`);
      }
      const signatures = definition.signatures.map(copySignature);
      if (definition.kind === "chord") {
        return { ...definition, signatures, callback: copySignature(definition.callback) };
      }
      return { ...definition, signatures };
    }
    default:
      throw new RangeError(
        `Unknown periodic kind "${
          (definition as { kind: unknown }).kind
        }": expected task, group, chain or chord`,
      );
  }
}

/**
 * A deep copy with new UUIDs throughout (the signature and its callbacks), so no two ticks share
 * a task state. As Go's `CopySignature` does in effect, the copy has no ETA: it runs now.
 */
function freshCopy(signature: Signature): Signature {
  const copy = copySignature(signature);
  renew(copy);
  return copy;
}

/** A fresh copy whose UUID the group or chain builder fills. */
function freshMember(signature: Signature): Signature {
  const copy = freshCopy(signature);
  copy.uuid = "";
  return copy;
}

function renew(sig: Signature): void {
  sig.uuid = sig.uuid.startsWith("chord_") ? newChordUUID() : newTaskUUID();
  sig.eta = null;
  for (const s of sig.onSuccess ?? []) renew(s);
  for (const s of sig.onError ?? []) renew(s);
  if (sig.chordCallback) renew(sig.chordCallback);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
