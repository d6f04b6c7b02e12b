/**
 * The MongoDB result backend (`mongodb://…`, `mongodb+srv://…`), in Go machinery's database,
 * collections and document shapes (`docs/wire.md#mongodb`; see `_documents.ts` and `_bson_values.ts`):
 *
 * - database `machinery` unless the `database` option says otherwise (as in Go, the database in
 *   the URI's path is not used; the URI still carries hosts, credentials and options);
 * - `tasks`: one document per task, upserted with `$set`; SUCCESS and FAILURE set `delete_at`
 *   = now + ResultsExpireIn, and a TTL index `{delete_at: 1}` (expireAfterSeconds 0) removes them;
 * - `group_metas`: one document per group, inserted by InitGroup.
 *
 * A chord fires exactly once: TriggerChord is one conditional update,
 * `updateOne({_id, chord_triggered: {$ne: true}}, {$set: {chord_triggered: true}})`, and only
 * the caller whose update modified the document (`modifiedCount === 1`) sends the callback. (Go's
 * version returns true whatever the update did, so two workers can both fire it.)
 *
 * Where this differs from Go, on purpose: `groupTaskStates` returns the states in group order
 * (Go: the collection's natural order) and fails on a missing member (Go skips it);
 * ResultsExpireIn 0 means 3600 as for the other backends (Go would delete results at once); a
 * string result that looks like JSON stays a string; group metas get a `delete_at` too.
 *
 * The client connects on first use (10 s connect and server selection timeouts) and creates the
 * TTL indexes then.
 *
 * @module
 */
import { type Collection, type Document, MongoClient } from "mongodb";
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
import { BackendError, ClosedError, GroupNotFoundError, StateNotFoundError } from "../errors.ts";
import { tlsOptions } from "../net/tls.ts";
import { redactPassword } from "../urls.ts";
import type { Signature } from "../wire/signature.ts";
import { FAILURE, failureState, newGroupMeta, SUCCESS, type TaskState } from "../wire/state.ts";
import {
  DEFAULT_DATABASE,
  deleteAt,
  GROUP_METAS_COLLECTION,
  type GroupMetaDocument,
  groupMetaFromDocument,
  groupMetaToDocument,
  type TaskDocument,
  TASKS_COLLECTION,
  taskStateFromDocument,
  taskStateUpdate,
} from "./_documents.ts";

/** Options for the MongoDB backend: the config gives `resultsExpireIn`. */
export interface MongoDBBackendOptions extends AdapterOptions {
  /** The database (default `machinery`, as Go's; the URI's database is not used). */
  database?: string;
  /**
   * Connect and server selection timeout in milliseconds (default: the config's
   * `connectTimeout`, 10 s, as Go's). Operations time out after `commandTimeout`, and a
   * `tls=true` URI trusts the config's `tlsCAFile` on top of the system's CAs.
   */
  connectTimeoutMs?: number;
  /**
   * A `MongoClient` of the `mongodb` package to use instead of dialling `url` (machinery's
   * `MongoDB.Client`). The backend connects it if needed but does not close it: its owner does.
   * Typed loosely so that the driver's types stay out of this signature.
   */
  client?: object;
}

interface Collections {
  tasks: Collection<TaskDocument>;
  groups: Collection<GroupMetaDocument>;
}

// Read numbers as the driver's Int32/Long/Double classes, so int64 results keep every digit.
const READ = { promoteValues: false, promoteBuffers: false } as const;

// Index errors that mean an equivalent index exists under other options or another name.
const INDEX_CONFLICTS = new Set([85, 86]);
/** The server's error code for a second document with the same `_id`. */
const DUPLICATE_KEY = 11000;

/** Stores task states and group metadata in MongoDB, as Go machinery does. */
export class MongoDBBackend extends StateWriter implements Backend {
  /** The backend URL (`mongodb://` added when it had no scheme, as Go does). */
  readonly url: string;
  /** The database in use. */
  readonly database: string;
  /** The resolved configuration. */
  readonly config: Config;
  readonly #ttl: number;
  readonly #timeoutMs: number;
  #client?: MongoClient;
  readonly #given?: MongoClient;
  #ready?: Promise<Collections>;
  #closed?: Promise<void>;

  /** Makes a backend for `url`; it connects on first use. */
  constructor(url = "mongodb://127.0.0.1:27017", options: MongoDBBackendOptions = {}) {
    super();
    this.url = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `mongodb://${url}`;
    this.database = options.database ?? DEFAULT_DATABASE;
    this.config = resolveConfig(options.config);
    this.#ttl = resultsExpireSeconds(this.config);
    this.#timeoutMs = options.connectTimeoutMs ?? connectTimeoutMs(this.config);
    this.#given = options.client as MongoClient | undefined;
  }

  /** Builds one from a config (its `resultBackend` URL and `resultsExpireIn`). */
  static fromConfig(config: ConfigInput, options: MongoDBBackendOptions = {}): MongoDBBackend {
    return new MongoDBBackend(config.resultBackend, { ...options, config });
  }

  /** Connects and creates the indexes now, so that an unreachable server is reported at start. */
  async connect(): Promise<void> {
    await this.#collections();
  }

