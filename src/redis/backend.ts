/**
 * The Redis result backend: machinery's keys and bytes (see `docs/wire.md#redis-backend-keys`).
 *
 * | Key | Value |
 * |-----|-------|
 * | `<task UUID>` | TaskState JSON, `SET … EX ResultsExpireIn`; later states keep TaskName and CreatedAt |
 * | `<group UUID>` | GroupMeta JSON, `SET … EX ResultsExpireIn` |
 * | `TriggerChordMutex` | the redsync lock Go workers take before setting `ChordTriggered` |
 * | `machinery:ts:group_members:<group>` | list: the group's member UUIDs (copied once from the meta) |
 * | `machinery:ts:group_done:<group>` | how many members, in group order, were seen completed |
 * | `machinery:ts:chord_trigger:<group>` | a token of the call that set `ChordTriggered` (5 minutes) |
 *
 * The trigger token answers a trigger script that ioredis sent again because its reply was lost
 * (on reconnect): that call set the flag, so it is told it won, and the chord callback is sent.
 *
 * On a Redis Cluster the last three carry the group's hash tag
 * (`machinery:ts:{<group>}group_members:<group>`), so they share the group meta's slot; the
 * member states live in slots of their own, so there each state write is a script call of its
 * own, and `groupCompleted` reads the states with one GET each (see `#groupCompletedOnCluster`).
 * `ChordTriggered` is still flipped by one atomic script on the group meta, so a chord fires once.
 *
 * The members list and cursor are ours (option `keyPrefix`) and only make `groupCompleted` cheap:
 * Go workers never write them, and they are not needed for correctness, because the check always
 * reads the real member states (see `GROUP_COMPLETED` in `_backend_scripts.ts`). For a 10,000-task
 * group, each finished member costs one round trip that reads about one state, instead of 10,000
 * reads.
 *
 * @module
 */
import type { RateLimiter } from "../rate_limit.ts";
import type { UniqueLocks } from "../unique.ts";
import { RATE_LIMIT_SCRIPTS, redisRateLimiter } from "./rate_limit.ts";
import { redisUniqueLocks, UNIQUE_SCRIPTS } from "./unique_locks.ts";
import type { Redis } from "ioredis";
import type { AdapterOptions } from "../adapter_options.ts";
import type { Backend } from "../backend.ts";
import { consoleLogger, throttledWarning } from "../log.ts";
import { StateWriter } from "../state_writer.ts";
import {
  type Config,
  type ConfigInput,
  delayedTasksKey,
  resolveConfig,
  resultsExpireSeconds,
} from "../config.ts";
import {
  ClosedError,
  GroupNotFoundError,
  KeyConflictError,
  StateNotFoundError,
} from "../errors.ts";
import { quoteGo } from "../wire/json.ts";
import type { Signature } from "../wire/signature.ts";
import {
  decodeGroupMeta,
  decodeTaskState,
  encodeGroupMeta,
  encodeResults,
  failureState,
  newGroupMeta,
  PENDING,
  startedState,
  type TaskState,
} from "../wire/state.ts";
import { formatGoTime, parseGoTime, ZERO_TIME } from "../wire/go_time.ts";
import { redactPassword } from "../urls.ts";
import { closeRedis, openRedis, usesCluster } from "./_connection.ts";
import { slotTag } from "./_slot.ts";
import { defineScripts, runScript, type ScriptDef } from "./_broker_scripts.ts";
import { CHORD_MUTEX_KEY, withChordMutex } from "./_chord_mutex.ts";
import { DEFAULT_KEY_PREFIX } from "./_keys.ts";
import {
  BACKEND_SCRIPTS,
  GROUP_COMPLETED,
  GROUP_MEMBERS_FROM_CURSOR,
  MERGE_STATE_UNLESS_COMPLETED,
  MERGE_STATES,
  SET_STATES,
  TRIGGER_CHORD,
} from "./_backend_scripts.ts";
import { Batcher, type ItemFailures } from "./_batcher.ts";

