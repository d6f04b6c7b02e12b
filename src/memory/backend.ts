/**
 * The in-process result backend. States are kept as the same JSON the networked backends store,
 * merged like the Redis backend (TaskName and CreatedAt survive later states), and expire after
 * ResultsExpireIn. A chord is triggered exactly once.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { StateWriter } from "../state_writer.ts";
import type { AdapterOptions } from "../adapter_options.ts";
import { type ConfigInput, resolveConfig, resultsExpireSeconds } from "../config.ts";
import type { Signature } from "../wire/signature.ts";
import { GroupNotFoundError, StateNotFoundError } from "../errors.ts";
import {
  decodeGroupMeta,
  decodeTaskState,
  encodeGroupMeta,
  encodeTaskState,
  isCompleted,
  newGroupMeta,
  PENDING,
  type TaskState,
} from "../wire/state.ts";

interface Entry {
  json: string;
  expiresAt: number;
}

/** Options for the memory backend: `config.resultsExpireIn` is how long entries are kept. */
export type MemoryBackendOptions = AdapterOptions;

/** States and groups in this process. */
export class MemoryBackend extends StateWriter implements Backend {
  /** The URL it was made with (`memory://` or `eager`). */
  readonly url: string;
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;

  /** Makes an empty backend (`url` is `memory://` or `eager`; it names no server). */
  constructor(url = "memory://", options: MemoryBackendOptions = {}) {
    super();
    this.url = url;
    this.#ttlMs = resultsExpireSeconds(resolveConfig(options.config)) * 1000;
  }

  /** Builds one from a config (its `resultBackend` URL is `memory://`). */
  static fromConfig(config: ConfigInput, options: MemoryBackendOptions = {}): MemoryBackend {
    return new MemoryBackend(config.resultBackend, { ...options, config });
  }

  /** Resolves at once: there is nothing to connect to. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  #get(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.json;
  }

  #set(key: string, json: string): void {
    this.#entries.set(key, { json, expiresAt: Date.now() + this.#ttlMs });
  }

  /** Writes a state; a later one keeps the TaskName and CreatedAt of the state before it. */
  protected writeState(_signature: Signature, state: TaskState): Promise<void> {
    const previous = state.state === PENDING ? undefined : this.#get(state.taskUUID);
    if (previous !== undefined) {
      const old = decodeTaskState(previous);
      state.taskName = old.taskName;
      state.createdAt = old.createdAt;
    }
    this.#set(state.taskUUID, encodeTaskState(state));
    return Promise.resolve();
  }

  /** FAILURE unless SUCCESS or FAILURE is stored: the check and the write are one synchronous step. */
  setStateFailureUnlessCompleted(signature: Signature, error: string): Promise<boolean> {
    try {
      const stored = this.#get(signature.uuid);
      if (stored !== undefined && isCompleted(decodeTaskState(stored))) {
        return Promise.resolve(false);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // writeState runs to its end before returning: nothing can write in between.
    return this.setStateFailure(signature, error).then(() => true);
  }

  initGroup(groupUUID: string, taskUUIDs: string[]): Promise<void> {
    this.#set(groupUUID, encodeGroupMeta(newGroupMeta(groupUUID, taskUUIDs)));
    return Promise.resolve();
  }

  groupCompleted(groupUUID: string, groupTaskCount: number): Promise<boolean> {
    try {
      const members = this.#members(groupUUID);
      const completed = members.filter(({ state }) => state && isCompleted(state)).length;
      return Promise.resolve(completed === groupTaskCount);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The members' states in group order; rejects while a member has none, as Go's backends do. */
  groupTaskStates(groupUUID: string, _groupTaskCount: number): Promise<TaskState[]> {
    try {
      return Promise.resolve(
        this.#members(groupUUID).map(({ uuid, state }) => {
          if (!state) throw new StateNotFoundError(`Task not found: ${uuid}`);
          return state;
        }),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Each member of a group, in group order, with its state where it has one. */
  #members(groupUUID: string): { uuid: string; state?: TaskState }[] {
    const meta = this.#get(groupUUID);
    if (meta === undefined) throw new GroupNotFoundError(groupUUID);
    return (decodeGroupMeta(meta).taskUUIDs ?? []).map((uuid) => {
      const json = this.#get(uuid);
      return { uuid, state: json === undefined ? undefined : decodeTaskState(json) };
    });
  }

  triggerChord(groupUUID: string): Promise<boolean> {
    // Check and set run in one synchronous step, so only one caller can see `false`.
    const json = this.#get(groupUUID);
    if (json === undefined) {
      return Promise.reject(new GroupNotFoundError(groupUUID));
    }
    const meta = decodeGroupMeta(json);
    if (meta.chordTriggered) return Promise.resolve(false);
    meta.chordTriggered = true;
    this.#set(groupUUID, encodeGroupMeta(meta));
    return Promise.resolve(true);
  }

  getState(taskUUID: string): Promise<TaskState> {
    const json = this.#get(taskUUID);
    if (json === undefined) {
      return Promise.reject(new StateNotFoundError(`Task not found: ${taskUUID}`));
    }
    return Promise.resolve(decodeTaskState(json));
  }

  purgeState(taskUUID: string): Promise<void> {
    this.#entries.delete(taskUUID);
    return Promise.resolve();
  }

  purgeGroupMeta(groupUUID: string): Promise<void> {
    this.#entries.delete(groupUUID);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