  #collections(): Promise<Collections> {
    if (this.#closed) return Promise.reject(new ClosedError("The MongoDB backend is closed"));
    this.#ready ??= this.#open().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #open(): Promise<Collections> {
    const client = this.#given ?? new MongoClient(this.url, {
      connectTimeoutMS: this.#timeoutMs,
      serverSelectionTimeoutMS: this.#timeoutMs,
      socketTimeoutMS: commandTimeoutMs(this.config),
      ...(this.config.tlsCAFile ? { ca: tlsOptions("", this.config.tlsCAFile).ca } : {}),
    });
    if (!this.#given) this.#client = client;
    try {
      await client.connect();
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      throw new BackendError(
        `Could not connect to MongoDB at "${redactPassword(this.url)}": ${text}`,
        { cause: error },
      );
    }
    const db = client.db(this.database);
    const tasks = db.collection<TaskDocument>(TASKS_COLLECTION);
    const groups = db.collection<GroupMetaDocument>(GROUP_METAS_COLLECTION);
    for (const collection of [tasks, groups]) {
      try {
        await (collection as unknown as Collection<Document>).createIndex({ delete_at: 1 }, {
          expireAfterSeconds: 0,
        });
      } catch (error) {
        if (!INDEX_CONFLICTS.has((error as { code?: number }).code ?? 0)) throw error;
      }
    }
    return { tasks, groups };
  }

  async #groupIds(groupUUID: string): Promise<string[]> {
    const { groups } = await this.#collections();
    const doc = await groups.findOne({ _id: groupUUID }, READ);
    if (doc === null) throw new GroupNotFoundError(groupUUID);
    return groupMetaFromDocument(doc as unknown as Record<string, unknown>).taskUUIDs ?? [];
  }

  async initGroup(groupUUID: string, taskUUIDs: string[]): Promise<void> {
    const { groups } = await this.#collections();
    const meta = newGroupMeta(groupUUID, taskUUIDs);
    await groups.insertOne(groupMetaToDocument(meta, deleteAt(this.#ttl)));
  }

  /** True when every member is SUCCESS or FAILURE and there are `groupTaskCount` of them. */
  async groupCompleted(groupUUID: string, groupTaskCount: number): Promise<boolean> {
    const ids = await this.#groupIds(groupUUID);
    if (ids.length !== groupTaskCount) return false;
    if (ids.length === 0) return true;
    const { tasks } = await this.#collections();
    const done = await tasks.countDocuments({
      _id: { $in: ids },
      state: { $in: [SUCCESS, FAILURE] },
    });
    return done === ids.length;
  }

  /** The members' states in group order; a missing one is a {@linkcode StateNotFoundError}. */
  async groupTaskStates(groupUUID: string, _groupTaskCount: number): Promise<TaskState[]> {
    const ids = await this.#groupIds(groupUUID);
    const { tasks } = await this.#collections();
    const byId = new Map<string, TaskState>();
    for await (const doc of tasks.find({ _id: { $in: ids } }, READ)) {
      const state = taskStateFromDocument(doc as unknown as Record<string, unknown>);
      byId.set(state.taskUUID, state);
    }
    return ids.map((id) => {
      const state = byId.get(id);
      if (!state) throw new StateNotFoundError(`Task not found: ${id}`);
      return state;
    });
  }

  async triggerChord(groupUUID: string): Promise<boolean> {
    const { groups } = await this.#collections();
    const result = await groups.updateOne(
      { _id: groupUUID, chord_triggered: { $ne: true } },
      { $set: { chord_triggered: true } },
    );
    if (result.modifiedCount === 1) return true;
    if (result.matchedCount === 0) {
      const exists = await groups.countDocuments({ _id: groupUUID }, { limit: 1 });
      if (exists === 0) throw new GroupNotFoundError(groupUUID);
    }
    return false;
  }

  /** Upserts a state's fields (Go's `updateState`: the other fields stay). */
  protected async writeState(_signature: Signature, state: TaskState): Promise<void> {
    const { tasks } = await this.#collections();
    await tasks.updateOne(
      { _id: state.taskUUID },
      { $set: taskStateUpdate(state, deleteAt(this.#ttl)) },
      { upsert: true },
    );
  }

  /**
   * FAILURE unless SUCCESS or FAILURE is stored: the filter on `state` makes it one atomic
   * update. With a final state stored the filter matches nothing, so the upsert tries to insert
   * a second document with that `_id` and fails with a duplicate key: nothing was written.
   */
  async setStateFailureUnlessCompleted(signature: Signature, error: string): Promise<boolean> {
    const state = failureState(signature, error);
    const { tasks } = await this.#collections();
    try {
      await tasks.updateOne(
        { _id: state.taskUUID, state: { $nin: [SUCCESS, FAILURE] } },
        { $set: taskStateUpdate(state, deleteAt(this.#ttl)) },
        { upsert: true },
      );
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code === DUPLICATE_KEY) return false;
      throw e;
    }
  }

  async getState(taskUUID: string): Promise<TaskState> {
    const { tasks } = await this.#collections();
    const doc = await tasks.findOne({ _id: taskUUID }, READ);
    if (doc === null) throw new StateNotFoundError(`Task not found: ${taskUUID}`);
    return taskStateFromDocument(doc as unknown as Record<string, unknown>);
  }

  async purgeState(taskUUID: string): Promise<void> {
    const { tasks } = await this.#collections();
    await tasks.deleteOne({ _id: taskUUID });
  }

  async purgeGroupMeta(groupUUID: string): Promise<void> {
    const { groups } = await this.#collections();
    await groups.deleteOne({ _id: groupUUID });
  }

  /** Closes the client it dialled (not one given in the options). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#ready?.catch(() => undefined);
      await this.#client?.close();
    })();
    return this.#closed;
  }

  /** Closes the backend at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
