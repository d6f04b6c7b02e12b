/**
 * The periodic scheduler in one process: fresh copies at each tick, the four kinds, the memory
 * lock's tick dedup between schedulers, listing and removal at run time, missed ticks, failures,
 * close, and a real Server with a worker. The lock keys are Go machinery's.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  type Logger,
  MemoryBackend,
  MemoryBroker,
  newSignature,
  Server,
  type Signature,
  silentLogger,
} from "../mod.ts";
import { CronSpecError } from "../src/periodic/schedule.ts";
import {
  type PeriodicSender,
  Scheduler,
  type SchedulerOptions,
  type TickEvent,
} from "../src/periodic/scheduler.ts";
import type { Lock } from "../src/lock.ts";
import { lockFromURL } from "../src/from_url.ts";
import { defaultLockURL } from "../src/urls.ts";
import { MemoryLock } from "../src/memory/lock.ts";
import { lockName, lockValue } from "../src/periodic/lock_name.ts";
import { URLError } from "../src/urls.ts";
import type { Chain, Chord, Group } from "../src/workflow.ts";
import { waitFor } from "./helpers.ts";

const EVERY_SECOND = "* * * * * *";
const TASK_UUID = /^task_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const GROUP_UUID = /^group_[0-9a-f-]{36}$/;
const CHORD_UUID = /^chord_[0-9a-f-]{36}$/;

type Sent =
  | { kind: "task"; signature: Signature }
  | { kind: "group"; group: Group; sendConcurrency: number }
  | { kind: "chain"; chain: Chain }
  | { kind: "chord"; chord: Chord; sendConcurrency: number };

/** A stand-in for the Server that records what it is asked to send. */
class RecordingSender {
  readonly sent: Sent[] = [];
  readonly errors: string[] = [];
  failWith?: Error;
  gate?: Promise<void>;
  readonly logger: Logger = {
    ...silentLogger,
    error: (m: string) => this.errors.push(m),
  };

  async #record(item: Sent): Promise<never> {
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    this.sent.push(item);
    return undefined as never;
  }
  sendTask(signature: Signature): Promise<never> {
    return this.#record({ kind: "task", signature });
  }
  sendGroup(group: Group, sendConcurrency = 0): Promise<never> {
    return this.#record({ kind: "group", group, sendConcurrency });
  }
  sendChain(chain: Chain): Promise<never> {
    return this.#record({ kind: "chain", chain });
  }
  sendChord(chord: Chord, sendConcurrency = 0): Promise<never> {
    return this.#record({ kind: "chord", chord, sendConcurrency });
  }
  asSender(): PeriodicSender {
    return this as unknown as PeriodicSender;
  }
  ofKind<K extends Sent["kind"]>(kind: K): Extract<Sent, { kind: K }>[] {
    return this.sent.filter((s): s is Extract<Sent, { kind: K }> => s.kind === kind);
  }
}

function scheduler(sender: RecordingSender, options: SchedulerOptions = {}): Scheduler {
  return new Scheduler(sender.asSender(), options);
}

/** A lock shared by several schedulers: each scheduler closes its lock, so this one ignores it. */
function shared(lock: Lock): Lock {
  return { acquire: (key, value) => lock.acquire(key, value), close: () => Promise.resolve() };
}

