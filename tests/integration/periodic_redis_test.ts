/**
 * Periodic tasks on a real Redis: the Redis lock's claims (including against Go machinery's own
 * lock protocol on the same key), and three scheduler processes running a 1-second schedule for
 * 10 seconds, which must send each tick exactly once. The processes run on the runtime running
 * the test (Deno or Bun).
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { decodeSignature } from "../../src/wire/mod.ts";
import { RedisLock } from "../../src/redis/lock.ts";
import { RedisConnectionError } from "../../src/redis/mod.ts";
import { lockName, lockValue } from "../../src/periodic/lock_name.ts";
import { describeUnless } from "../helpers.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./redis_support.ts";

const skip = await redisSkipReason();
const FIXTURE = fileURLToPath(new URL("./periodic_redis_fixture.ts", import.meta.url));
const EVERY_SECOND = "* * * * * *";
const RUN_MS = 10_000;

interface Event {
  event: "ready" | "tick" | "stopped";
  at: number;
  tick?: number;
  outcome?: "sent" | "taken" | "failed" | "missed";
}

interface Child {
  process: ChildProcess;
  events: Event[];
  exited: Promise<number | null>;
}

function spawnScheduler(env: Record<string, string>): Child {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const [cmd, args] = g.Deno
    ? [g.Deno.execPath(), ["run", "-A", FIXTURE]]
    : [g.process.execPath, [FIXTURE]];
  const child = spawn(cmd, args, {
    env: { ...g.process?.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const events: Event[] = [];
  let buffer = "";
  child.stdout!.on("data", (chunk) => {
    buffer += String(chunk);
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line.startsWith("{")) events.push(JSON.parse(line));
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { process: child, events, exited };
}

/** Resolves when `promise` does, or rejects after `ms` with `what`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms waiting for: ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Go machinery's `RedisLock.Lock(key, value)` (locks/redis), step by step, on a raw client. */
async function goLock(
  client: ReturnType<typeof rawClient>,
  key: string,
  value: bigint,
): Promise<boolean> {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const expiration = Number((value + 1n - nowNs) / 1_000_000n);
  const ok = await client.set(key, value.toString(), "PX", Math.max(1, expiration), "NX");
  if (ok === "OK") return true;
  const held = await client.get(key);
  if (held !== null && held !== "0" && BigInt(held) < nowNs) {
    const old = await client.getset(key, value.toString());
    if (old !== null && BigInt(old) < nowNs) {
      await client.pexpire(key, Math.max(1, expiration));
      return true;
    }
  }
  return false;
}

describeUnless(skip, "redis periodic lock", () => {
  const keys: string[] = [];
  after(async () => {
    await deleteRedisKeys(keys);
  });

  it("grants each tick once, and only later ticks after it", async () => {
    const key = lockName(uniqueName("lock_test"), EVERY_SECOND);
    keys.push(key);
    const a = new RedisLock(REDIS_URL, { retentionMs: 5_000 });
    const b = new RedisLock(REDIS_URL, { retentionMs: 5_000 });
    const client = rawClient();
    try {
      const next = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
      const value = lockValue(next);
      const claims = await Promise.all([a, b, a, b].map((lock) => lock.acquire(key, value)));
      assert.equal(claims.filter(Boolean).length, 1, "one claim of four wins");
      assert.equal(await a.acquire(key, value - 1_000_000_000n), false, "an earlier tick");
      await client.connect();
      assert.equal(await client.get(key), value.toString(), "Go's value: next tick ns - 1");
      const ttl = await client.pttl(key);
      const expected = next.getTime() - Date.now() + 5_000;
      assert.ok(Math.abs(ttl - expected) < 1_000, `PTTL ${ttl} ≈ ${expected}`);
      assert.equal(await b.acquire(key, value + 1_000_000_000n), true, "the next tick");
      await client.set(key, "not a number");
      assert.equal(await a.acquire(key, value + 2_000_000_000n), false, "a foreign value is kept");
    } finally {
      await a.close();
      await a.close();
      await b.close();
      client.disconnect();
    }
  });

  it("excludes Go machinery's lock protocol on the same key, both ways", async () => {
    const key = lockName(uniqueName("go_test"), "0 6 * * ?", "main");
    keys.push(key);
    const lock = new RedisLock(REDIS_URL);
    const client = rawClient();
    try {
      await client.connect();
      const next = Math.ceil(Date.now() / 1000) * 1000 + 2000;
      // Go sends this tick first: we skip it.
      assert.equal(await goLock(client, key, lockValue(new Date(next))), true);
      assert.equal(await lock.acquire(key, lockValue(new Date(next))), false);
      // We send the next tick first: Go skips it (SET NX fails, the value is in the future).
      assert.equal(await lock.acquire(key, lockValue(new Date(next + 1000))), true);
      assert.equal(await goLock(client, key, lockValue(new Date(next + 1000))), false);
      // Once our value is in the past, Go takes the key over with GETSET, as with any stale key.
      await client.set(key, lockValue(new Date(Date.now() - 1000)).toString());
      assert.equal(await goLock(client, key, lockValue(new Date(next + 2000))), true);
      assert.equal(await lock.acquire(key, lockValue(new Date(next + 2000))), false);
    } finally {
      await lock.close();
      client.disconnect();
    }
  });

  it("rejects a claim when Redis cannot be reached", async () => {
    const lock = new RedisLock("redis://127.0.0.1:1");
    try {
      await assert.rejects(lock.acquire("k", 1n), RedisConnectionError);
    } finally {
      await lock.close();
    }
  });
});

