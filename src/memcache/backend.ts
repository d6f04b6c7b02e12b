/**
 * The Memcache result backend (`memcache://h1:p1,h2:p2`), storing what Go machinery stores
 * (`docs/wire.md#memcache`):
 *
 * | Key | Value | Expiry |
 * |-----|-------|--------|
 * | `<task UUID>` | TaskState JSON, Go's bytes | ResultsExpireIn (0 → 3600) from each write |
 * | `<group UUID>` | GroupMeta JSON, Go's bytes | ResultsExpireIn from InitGroup and from TriggerChord |
 *
 * As in Go, states are not merged: RECEIVED, STARTED, RETRY, SUCCESS and FAILURE records have an
 * empty `TaskName` and a zero `CreatedAt`. Keys are spread over the servers with Go's rule
 * (`_hashing.ts`), expirations follow memcached's 30-day rule (`_expiration.ts`), and a chord
 * fires exactly once through compare-and-swap (`_chord.ts`), not through machinery's `Lock` flag.
 *
 * Where this differs from Go: a member whose state is missing makes `groupCompleted` answer
 * false (Go fails with a cache miss); `groupTaskStates` still fails on it, since a chord cannot
 * be built without it.
 *
 * @module
 */
import type { AdapterOptions } from "../adapter_options.ts";
import type { Backend } from "../backend.ts";
import { StateWriter } from "../state_writer.ts";
import {
  commandTimeoutMs,
  type Config,
  type ConfigInput,
  connectTimeoutMs,
  resolveConfig,
  resultsExpireSeconds,
} from "../config.ts";
import { BackendError, GroupNotFoundError, StateNotFoundError } from "../errors.ts";
import type { Signature } from "../wire/signature.ts";
import {
  decodeGroupMeta,
  decodeTaskState,
  encodeGroupMeta,
  encodeTaskState,
  failureState,
  isCompleted,
  newGroupMeta,
  type TaskState,
} from "../wire/state.ts";
import { parseMemcacheURL } from "./url.ts";
import { MemcacheClient } from "./_client.ts";
import { triggerChordCas } from "./_chord.ts";
import { memcacheExpiration } from "./_expiration.ts";

export { crc32, pickServer } from "./_hashing.ts";
export { MAX_RELATIVE_EXPIRATION, memcacheExpiration } from "./_expiration.ts";

/** Options for the Memcache backend: the config gives `resultsExpireIn`. */
export interface MemcacheBackendOptions extends AdapterOptions {
  /**
   * How long a request may wait for its response, in milliseconds (default 2000, or the
   * config's `commandTimeout` when shorter). Connecting may take the config's `connectTimeout`.
   */
  timeoutMs?: number;
}

/** Tries of a compare-and-swap before giving up while other writers keep changing the item. */
const MAX_CAS_TRIES = 100;

/** How many member states are read at once. */
const BATCH = 100;

/** Stores task states and group metadata in memcached, as Go machinery does. */
export class MemcacheBackend extends StateWriter implements Backend {
  /** The backend URL. */
  readonly url: string;
  /** The servers, `host:port`, in URL order (the order the key routing indexes). */
  readonly servers: readonly string[];
  /** The resolved configuration. */
  readonly config: Config;
  readonly #ttl: number;
  readonly #client: MemcacheClient;