describe("periodic scheduler", () => {
  it("sends a fresh copy of the task at each tick", { timeout: 15_000 }, async () => {
    const sender = new RecordingSender();
    const s = scheduler(sender);
    try {
      const original = newSignature("add", [
        { name: "", type: "int64", value: 1 },
        { name: "", type: "int64", value: 2 },
      ], { retryCount: 3, eta: "2030-01-01T00:00:00Z" });
      original.onSuccess = [newSignature("log")];
      s.registerPeriodicTask(EVERY_SECOND, "adder", original);
      // Changes after registration do not reach the schedule.
      original.name = "changed";
      original.args![0].value = 99;
      await waitFor(() => sender.sent.length >= 2, "two ticks sent");
      const [a, b] = sender.ofKind("task").map((x) => x.signature);
      for (const sig of [a, b]) {
        assert.equal(sig.name, "add");
        assert.deepEqual(sig.args?.map((x) => x.value), [1, 2]);
        assert.equal(sig.retryCount, 3);
        assert.equal(sig.eta, null, "the copy runs now, as with Go's CopySignature");
        assert.match(sig.uuid, TASK_UUID);
        assert.notEqual(sig.uuid, original.uuid);
        assert.equal(sig.onSuccess?.[0].name, "log");
        assert.notEqual(sig.onSuccess?.[0].uuid, original.onSuccess[0].uuid);
      }
      assert.notEqual(a.uuid, b.uuid);
      assert.notEqual(a.onSuccess![0].uuid, b.onSuccess![0].uuid);
      assert.notEqual(a.args, b.args, "each tick has its own copy");
    } finally {
      await s.close();
    }
  });

  it("sends new groups, chains and chords at each tick", { timeout: 15_000 }, async () => {
    const sender = new RecordingSender();
    const s = scheduler(sender);
    try {
      const a = newSignature("a");
      const b = newSignature("b");
      const c = newSignature("c");
      s.registerPeriodicGroup(EVERY_SECOND, "g", 2, a, b);
      s.registerPeriodicChain(EVERY_SECOND, "ch", a, b, c);
      s.registerPeriodicChord(EVERY_SECOND, "cd", 1, c, a, b);
      await waitFor(
        () =>
          ["group", "chain", "chord"].every((k) => sender.ofKind(k as Sent["kind"]).length >= 2),
        "two ticks of each kind",
      );

      const groups = sender.ofKind("group").slice(0, 2);
      for (const { group, sendConcurrency } of groups) {
        assert.equal(sendConcurrency, 2);
        assert.match(group.groupUUID, GROUP_UUID);
        assert.deepEqual(group.tasks.map((t) => t.name), ["a", "b"]);
        for (const t of group.tasks) {
          assert.match(t.uuid, TASK_UUID);
          assert.equal(t.groupUUID, group.groupUUID);
          assert.equal(t.groupTaskCount, 2);
        }
      }
      assert.notEqual(groups[0].group.groupUUID, groups[1].group.groupUUID);
      assert.notEqual(groups[0].group.tasks[0].uuid, groups[1].group.tasks[0].uuid);
      assert.equal(a.groupUUID, "", "the registered signatures are not touched");

      const chains = sender.ofKind("chain").slice(0, 2);
      for (const { chain } of chains) {
        assert.deepEqual(chain.tasks.map((t) => t.name), ["a", "b", "c"]);
        assert.equal(chain.tasks[0].onSuccess?.[0], chain.tasks[1]);
        assert.equal(chain.tasks[1].onSuccess?.[0], chain.tasks[2]);
        assert.ok(chain.tasks.every((t) => TASK_UUID.test(t.uuid)));
      }
      assert.notEqual(chains[0].chain.tasks[2].uuid, chains[1].chain.tasks[2].uuid);
      assert.equal(a.onSuccess, null);

      const chords = sender.ofKind("chord").slice(0, 2);
      for (const { chord, sendConcurrency } of chords) {
        assert.equal(sendConcurrency, 1);
        assert.equal(chord.callback.name, "c");
        assert.match(chord.callback.uuid, CHORD_UUID);
        assert.deepEqual(chord.group.tasks.map((t) => t.name), ["a", "b"]);
        for (const t of chord.group.tasks) assert.equal(t.chordCallback, chord.callback);
      }
      assert.notEqual(chords[0].chord.callback.uuid, chords[1].chord.callback.uuid);
      assert.notEqual(chords[0].chord.group.groupUUID, chords[1].chord.group.groupUUID);
    } finally {
      await s.close();
    }
  });

  it("sends each tick once when schedulers share a memory lock", { timeout: 15_000 }, async () => {
    const lock = new MemoryLock();
    const sender = new RecordingSender();
    const events: TickEvent[] = [];
    const schedulers = [1, 2, 3].map(() =>
      scheduler(sender, { lock: shared(lock), onTick: (e) => events.push(e) })
    );
    try {
      for (const s of schedulers) s.registerPeriodicTask(EVERY_SECOND, "dedup", newSignature("t"));
      const byTick = () => {
        const map = new Map<number, TickEvent[]>();
        for (const e of events) {
          const list = map.get(e.tick.getTime()) ?? [];
          list.push(e);
          map.set(e.tick.getTime(), list);
        }
        return map;
      };
      await waitFor(
        () => [...byTick().values()].filter((list) => list.length === 3).length >= 3,
        "three ticks seen by all three schedulers",
      );
      for (const s of schedulers) s.remove("dedup");
      for (const [tick, list] of byTick()) {
        const outcomes = list.map((e) => e.outcome).sort();
        if (list.length < 3) continue; // a tick cut off by the removal
        assert.deepEqual(
          outcomes,
          ["sent", "taken", "taken"],
          `tick ${new Date(tick).toISOString()}`,
        );
      }
      const sent = events.filter((e) => e.outcome === "sent");
      assert.equal(sender.sent.length, sent.length);
      assert.equal(new Set(sent.map((e) => e.tick.getTime())).size, sent.length);
    } finally {
      await Promise.all(schedulers.map((s) => s.close()));
      await lock.close();
    }
  });

  it("lists registrations and removes them at run time", { timeout: 15_000 }, async () => {
    const sender = new RecordingSender();
    const events: TickEvent[] = [];
    const s = scheduler(sender, { binaryName: "main", onTick: (e) => events.push(e) });
    try {
      const entry = s.registerPeriodicTask(EVERY_SECOND, "doomed", newSignature("doomed"));
      assert.equal(entry.name, "doomed");
      assert.equal(entry.kind, "task");
      assert.equal(entry.lockKey, `machinery_lock_maindoomed${EVERY_SECOND}`);
      assert.ok(entry.next instanceof Date && entry.next.getTime() > Date.now() - 1000);
      s.registerPeriodicTask(EVERY_SECOND, "clock", newSignature("clock"));
      s.registerPeriodicGroup("@hourly", "hourly", 0, newSignature("x"));
      s.registerPeriodicTask("0 0 30 2 *", "never", newSignature("never"));
      assert.deepEqual(s.list().map((e) => [e.name, e.kind]), [
        ["doomed", "task"],
        ["clock", "task"],
        ["hourly", "group"],
        ["never", "task"],
      ]);
      assert.equal(s.get("never")?.next, null);
      assert.equal(s.get("hourly")?.next?.getUTCMinutes(), 0);

      const sentOf = (name: string) =>
        events.filter((e) => e.name === name && e.outcome === "sent").length;
      await waitFor(() => sentOf("doomed") >= 1, "the doomed schedule sent once");
      assert.equal(s.remove("doomed"), true);
      assert.equal(s.remove("doomed"), false);
      assert.equal(s.get("doomed"), undefined);
      assert.deepEqual(s.list().map((e) => e.name), ["clock", "hourly", "never"]);
      const doomedSends = sentOf("doomed");
      const clockSends = sentOf("clock");
      await waitFor(() => sentOf("clock") >= clockSends + 2, "two more ticks of the clock");
      assert.equal(sentOf("doomed"), doomedSends, "no tick after removal");
      assert.equal(
        sender.ofKind("task").filter((x) => x.signature.name === "doomed").length,
        doomedSends,
      );
    } finally {
      await s.close();
    }
  });

  it("replaces a registration of the same name", { timeout: 15_000 }, async () => {
    const sender = new RecordingSender();
    const s = scheduler(sender);
    try {
      s.registerPeriodicTask(EVERY_SECOND, "job", newSignature("first"));
      s.registerPeriodicTask(EVERY_SECOND, "job", newSignature("second"));
      assert.equal(s.list().length, 1);
      await waitFor(() => sender.sent.length >= 2, "two ticks");
      assert.deepEqual(
        [...new Set(sender.ofKind("task").map((x) => x.signature.name))],
        ["second"],
      );
      // A failed registration leaves the existing one alone.
      assert.throws(() => s.registerPeriodicTask("bad spec", "job", newSignature("third")));
      assert.equal(s.get("job")?.spec, EVERY_SECOND);
    } finally {
      await s.close();
    }
  });

  it("rejects bad registrations", async () => {
    const s = scheduler(new RecordingSender());
    assert.throws(
      () => s.registerPeriodicTask("61 * * * *", "x", newSignature("x")),
      CronSpecError,
    );
    assert.throws(() => s.registerPeriodicTask("@hourly", "", newSignature("x")), RangeError);
    assert.throws(() => s.registerPeriodicGroup("@hourly", "g", 0), /needs at least one task/);
    assert.throws(() => s.registerPeriodicChain("@hourly", "c"), /needs at least one task/);
    assert.throws(
      () => s.registerPeriodicChord("@hourly", "c", 0, newSignature("cb")),
      /needs at least one task/,
    );
    assert.deepEqual(s.list(), []);
    await s.close();
    await s.close();
    assert.throws(() => s.registerPeriodicTask("@hourly", "x", newSignature("x")), ClosedError);
  });

  it("skips ticks missed while the process was away, and never replays them", {
    timeout: 15_000,
  }, async () => {
    let offset = 0;
    const sender = new RecordingSender();
    const events: TickEvent[] = [];
    const s = scheduler(sender, {
      now: () => Date.now() + offset,
      onTick: (e) => {
        events.push(e);
        // After the first send, the clock jumps 5 s ahead: the next wake is late.
        if (e.outcome === "sent" && offset === 0) offset = 5_000;
      },
    });
    try {
      s.registerPeriodicTask(EVERY_SECOND, "sleepy", newSignature("sleepy"));
      await waitFor(() => events.some((e) => e.outcome === "missed"), "a missed tick");
      await waitFor(
        () => events.filter((e) => e.outcome === "sent").length >= 2,
        "a tick sent after the gap",
      );
      const [first, second] = events.filter((e) => e.outcome === "sent");
      const missed = events.find((e) => e.outcome === "missed")!;
      assert.equal(missed.tick.getTime(), first.tick.getTime() + 1000);
      assert.ok(
        second.tick.getTime() >= first.tick.getTime() + 6000,
        "the ticks in the gap were not sent",
      );
      assert.equal(
        events.filter((e) => e.tick.getTime() === missed.tick.getTime() && e.outcome === "sent")
          .length,
        0,
      );
    } finally {
      await s.close();
    }
  });

  it("logs a failed lock or send as Go does, and keeps going", { timeout: 15_000 }, async () => {
    let failLock = true;
    const lock: Lock = {
      acquire: (key, value) =>
        failLock ? Promise.reject(new Error("connection lost")) : inner.acquire(key, value),
      close: () => Promise.resolve(),
    };
    const inner = new MemoryLock();
    const sender = new RecordingSender();
    const events: TickEvent[] = [];
    const s = scheduler(sender, { lock, onTick: (e) => events.push(e) });
    try {
      s.registerPeriodicTask(EVERY_SECOND, "flaky", newSignature("flaky"));
      await waitFor(() => events.some((e) => e.outcome === "failed"), "a failed lock");
      assert.equal(
        sender.errors[0],
        "periodic task failed. task name is: flaky. error is connection lost",
      );
      failLock = false;
      sender.failWith = new Error("Publish message error: broker down");
      await waitFor(() => sender.errors.length >= 2, "a failed send");
      assert.equal(
        sender.errors.at(-1),
        "periodic task failed. task name is: flaky. error is Publish message error: broker down",
      );
      sender.failWith = undefined;
      await waitFor(() => events.some((e) => e.outcome === "sent"), "a tick sent again");
      assert.equal(sender.sent.length, events.filter((e) => e.outcome === "sent").length);
    } finally {
      await s.close();
    }
  });

  it("gives up a claim the lock has not answered by the next tick", {
    timeout: 15_000,
  }, async () => {
    const sender = new RecordingSender();
    const events: TickEvent[] = [];
    const s = scheduler(sender, {
      lock: { acquire: () => new Promise(() => {}), close: () => Promise.resolve() },
      onTick: (e) => events.push(e),
    });
    s.registerPeriodicTask(EVERY_SECOND, "stuck", newSignature("stuck"));
    await waitFor(() => events.some((e) => e.outcome === "failed"), "a claim given up");
    assert.match(sender.errors[0], /error is the lock did not answer before the next tick$/);
    // The claim now pending is given up at once by close.
    const started = Date.now();
    await s.close();
    assert.ok(Date.now() - started < 500, `close took ${Date.now() - started} ms`);
    assert.equal(sender.sent.length, 0);
  });

  it("does not send a tick claimed only after the next one was due", {
    timeout: 15_000,
  }, async () => {
    let offset = 0;
    const inner = new MemoryLock();
    const sender = new RecordingSender();
    const events: TickEvent[] = [];
    const s = scheduler(sender, {
      now: () => Date.now() + offset,
      lock: {
        acquire: (k, v) => {
          if (offset === 0) offset = 1_500; // the answer comes "late"
          return inner.acquire(k, v);
        },
        close: () => Promise.resolve(),
      },
      onTick: (e) => events.push(e),
    });
    try {
      s.registerPeriodicTask(EVERY_SECOND, "slowlock", newSignature("slowlock"));
      await waitFor(() => events.length >= 1, "a tick");
      assert.equal(events[0].outcome, "missed");
      assert.equal(sender.sent.length, 0);
    } finally {
      await s.close();
    }
  });

  it(
    "close waits for a tick being sent and closes the lock once",
    { timeout: 15_000 },
    async () => {
      let closes = 0;
      const inner = new MemoryLock();
      const lock: Lock = {
        acquire: (k, v) => inner.acquire(k, v),
        close: () => {
          closes++;
          return Promise.resolve();
        },
      };
      let release!: () => void;
      const sender = new RecordingSender();
      sender.gate = new Promise((r) => (release = r));
      let claimed = false;
      const s = scheduler(sender, {
        lock: {
          acquire: async (k, v) => (claimed = await lock.acquire(k, v)),
          close: () => lock.close(),
        },
      });
      s.registerPeriodicTask(EVERY_SECOND, "slow", newSignature("slow"));
      await waitFor(() => claimed, "a tick claimed");
      let closed = false;
      const closing = s.close().then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(closed, false, "close waits for the send");
      assert.deepEqual(s.list(), []);
      release();
      await closing;
      await s.close();
      assert.equal(sender.sent.length, 1);
      assert.equal(closes, 1);
    },
  );

  it("runs on a real Server: a worker gets each tick's task", { timeout: 15_000 }, async () => {
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      logger: silentLogger,
    });
    const seen: number[] = [];
    const add = server.registerTask("add", (a: number, b: number) => {
      seen.push(a + b);
      return a + b;
    });
    const worker = server.newWorker("periodic_worker", 2);
    const running = worker.launch();
    const s = new Scheduler(server);
    try {
      s.registerPeriodicTask(EVERY_SECOND, "adder", add.signature(2, 3));
      await waitFor(() => seen.length >= 2, "two periodic tasks run");
      assert.deepEqual(seen.slice(0, 2), [5, 5]);
    } finally {
      await s.close();
      await worker.quit();
      await running;
      await server.close();
    }
  });
});