export { ChordLockError } from "./_chord_mutex.ts";

/**
 * How long the chord trigger's token is kept: longer than ioredis keeps resending a command
 * whose reply was lost (20 reconnects at most 2 s apart).
 */
const TRIGGER_TOKEN_SECONDS = 300;

/** Options for the Redis backend: `config` gives `resultsExpireIn`, the `redis` section, TLS. */
export interface RedisBackendOptions extends AdapterOptions {
  /** The prefix of the backend's own keys (`machinery:ts:`). */
  keyPrefix?: string;
  /** Connection errors after the first connect (default: a `logger` warning, one per 5 s). */
  onError?: (error: Error) => void;
}

/** Stores task states and group metadata in Redis, as Go machinery does. */
export class RedisBackend extends StateWriter implements Backend {
  /** The backend URL. */
  readonly url: string;
  /** The resolved configuration. */
  readonly config: Config;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #cluster: boolean;
  readonly #onError: (error: Error) => void;
  #client?: Promise<Redis>;
  #closed?: Promise<void>;
  #rateLimiter?: RateLimiter;
  #uniqueLocks?: UniqueLocks;
  readonly #closing = new AbortController();
  /** Keys no task or group UUID may name: the broker's and this backend's own. */
  readonly #reserved: ReadonlySet<string>;
  readonly #sets = new Batcher<[string, string]>(
    (items) => this.#writeStates(SET_STATES, items),
    200,
    true,
  );
  readonly #merges = new Batcher<[string, string]>(
    (items) => this.#writeStates(MERGE_STATES, items),
    200,
    true,
  );

  /**
   * Runs MERGE_STATES or SET_STATES over `[key, stateArg]` pairs, one script call; resolves
   * with the writes refused one by one (a key of another type), which fail only their callers.
   */
  async #writeStates(script: ScriptDef, items: [string, string][]): Promise<ItemFailures> {
    const client = await this.#redis();
    const keys: string[] = new Array(items.length);
    const args: (string | number)[] = new Array(1 + items.length);
    args[0] = this.#ttl;
    for (let i = 0; i < items.length; i++) {
      keys[i] = items[i][0];
      args[i + 1] = items[i][1];
    }
    const failed = this.#cluster
      // One call per key on a cluster (the keys are in different slots); a key's calls are
      // sent in order on its node's connection, so its writes still happen in order.
      ? (await Promise.all(keys.map(async (key, i) => {
        const reply = await runScript<(number | string)[]>(client, script, [key], [
          this.#ttl,
          args[i + 1],
        ]);
        return reply.length === 0 ? [] : [i + 1, reply[1]];
      }))).flat()
      : await runScript<(number | string)[]>(client, script, keys, args);
    const failures = new Map<number, Error>();
    for (let i = 0; i < failed.length; i += 2) {
      const index = Number(failed[i]) - 1;
      failures.set(
        index,
        new KeyConflictError(
          `Cannot write the state of task "${keys[index]}": ${failed[i + 1]}`,
          false,
        ),
      );
    }
    return failures;
  }

  /** Refuses a UUID that names one of the reserved keys (before anything is written). */
  #checkKey(uuid: string, what: string): KeyConflictError | undefined {
    if (
      !this.#reserved.has(uuid) && !uuid.startsWith(this.#prefix) &&
      !uuid.startsWith(DEFAULT_KEY_PREFIX)
    ) return undefined;
    return new KeyConflictError(
      `The ${what} UUID "${uuid}" names a key the broker or backend keeps; refused`,
      true,
    );
  }

  /** Makes a backend for `url` (`redis://`, `rediss://`, `redis+socket://`); connects lazily. */
  constructor(url = "redis://127.0.0.1:6379", options: RedisBackendOptions = {}) {
    super();
    this.url = url;
    this.config = resolveConfig(options.config);
    this.#prefix = options.keyPrefix ?? "machinery:ts:";
    this.#ttl = resultsExpireSeconds(this.config);
    this.#cluster = usesCluster(url, this.config);
    this.#reserved = new Set([
      CHORD_MUTEX_KEY,
      delayedTasksKey(this.config),
      this.config.defaultQueue,
    ]);
    this.#onError = options.onError ??
      throttledWarning(options.logger ?? consoleLogger(), `Redis backend ${redactPassword(url)}`);
  }

  /** Rate limits shared by every worker whose backend is this Redis (with an AMQP broker). */
  get rateLimiter(): RateLimiter {
    return this.#rateLimiter ??= redisRateLimiter(() => this.#redis(), this.#prefix);
  }

  /** Unique-task locks shared by every sender and worker whose backend is this Redis. */
  get uniqueLocks(): UniqueLocks {
    return this.#uniqueLocks ??= redisUniqueLocks(() => this.#redis(), this.#prefix);
  }

  /** Builds one from a config (its `resultBackend` URL, `resultsExpireIn`, `redis` section). */
  static fromConfig(config: ConfigInput, options: RedisBackendOptions = {}): RedisBackend {
    return new RedisBackend(config.resultBackend, { ...options, config });
  }

  /** Connects now, so that an unreachable Redis is reported at start. */
  async connect(): Promise<void> {
    await this.#redis();
  }

  #redis(): Promise<Redis> {
    if (this.#closed) return Promise.reject(new ClosedError("The Redis backend is closed"));
    this.#client ??= openRedis(this.url, this.config, "backend", { onError: this.#onError })
      .then((client) => {
        defineScripts(client, [...BACKEND_SCRIPTS, ...RATE_LIMIT_SCRIPTS, ...UNIQUE_SCRIPTS]);
        return client;
      }, (error) => {
        this.#client = undefined;
        throw error;
      });
    return this.#client;
  }

  async initGroup(groupUUID: string, taskUUIDs: string[]): Promise<void> {
    const conflict = this.#checkKey(groupUUID, "group");
    if (conflict) throw conflict;
    const client = await this.#redis();
    await client.set(
      groupUUID,
      encodeGroupMeta(newGroupMeta(groupUUID, taskUUIDs)),
      "EX",
      this.#ttl,
    );
  }

  /** Who set the group's ChordTriggered, for a resent trigger: in the meta's slot on a cluster. */
  #triggerTokenKey(groupUUID: string): string {
    const prefix = this.#cluster ? `${this.#prefix}{${slotTag(groupUUID)}}` : this.#prefix;
    return `${prefix}chord_trigger:${groupUUID}`;
  }

  /** The group's members list and cursor: in the group meta's slot on a cluster. */
  #groupKeys(groupUUID: string): [members: string, done: string] {
    const prefix = this.#cluster ? `${this.#prefix}{${slotTag(groupUUID)}}` : this.#prefix;
    return [`${prefix}group_members:${groupUUID}`, `${prefix}group_done:${groupUUID}`];
  }

  async groupCompleted(groupUUID: string, groupTaskCount: number): Promise<boolean> {
    const client = await this.#redis();
    const keys = [groupUUID, ...this.#groupKeys(groupUUID)];
    const reply = this.#cluster
      ? await this.#groupCompletedOnCluster(client, keys)
      : await runScript<number | [number, number]>(client, GROUP_COMPLETED, keys, [this.#ttl]);
    if (reply === -1) throw new GroupNotFoundError(groupUUID);
    if (!Array.isArray(reply)) {
      throw new GroupNotFoundError(groupUUID, `Group meta of ${groupUUID} could not be decoded`);
    }
    const [completed, members] = reply;
    return completed === members && members === groupTaskCount;
  }

  /**
   * GROUP_COMPLETED in single-slot steps: the members from the cursor come from the group's slot,
   * their states are read one GET each, and the cursor moves past the completed ones. A completed
   * state never goes back, so reading them apart from the cursor update is as sound as the script.
   */
  async #groupCompletedOnCluster(
    client: Redis,
    keys: string[],
  ): Promise<number | [number, number]> {
    const reply = await runScript<number | [number, number, string[]]>(
      client,
      GROUP_MEMBERS_FROM_CURSOR,
      keys,
      [this.#ttl, 64],
    );
    if (!Array.isArray(reply)) return reply;
    const [start, n] = reply;
    let ids = reply[2];
    let c = start;
    // The first member read is usually the one still running: read one, then more and more.
    let batch = 1;
    while (c < n) {
      if (ids.length === 0) ids = await client.lrange(keys[1], c, c + 255);
      if (ids.length === 0) break;
      const slice = ids.slice(0, batch);
      ids = ids.slice(batch);
      const states = await Promise.all(slice.map((id) => client.get(id)));
      const open = states.findIndex((v) =>
        v === null ||
        !(v.includes('"State":"SUCCESS"') || v.includes('"State":"FAILURE"'))
      );
      c += open === -1 ? slice.length : open;
      if (open !== -1) break;
      batch = Math.min(batch * 2, 256);
    }
    if (c !== start) await client.set(keys[2], c, "EX", this.#ttl);
    return [c, n];
  }

  async groupTaskStates(groupUUID: string, _groupTaskCount: number): Promise<TaskState[]> {
    const client = await this.#redis();
    const meta = await client.get(groupUUID);
    if (meta === null) throw new GroupNotFoundError(groupUUID);
    const ids = decodeGroupMeta(meta).taskUUIDs ?? [];
    const states: TaskState[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      // MGET needs one slot on a cluster: a GET each there.
      const values = this.#cluster
        ? await Promise.all(chunk.map((id) => client.get(id)))
        : await client.mget(...chunk);
      values.forEach((json, j) => {
        if (json === null) throw new StateNotFoundError(`Task not found: ${chunk[j]}`);
        states.push(decodeTaskState(json));
      });
    }
    return states;
  }

  async triggerChord(groupUUID: string): Promise<boolean> {
    const client = await this.#redis();
    const token = crypto.randomUUID();
    const reply = await withChordMutex(client, async () => {
      const r = await runScript<number>(
        client,
        TRIGGER_CHORD,
        [groupUUID, this.#triggerTokenKey(groupUUID)],
        [this.#ttl, token, TRIGGER_TOKEN_SECONDS],
      );
      if (r !== -2) return r;
      // Not Go's bytes: decode and re-encode (still under the lock).
      const json = await client.get(groupUUID);
      if (json === null) return -1;
      const meta = decodeGroupMeta(json);
      if (meta.chordTriggered) return 0;
      meta.chordTriggered = true;
      await client.set(groupUUID, encodeGroupMeta(meta), "EX", this.#ttl);
      return 1;
    }, {
      signal: this.#closing.signal,
      onImpostor: () =>
        this.#onError(new Error(`Removed a "${CHORD_MUTEX_KEY}" key that was not a lock`)),
    });
    if (reply === -1) throw new GroupNotFoundError(groupUUID);
    return reply === 1;
  }

  override setStatePending(signature: Signature): Promise<void> {
    const uuid = signature.uuid;
    const conflict = this.#checkKey(uuid, "task");
    if (conflict) return Promise.reject(conflict);
    const uuidToken = quoteGo(uuid);
    return this.#sets.add([
      uuid,
      // Valid Go time text, made just now: no need to check it as stateArg does.
      `${PENDING}","Results":null,"Error":""\0${uuidToken === `"${uuid}"` ? "" : uuidToken}\0${
        quoteGo(signature.name)
      }\0"${formatGoTime(new Date())}"`,
    ]);
  }

  /**
   * RECEIVED then STARTED, as one atomic write: no reader can see the RECEIVED state in
   * between, so only STARTED is written (one merge instead of two).
   */
  setStateReceivedAndStarted(signature: Signature): Promise<void> {
    return this.writeState(signature, startedState(signature));
  }

  /**
   * Writes a state with Go's merge (TaskName and CreatedAt of the stored state) in a script;
   * the writes of one event-loop turn share one script call.
   */
  protected writeState(_signature: Signature, state: TaskState): Promise<void> {
    const conflict = this.#checkKey(state.taskUUID ?? "", "task");
    if (conflict) return Promise.reject(conflict);
    let arg: string;
    try {
      arg = stateArg(state);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#merges.add([state.taskUUID ?? "", arg]);
  }

  /**
   * FAILURE with Go's merge, unless the stored state is SUCCESS or FAILURE: checked and written
   * by one script on the task's key (so on a Redis Cluster too), not batched.
   */
  async setStateFailureUnlessCompleted(signature: Signature, error: string): Promise<boolean> {
    const state = failureState(signature, error);
    const key = state.taskUUID ?? "";
    const conflict = this.#checkKey(key, "task");
    if (conflict) throw conflict;
    const arg = stateArg(state);
    const client = await this.#redis();
    const reply = await runScript<number | string>(
      client,
      MERGE_STATE_UNLESS_COMPLETED,
      [key],
      [this.#ttl, arg],
    );
    if (typeof reply === "string") {
      throw new KeyConflictError(`Cannot write the state of task "${key}": ${reply}`, false);
    }
    return reply === 1;
  }

  async getState(taskUUID: string): Promise<TaskState> {
    const client = await this.#redis();
    const json = await client.get(taskUUID);
    if (json === null) throw new StateNotFoundError(`Task not found: ${taskUUID}`);
    return decodeTaskState(json);
  }

  async purgeState(taskUUID: string): Promise<void> {
    const client = await this.#redis();
    await client.del(taskUUID);
  }

  async purgeGroupMeta(groupUUID: string): Promise<void> {
    const client = await this.#redis();
    const keys = [groupUUID, ...this.#groupKeys(groupUUID), this.#triggerTokenKey(groupUUID)];
    // The meta and our keys may be in two slots on a cluster (a UUID holding braces).
    if (this.#cluster) await Promise.all(keys.map((key) => client.del(key)));
    else await client.del(...keys);
  }

  /** Closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      const client = await this.#client?.catch(() => undefined);
      await closeRedis(client);
    })();
    return this.#closed;
  }

  /** Closes the backend at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The argument `MERGE_STATES` and `SET_STATES` build Go's bytes for `state` from:
 * `<State>","Results":<JSON>,"Error":<token>`, then, only when one of them is not the default,
 * a NUL and the TaskUUID, TaskName and CreatedAt tokens separated by NULs (`""` for a default:
 * the key quoted, `""`, the zero time). With the key it gives exactly `encodeTaskState(state)`
 * (the merge replaces TaskName and CreatedAt with the stored state's, when there is one), and
 * it throws where that throws.
 */
export function stateArg(state: TaskState): string {
  const uuid = state.taskUUID ?? "";
  const uuidToken = quoteGo(uuid);
  const name = state.taskName ? quoteGo(state.taskName) : "";
  let created = "";
  if (state.createdAt && state.createdAt !== ZERO_TIME) {
    parseGoTime(state.createdAt); // throws as encodeTaskState does
    created = quoteGo(state.createdAt);
  }
  if ((state.ttl ?? 0) !== 0) throw new RangeError(`A merged state has TTL 0, not ${state.ttl}`);
  const stateName = state.state ?? "";
  if (quoteGo(stateName) !== `"${stateName}"`) {
    throw new RangeError(`Unexpected state name: ${stateName}`);
  }
  const mid = `${stateName}","Results":${encodeResults(state.results ?? null)},"Error":${
    quoteGo(state.error ?? "")
  }`;
  const uuidPart = uuidToken === `"${uuid}"` ? "" : uuidToken;
  if (uuidPart === "" && name === "" && created === "") return mid;
  return `${mid}\0${uuidPart}\0${name}\0${created}`;
}