  /** Makes a backend for `memcache://h1:p1[,h2:p2…]`; sockets open on first use. */
  constructor(url = "memcache://127.0.0.1:11211", options: MemcacheBackendOptions = {}) {
    super();
    this.url = url;
    this.servers = parseMemcacheURL(url).servers;
    this.config = resolveConfig(options.config);
    this.#ttl = resultsExpireSeconds(this.config);
    memcacheExpiration(this.#ttl); // fail now on a bad ResultsExpireIn
    this.#client = new MemcacheClient(this.servers, {
      timeoutMs: options.timeoutMs ?? Math.min(2000, commandTimeoutMs(this.config)),
      connectTimeoutMs: connectTimeoutMs(this.config),
    });
  }

  /** Builds one from a config (its `resultBackend` URL and `resultsExpireIn`). */
  static fromConfig(config: ConfigInput, options: MemcacheBackendOptions = {}): MemcacheBackend {
    return new MemcacheBackend(config.resultBackend, { ...options, config });
  }

  /** Checks that every server answers, so that a wrong URL is reported at start. */
  connect(): Promise<void> {
    return this.#client.ping();
  }

  #expiration = (): number => memcacheExpiration(this.#ttl);

  async #write(key: string, json: string): Promise<void> {
    await this.#client.set(key, json, this.#expiration());
  }

  /** Writes a state under the task's UUID. */
  protected writeState(_signature: Signature, state: TaskState): Promise<void> {
    return this.#write(state.taskUUID, encodeTaskState(state));
  }

  /**
   * FAILURE unless SUCCESS or FAILURE is stored, by compare-and-swap: the store happens only if
   * the item is unchanged since it was read (with none stored, only while there is still none).
   * Another write in between means a read again.
   */
  async setStateFailureUnlessCompleted(signature: Signature, error: string): Promise<boolean> {
    const key = signature.uuid;
    const json = encodeTaskState(failureState(signature, error));
    for (let i = 0; i < MAX_CAS_TRIES; i++) {
      const item = await this.#client.get(key);
      if (item === null) {
        if (await this.#client.add(key, json, this.#expiration())) return true;
        continue;
      }
      if (isCompleted(decodeTaskState(item.value))) return false;
      if (await this.#client.set(key, json, this.#expiration(), item.cas) === "stored") return true;
    }
    throw new BackendError(
      `Could not write the state of ${key}: it changed ${MAX_CAS_TRIES} times`,
    );
  }

  async #groupIds(groupUUID: string): Promise<string[]> {
    const item = await this.#client.get(groupUUID);
    if (item === null) throw new GroupNotFoundError(groupUUID);
    return decodeGroupMeta(item.value).taskUUIDs ?? [];
  }

  initGroup(groupUUID: string, taskUUIDs: string[]): Promise<void> {
    return this.#write(groupUUID, encodeGroupMeta(newGroupMeta(groupUUID, taskUUIDs)));
  }

  /**
   * True when every member is SUCCESS or FAILURE and there are `groupTaskCount` of them. Reads
   * from the last member backwards and stops at the first unfinished one: members finish
   * roughly in order, so most calls read a few states rather than the whole group.
   */
  async groupCompleted(groupUUID: string, groupTaskCount: number): Promise<boolean> {
    const ids = await this.#groupIds(groupUUID);
    if (ids.length !== groupTaskCount) return false;
    for (let end = ids.length; end > 0; end -= BATCH) {
      const chunk = ids.slice(Math.max(0, end - BATCH), end);
      const items = await Promise.all(chunk.map((id) => this.#client.get(id)));
      for (const item of items) {
        if (item === null || !isCompleted(decodeTaskState(item.value))) return false;
      }
    }
    return true;
  }

  /** The members' states in group order; a missing one is a {@linkcode StateNotFoundError}. */
  async groupTaskStates(groupUUID: string, _groupTaskCount: number): Promise<TaskState[]> {
    const ids = await this.#groupIds(groupUUID);
    const states: TaskState[] = [];
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH);
      const items = await Promise.all(chunk.map((id) => this.#client.get(id)));
      items.forEach((item, j) => {
        if (item === null) throw new StateNotFoundError(`Task not found: ${chunk[j]}`);
        states.push(decodeTaskState(item.value));
      });
    }
    return states;
  }

  triggerChord(groupUUID: string): Promise<boolean> {
    return triggerChordCas(this.#client, groupUUID, this.#expiration);
  }

  async getState(taskUUID: string): Promise<TaskState> {
    const item = await this.#client.get(taskUUID);
    if (item === null) throw new StateNotFoundError(`Task not found: ${taskUUID}`);
    return decodeTaskState(item.value);
  }

  async purgeState(taskUUID: string): Promise<void> {
    await this.#client.delete(taskUUID);
  }

  async purgeGroupMeta(groupUUID: string): Promise<void> {
    await this.#client.delete(groupUUID);
  }

  /** Closes the connections once the requests in flight are done. Idempotent. */
  close(): Promise<void> {
    return this.#client.close();
  }

  /** Closes the backend at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
