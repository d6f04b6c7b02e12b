/**
 * Where the task pages found their tasks' messages. Locating a message scans each queue (up to
 * its first 100,000 entries), and a waiting task's page polls every 2 s: its polls reuse the
 * location while the task's state is unchanged, for at most {@linkcode LOCATE_EVERY_MS}. A
 * state change (the task was taken, retried, finished) means the message moved, so it is located
 * again at once.
 *
 * @module
 */
import type { MessageLocation, QueuedTask } from "../inspector.ts";

/** How long a poll may show a location found earlier, in ms. */
export const LOCATE_EVERY_MS = 30_000;
/** The most tasks remembered; the oldest is forgotten first. */
const MAX_ENTRIES = 1000;

/** A task's message and where it is, as a task page shows them. */
export interface LocatedTask {
  location: MessageLocation | null;
  message: QueuedTask | null;
}

interface Entry extends LocatedTask {
  state: string | undefined;
  at: number;
}

/** The task pages' recent locations, by task UUID. */
export class LocationCache {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  /** `now` is for tests. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The location found for `uuid` while its state was `state`, if recent enough. */
  get(uuid: string, state: string | undefined): LocatedTask | undefined {
    const entry = this.#entries.get(uuid);
    if (!entry || entry.state !== state || this.#now() - entry.at > LOCATE_EVERY_MS) return;
    return entry;
  }

  /** Remembers where `uuid` was just found, while its state was `state`. */
  set(uuid: string, state: string | undefined, located: LocatedTask): void {
    this.#entries.delete(uuid);
    this.#entries.set(uuid, { ...located, state, at: this.#now() });
    if (this.#entries.size > MAX_ENTRIES) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}
