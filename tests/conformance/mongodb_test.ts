/**
 * The MongoDB result backend.
 *
 * With a real server (`MONGODB_URL=mongodb://host:27017`): the backend contract, the end-to-end
 * suite with the memory broker and with the Redis broker, and the document checks below, in a
 * database of its own that is dropped afterwards. No MongoDB can be installed on these machines
 * or in CI, so without `MONGODB_URL` those suites skip with a printed reason, even under
 * `REQUIRE_SERVICES=1`; with `MONGODB_URL` set but unreachable they skip too, unless
 * `REQUIRE_SERVICES=1`, where they fail.
 *
 * Without a server, the same contract, document checks and end-to-end suite run against a small
 * in-memory stand-in for the driver (documents kept as BSON bytes; equality, `$in`, `$nin` and `$ne`
 * filters; `$set` with upsert; `modifiedCount`), which exercises the backend's own logic: the
 * chord's conditional update, group order, missing documents. The stand-in proves nothing about
 * the real driver or server: that is what the `MONGODB_URL` run is for.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { BSON, type Document, MongoClient } from "mongodb";
import { conformanceSuite } from "./suite.ts";
import { backendContract } from "./backend_contract.ts";
import { memoryBroker, mongodbBackend, redisBroker } from "./adapters.ts";
import { newSignature, type Signature } from "../../mod.ts";
import { MongoDBBackend } from "../../src/mongodb/mod.ts";
import { backendFromURL } from "../../src/from_url.ts";
import { resolveConfig } from "../../src/config.ts";
import { describeUnless, env } from "../helpers.ts";
import { deleteRedisKeys, redisSkipReason, uniqueName } from "../integration/redis_support.ts";

const MONGODB_URL = env("MONGODB_URL") ?? "";
const REQUIRE_SERVICES = env("REQUIRE_SERVICES") === "1";

async function mongoSkipReason(): Promise<string | false> {
  if (!MONGODB_URL) {
    const reason = "MONGODB_URL is not set: no MongoDB server can be installed on these machines " +
      "or in CI, so the real-server MongoDB suites skip (REQUIRE_SERVICES=1 does not change " +
      "that). Set MONGODB_URL=mongodb://host:27017 to run them";
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.connect();
    await client.db("admin").command({ ping: 1 });
    return false;
  } catch (error) {
    const reason = `MongoDB is not reachable at MONGODB_URL: ${
      error instanceof Error ? error.message : String(error)
    }`;
    if (REQUIRE_SERVICES) return false;
    console.warn(`SKIP: ${reason}`);
    return reason;
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// An in-memory stand-in for the parts of the driver the backend uses.

type Filter = Record<string, unknown>;

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return a === b;
}

function matches(doc: Record<string, unknown>, filter: Filter): boolean {
  for (const [field, cond] of Object.entries(filter)) {
    const value = doc[field];
    if (cond !== null && typeof cond === "object" && !(cond instanceof Date)) {
      const ops = cond as Record<string, unknown>;
      for (const [op, arg] of Object.entries(ops)) {
        if (op === "$in") {
          if (!(arg as unknown[]).some((x) => sameValue(value, x))) return false;
        } else if (op === "$ne") {
          if (sameValue(value, arg)) return false;
        } else if (op === "$nin") {
          if ((arg as unknown[]).some((x) => sameValue(value, x))) return false;
        } else throw new Error(`The stand-in does not know ${op}`);
      }
    } else if (!sameValue(value, cond)) return false;
  }
  return true;
}

/** One collection: documents as BSON bytes, every call atomic (synchronous inside). */
class FakeCollection {
  readonly docs = new Map<string, Uint8Array>();
  readonly indexList: Document[] = [{ key: { _id: 1 }, name: "_id_" }];