describe("periodic locks", () => {
  it("builds Go machinery's lock keys and values", () => {
    assert.equal(
      lockName("test", "*/3 * * *", "utils.test"),
      "machinery_lock_utils.testtest*/3 * * *",
    );
    assert.equal(
      lockName("periodic-task", "0 6 * * ?", "main"),
      "machinery_lock_mainperiodic-task0 6 * * ?",
    );
    assert.equal(lockName("cleanup", "@hourly"), "machinery_lock_cleanup@hourly");
    assert.equal(lockValue(new Date("2025-01-02T03:04:05Z")), 1735787044999999999n);
  });

  it("memory lock: a tick is claimed once; only a later tick can follow", async () => {
    const lock = new MemoryLock();
    const t = BigInt(Date.now()) * 1_000_000n;
    assert.equal(await lock.acquire("k", t + 2000n), true);
    assert.equal(await lock.acquire("k", t + 2000n), false);
    assert.equal(await lock.acquire("k", t + 1000n), false, "an earlier tick after a later one");
    assert.equal(await lock.acquire("other", t + 1000n), true);
    assert.equal(await lock.acquire("k", t + 3000n), true);
    await lock.close();
    await lock.close();
  });

  it("memory lock: forgets claims once their retention has passed", async () => {
    let now = 1_000_000;
    const lock = new MemoryLock("", { retentionMs: 10_000, now: () => now });
    const value = BigInt(now) * 1_000_000n;
    assert.equal(await lock.acquire("k", value), true);
    now += 9_000;
    assert.equal(await lock.acquire("k", value), false);
    now += 2_000;
    assert.equal(await lock.acquire("x", 1n), true); // sweeps the old claim
    assert.equal(await lock.acquire("k", value), true);
  });

  it("picks the lock from the config", async () => {
    const base = { lock: "", broker: "amqp://guest:guest@localhost:5672/", resultBackend: "" };
    assert.equal(defaultLockURL(base), "");
    assert.equal(defaultLockURL({ ...base, resultBackend: "redis://r:6379" }), "redis://r:6379");
    assert.equal(
      defaultLockURL({ ...base, broker: "redis://b:6379", resultBackend: "redis://r:6379" }),
      "redis://b:6379",
    );
    assert.equal(defaultLockURL({ ...base, lock: "eager", broker: "redis://b" }), "eager");
    for (const url of ["", "eager", "memory://"]) {
      const lock = await lockFromURL(url);
      assert.ok(lock instanceof MemoryLock, url);
      await lock.close();
    }
    const redis = await lockFromURL("redis://127.0.0.1:6379/0");
    assert.equal(redis.constructor.name, "RedisLock");
    await redis.close();
    await assert.rejects(lockFromURL("amqp://guest:secret@h/"), (error: unknown) => {
      assert.ok(error instanceof URLError);
      assert.ok(!error.message.includes("secret"));
      return true;
    });
  });
});
