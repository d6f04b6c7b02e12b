/**
 * A worker's heartbeat in the registry: every `intervalMs` it writes what the worker is doing
 * and the tasks it finished since the last beat, with a TTL of `ttlMs`, so other processes see
 * it (`machinery workers`, `machinery stats`) and stop seeing it within one TTL after it dies.
 * Tasks only bump in-memory counters ({@link TaskCounters}); the registry is written by the
 * timer alone, so a task costs no call to any server.
 *
 * @module
 */
import type { TaskStats, WorkerInfo, WorkerRegistry } from "./inspector.ts";

/** Per task name, the successes and failures since the last drain, and the totals. */
export class TaskCounters {
  #since = new Map<string, TaskStats>();
  /** Successes since the worker started. */
  processed = 0;
  /** Failures since the worker started. */
  failed = 0;

  /** Counts one finished task. */
  add(task: string, ok: boolean): void {
    let entry = this.#since.get(task);
    if (!entry) this.#since.set(task, entry = { task, processed: 0, failed: 0 });
    if (ok) {
      entry.processed++;
      this.processed++;
    } else {
      entry.failed++;
      this.failed++;
    }
  }

  /** The counts since the last drain; starts counting afresh. */
  drain(): TaskStats[] {
    const out = [...this.#since.values()];
    this.#since = new Map();
    return out;
  }

  /** Puts counts a failed write did not store back, so the next beat carries them. */
  restore(stats: TaskStats[]): void {
    for (const { task, processed, failed } of stats) {
      let entry = this.#since.get(task);
      if (!entry) this.#since.set(task, entry = { task, processed: 0, failed: 0 });
      entry.processed += processed;
      entry.failed += failed;
    }
  }
}

/** What the heartbeat needs. */
export interface HeartbeatOptions {
  /** Where to write. */
  registry: WorkerRegistry;
  /** The worker's entry as of now (id, name, host … with `lastHeartbeat` filled in here). */
  snapshot: () => Omit<WorkerInfo, "lastHeartbeat">;
  /** The worker's finished-task counters. */
  counters: TaskCounters;
  /** The entry's time to live, in ms; beats come three times per TTL. */
  ttlMs: number;
  /**
   * A failed write (the next beat tries again). While the registry stays down only the first
   * failure is reported, so a worker does not log on every beat of an outage.
   */
  onError: (error: Error) => void;
  /** A write succeeded after `failedBeats` failed ones. */
  onRecovered?: (failedBeats: number) => void;
}

/** Renews a worker's registry entry on a timer. */
export class WorkerHeartbeat {
  readonly #o: HeartbeatOptions;
  #timer?: ReturnType<typeof setInterval>;
  #beating?: Promise<void>;
  /** Beats failed in a row. */
  #failedBeats = 0;

  /** Makes a heartbeat; `start` sets it going. */
  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** Announces the worker now, then every third of the TTL. */
  start(): void {
    this.#beat();
    this.#timer = setInterval(() => this.#beat(), Math.max(100, Math.floor(this.#o.ttlMs / 3)));
  }

  #beat(): void {
    if (this.#beating) return; // a slow Redis: skip rather than pile up
    const info: WorkerInfo = { ...this.#o.snapshot(), lastHeartbeat: new Date().toISOString() };
    const finished = this.#o.counters.drain();
    this.#beating = this.#o.registry.beat(info, this.#o.ttlMs, finished).then(() => {
      if (this.#failedBeats > 0) this.#o.onRecovered?.(this.#failedBeats);
      this.#failedBeats = 0;
    }, (error) => {
      this.#o.counters.restore(finished);
      if (this.#failedBeats++ === 0) {
        this.#o.onError(error instanceof Error ? error : new Error(String(error)));
      }
    }).finally(() => {
      this.#beating = undefined;
    });
  }

  /** Stops the timer, writes the last counts and removes the entry (a graceful stop). */
  async stop(id: string): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    const finished = this.#o.counters.drain();
    try {
      if (finished.length > 0) {
        const info = { ...this.#o.snapshot(), lastHeartbeat: new Date().toISOString() };
        await this.#o.registry.beat(info, this.#o.ttlMs, finished);
      }
      await this.#o.registry.remove(id);
    } catch (error) {
      this.#o.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