describeUnless(skip, "three scheduler processes on one Redis", () => {
  const queue = uniqueName("periodic_queue");
  const name = uniqueName("periodic_three");
  const key = lockName(name, EVERY_SECOND);
  const children: Child[] = [];

  after(async () => {
    for (const child of children) {
      if (child.process.exitCode === null) child.process.kill("SIGKILL");
    }
    await deleteRedisKeys([queue, key]);
  });

  it(
    "send each tick of a 1-second schedule exactly once for 10 s",
    { timeout: 60_000 },
    async () => {
      const env = {
        REDIS_URL,
        QUEUE: queue,
        NAME: name,
        SPEC: EVERY_SECOND,
        RUN_MS: String(RUN_MS),
      };
      for (let i = 0; i < 3; i++) children.push(spawnScheduler(env));
      const codes = await within(
        Promise.all(children.map((c) => c.exited)),
        RUN_MS + 30_000,
        "the three schedulers to finish",
      );
      assert.deepEqual(codes, [0, 0, 0], "every scheduler exits cleanly");

      const ticks = new Map<number, string[]>();
      for (const child of children) {
        for (const e of child.events) {
          if (e.event !== "tick") continue;
          const list = ticks.get(e.tick!) ?? [];
          list.push(e.outcome!);
          ticks.set(e.tick!, list);
        }
      }
      const sentTicks = [...ticks].filter(([, o]) => o.includes("sent")).map(([t]) => t).sort();

      // Never twice, at any tick.
      for (const [tick, outcomes] of ticks) {
        assert.ok(
          outcomes.filter((o) => o === "sent").length <= 1,
          `tick ${new Date(tick).toISOString()} sent more than once: ${outcomes}`,
        );
      }

      // Exactly once per tick while all three ran; ±1 tick at each edge of that window.
      const ready = Math.max(...children.map((c) => c.events.find((e) => e.event === "ready")!.at));
      const stopped = Math.min(
        ...children.map((c) => c.events.find((e) => e.event === "stopped")!.at),
      );
      const inWindow: number[] = [];
      for (let t = Math.floor(ready / 1000) * 1000 + 1000; t < stopped; t += 1000) inWindow.push(t);
      assert.ok(inWindow.length >= 8, `the three ran together for ${inWindow.length} ticks`);
      const inner = inWindow.slice(1, -1);
      for (const t of inner) {
        assert.deepEqual(
          (ticks.get(t) ?? []).filter((o) => o === "sent").length,
          1,
          `tick ${new Date(t).toISOString()}: ${ticks.get(t)}`,
        );
      }
      const sentInWindow = sentTicks.filter((t) => inWindow.includes(t)).length;
      assert.ok(
        Math.abs(sentInWindow - inWindow.length) <= 2,
        `${sentInWindow} of ${inWindow.length}`,
      );
      // The lock did the work: for the inner ticks, the other two processes found the tick taken.
      const contested = inner.filter((t) =>
        ticks.get(t)?.filter((o) => o === "taken").length === 2
      );
      assert.ok(contested.length >= inner.length - 1, `${contested.length} of ${inner.length}`);

      // What reached the broker: one message per sent tick, each its own task.
      const client = rawClient();
      try {
        await client.connect();
        const messages = (await client.lrange(queue, 0, -1)).map(decodeSignature);
        assert.equal(messages.length, sentTicks.length);
        assert.equal(new Set(messages.map((m) => m.uuid)).size, messages.length);
        assert.ok(messages.every((m) => m.name === "periodic_probe"));
      } finally {
        client.disconnect();
      }
    },
  );
});