  #read(bytes: Uint8Array): Record<string, unknown> {
    return BSON.deserialize(bytes, { promoteValues: false, promoteBuffers: false });
  }

  #all(filter: Filter): Record<string, unknown>[] {
    return [...this.docs.values()].map((b) => this.#read(b)).filter((d) => matches(d, filter));
  }

  createIndex(key: Record<string, number>, options: Record<string, unknown> = {}): Promise<string> {
    const name = Object.entries(key).map(([k, v]) => `${k}_${v}`).join("_");
    if (!this.indexList.some((i) => i.name === name)) {
      this.indexList.push({ key, name, ...options });
    }
    return Promise.resolve(name);
  }

  indexes(): Promise<Document[]> {
    return Promise.resolve(structuredClone(this.indexList));
  }

  findOne(filter: Filter): Promise<Record<string, unknown> | null> {
    return Promise.resolve(this.#all(filter)[0] ?? null);
  }

  find(filter: Filter): AsyncIterable<Record<string, unknown>> {
    const docs = this.#all(filter);
    return (async function* () {
      yield* docs;
    })();
  }

  countDocuments(filter: Filter, options: { limit?: number } = {}): Promise<number> {
    const n = this.#all(filter).length;
    return Promise.resolve(options.limit ? Math.min(n, options.limit) : n);
  }

  insertOne(doc: Record<string, unknown>): Promise<{ acknowledged: boolean }> {
    const id = String(doc._id);
    if (this.docs.has(id)) {
      return Promise.reject(
        Object.assign(new Error("E11000 duplicate key error"), { code: 11000 }),
      );
    }
    this.docs.set(id, BSON.serialize(doc));
    return Promise.resolve({ acknowledged: true });
  }

  updateOne(
    filter: Filter,
    update: { $set: Record<string, unknown> },
    options: { upsert?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const found = this.#all(filter)[0];
    if (!found) {
      if (!options.upsert) {
        return Promise.resolve({ acknowledged: true, matchedCount: 0, modifiedCount: 0 });
      }
      // As the server: an upsert whose filter missed a document with its _id cannot insert.
      if (this.docs.has(String(filter._id))) {
        return Promise.reject(
          Object.assign(new Error("E11000 duplicate key error"), { code: 11000 }),
        );
      }
      const doc = { _id: filter._id, ...update.$set };
      this.docs.set(String(filter._id), BSON.serialize(doc));
      return Promise.resolve({
        acknowledged: true,
        matchedCount: 0,
        modifiedCount: 0,
        upsertedCount: 1,
      });
    }
    const id = String(found._id);
    const before = this.docs.get(id)!;
    const after = BSON.serialize({ ...found, ...update.$set });
    const changed = before.length !== after.length || before.some((b, i) => b !== after[i]);
    this.docs.set(id, after);
    return Promise.resolve({
      acknowledged: true,
      matchedCount: 1,
      modifiedCount: changed ? 1 : 0,
      upsertedCount: 0,
    });
  }

  deleteOne(filter: Filter): Promise<{ deletedCount: number }> {
    const found = this.#all(filter)[0];
    if (found) this.docs.delete(String(found._id));
    return Promise.resolve({ deletedCount: found ? 1 : 0 });
  }
}

/** A client with databases of fake collections. */
class FakeClient {
  readonly dbs = new Map<string, Map<string, FakeCollection>>();
  connects = 0;
  closed = false;

  connect(): Promise<this> {
    this.connects++;
    return Promise.resolve(this);
  }

  db(name: string): { collection(name: string): FakeCollection } {
    let db = this.dbs.get(name);
    if (!db) this.dbs.set(name, db = new Map());
    return {
      collection: (c: string) => {
        let col = db.get(c);
        if (!col) db.set(c, col = new FakeCollection());
        return col;
      },
    };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

// ---------------------------------------------------------------------------------------------
// The backend checks, on the stand-in or on a real server.

/** Raw access to the two collections, to look at documents as stored. */
interface RawCollections {
  tasks: { findOne(f: Filter): Promise<unknown>; indexes(): Promise<Document[]> };
  groups: { findOne(f: Filter): Promise<unknown>; indexes(): Promise<Document[]> };
}

interface Target {
  /** A new backend on the target (the caller closes it). */
  make(resultsExpireIn?: number): MongoDBBackend;
  /** The collections the backends write to. */
  raw(): RawCollections;
}

function backendChecks(name: string, target: () => Target, skip: string | false): void {
  describeUnless(skip, name, () => {
    let backend: MongoDBBackend;
    let raw: RawCollections;
    const ttl = 300;

    before(async () => {
      backend = target().make(ttl);
      await backend.connect();
      raw = target().raw();
    });

    after(async () => {
      await backend?.close();
    });

    function doc(d: unknown): Record<string, unknown> {
      return d as Record<string, unknown>;
    }

    it("creates TTL indexes on delete_at (expireAfterSeconds 0)", async () => {
      for (const col of [raw.tasks, raw.groups]) {
        const index = (await col.indexes()).find((i) => i.name === "delete_at_1");
        assert.ok(index, "delete_at_1 exists");
        assert.deepEqual(index.key, { delete_at: 1 });
        assert.equal(Number(index.expireAfterSeconds), 0);
      }
    });

    it("writes machinery's task documents, state by state", async () => {
      const sig: Signature = newSignature("add");
      await backend.setStatePending(sig);
      const pending = doc(await raw.tasks.findOne({ _id: sig.uuid }));
      assert.deepEqual(Object.keys(pending).sort(), ["_id", "created_at", "state", "task_name"]);
      assert.equal(pending.state, "PENDING");
      assert.equal(pending.task_name, "add");
      assert.ok(pending.created_at instanceof Date);
      assert.ok(Math.abs((pending.created_at as Date).getTime() - Date.now()) < 60_000);

      await backend.setStateReceived(sig);
      await backend.setStateStarted(sig);
      const started = doc(await raw.tasks.findOne({ _id: sig.uuid }));
      assert.equal(started.state, "STARTED");
      assert.equal(started.task_name, "add", "task_name stays from PENDING");
      assert.equal(started.delete_at, undefined, "unfinished tasks do not expire");

      await backend.setStateSuccess(sig, [{ type: "int64", value: 42 }]);
      const done = doc(await raw.tasks.findOne({ _id: sig.uuid }));
      assert.equal(done.state, "SUCCESS");
      const results = done.results as { type: string; value: unknown }[];
      assert.equal(results.length, 1);
      assert.equal(results[0].type, "int64");
      assert.equal(String(results[0].value), "42");
      const deleteAt = (done.delete_at as Date).getTime();
      assert.ok(Math.abs(deleteAt - (Date.now() + ttl * 1000)) < 60_000, "delete_at = now + ttl");

      const state = await backend.getState(sig.uuid);
      assert.equal(state.state, "SUCCESS");
      assert.equal(state.taskName, "add");
      assert.equal(String(state.results?.[0].value), "42");

      const failing = newSignature("panic");
      await backend.setStatePending(failing);
      await backend.setStateFailure(failing, "oops");
      const failed = doc(await raw.tasks.findOne({ _id: failing.uuid }));
      assert.equal(failed.state, "FAILURE");
      assert.equal(failed.error, "oops");
      assert.ok(failed.delete_at instanceof Date);
    });

    it("inserts machinery's group meta document", async () => {
      const id = `group_${crypto.randomUUID()}`;
      await backend.initGroup(id, ["task_a", "task_b"]);
      const meta = doc(await raw.groups.findOne({ _id: id }));
      assert.deepEqual(meta.task_uuids, ["task_a", "task_b"]);
      assert.equal(meta.chord_triggered, false);
      assert.equal(meta.lock, false);
      assert.ok(meta.created_at instanceof Date);
      assert.equal(meta.ttl, undefined, "ttl is omitted when 0");
    });
  });
}

/** The backend contract on a MongoDB target; expiry is MongoDB's TTL monitor's, once a minute. */
function mongodbContract(name: string, target: () => Target, skip: string | false): void {
  backendContract(name, {
    skip,
    make: (resultsExpireIn) => target().make(resultsExpireIn),
    sharedStore: true,
    laterStates: "merged",
    groupMeta: true,
    expiry: "MongoDB's TTL monitor removes documents past delete_at about once a minute; " +
      "delete_at itself is checked by this file",
    refusesCallsAfterClose: true,
    failureUnlessCompleted: true,
  });
}

// ---------------------------------------------------------------------------------------------
// Without a server: the stand-in.

{
  const client = new FakeClient();
  const database = "machinery";
  const standIn = (): Target => ({
    make: (resultsExpireIn = 300) =>
      mongodbBackend("mongodb://stand-in", { resultsExpireIn }, { client }),
    raw: () => ({
      tasks: client.db(database).collection("tasks"),
      groups: client.db(database).collection("group_metas"),
    }),
  });
  backendChecks("mongodb backend on a driver stand-in (no server)", standIn, false);
  mongodbContract("mongodb backend on a driver stand-in (no server)", standIn, false);

  describe("mongodb backend options (no server)", () => {
    it("uses the database machinery by default, or the one given", async () => {
      const c = new FakeClient();
      const a = new MongoDBBackend("mongodb://h/ignored", { client: c });
      const b = new MongoDBBackend("mongodb://h/ignored", { client: c, database: "other" });
      await a.connect();
      await b.connect();
      assert.deepEqual([...c.dbs.keys()].sort(), ["machinery", "other"]);
      assert.equal(a.database, "machinery");
      await a.close();
      await b.close();
      assert.equal(c.closed, false, "a given client is left to its owner");
      await assert.rejects(a.getState("task_x"), { message: "The MongoDB backend is closed" });
    });

    it("adds mongodb:// to a URL without a scheme, as Go does", () => {
      assert.equal(new MongoDBBackend("db.example:27017").url, "mongodb://db.example:27017");
      assert.equal(new MongoDBBackend("mongodb+srv://c.example").url, "mongodb+srv://c.example");
    });
  });

  conformanceSuite(
    "memory broker + mongodb backend on a driver stand-in (no server)",
    (input) =>
      Promise.resolve({
        broker: memoryBroker(input),
        backend: mongodbBackend("mongodb://stand-in", { ...input, resultsExpireIn: 300 }, {
          client: new FakeClient(),
        }),
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// With a real server.

const mongoSkip = await mongoSkipReason();

/** Drops a test database (each suite has its own). */
async function dropDatabase(name: string): Promise<void> {
  if (!MONGODB_URL) return;
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.db(name).dropDatabase();
  } catch {
    // unreachable: nothing was written
  } finally {
    await client.close();
  }
}

{
  const database = uniqueName("machinery_test");
  let rawClient: MongoClient | undefined;
  const realTarget = (): Target => ({
    make: (resultsExpireIn = 300) => mongodbBackend(MONGODB_URL, { resultsExpireIn }, { database }),
    raw: () => {
      rawClient ??= new MongoClient(MONGODB_URL);
      const db = rawClient.db(database);
      return {
        tasks: db.collection("tasks"),
        groups: db.collection("group_metas"),
      } as unknown as RawCollections;
    },
  });

  backendChecks("mongodb backend on MongoDB", realTarget, mongoSkip);
  mongodbContract("mongodb backend on MongoDB", realTarget, mongoSkip);

  describeUnless(mongoSkip, "mongodb backend on MongoDB: URLs", () => {
    after(async () => {
      await rawClient?.close();
      await dropDatabase(database);
    });

    it("ignores the database in the URI, as Go does", async () => {
      const url = new URL(MONGODB_URL);
      url.pathname = `/${database}_not_this_one`;
      const backend = new MongoDBBackend(url.toString(), { database });
      try {
        const sig = newSignature("add");
        await backend.setStatePending(sig);
        assert.ok(await realTarget().raw().tasks.findOne({ _id: sig.uuid }));
      } finally {
        await backend.close();
      }
      const plain = new MongoDBBackend(url.toString());
      assert.equal(plain.database, "machinery");
      await plain.close();
    });

    it("is built from its URL scheme (this creates machinery's TTL indexes in machinery)", async () => {
      const backend = await backendFromURL(MONGODB_URL, {
        config: resolveConfig({ resultsExpireIn: 300 }),
      });
      try {
        assert.ok(backend instanceof MongoDBBackend);
        assert.equal(backend.database, "machinery");
      } finally {
        await backend.close();
      }
    });
  });
}

{
  const database = uniqueName("machinery_test");
  conformanceSuite("memory broker + mongodb backend", (input) =>
    Promise.resolve({
      broker: memoryBroker(input),
      backend: mongodbBackend(MONGODB_URL, { ...input, resultsExpireIn: 300 }, { database }),
      cleanup: () => dropDatabase(database),
    }), { skip: mongoSkip });
}

{
  const database = uniqueName("machinery_test");
  const redisSkip = mongoSkip || await redisSkipReason();
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const delayedTasksKey = `${keyPrefix}delayed_tasks`;
  conformanceSuite("redis broker + mongodb backend", (input) => {
    const config = { ...input, resultsExpireIn: 300, redis: { delayedTasksKey } };
    const queue = config.defaultQueue!;
    return Promise.resolve({
      broker: redisBroker(config, keyPrefix),
      backend: mongodbBackend(MONGODB_URL, config, { database }),
      cleanup: async () => {
        await deleteRedisKeys([queue, delayedTasksKey], [keyPrefix]);
        await dropDatabase(database);
      },
    });
  }, { skip: redisSkip, config: { redis: { delayedTasksKey } } });
}
