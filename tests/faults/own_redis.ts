/**
 * A redis-server of a test's own, on a spare loopback port: for scenarios that need server
 * settings the shared Redis must keep (`--proto-max-bulk-len`, `min-replicas-to-write`), exact
 * command counts (`INFO commandstats`) that other tests' traffic would blur, or a Redis that goes
 * away and comes back (`kill`, `restart`; with `persist`, an AOF synced on every write keeps what
 * was written). Stopped by pid, and killed after `lifetimeMs` whatever happens.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { env, waitFor } from "../helpers.ts";

/** Why a scenario that starts its own redis-server must skip, or `false` (never in CI). */
export function ownRedisSkipReason(): string | false {
  if (env("REQUIRE_SERVICES") === "1") return false;
  const probe = spawnSync("redis-server", ["--version"], { timeout: 10_000 });
  return probe.status === 0 ? false : "redis-server is not installed here";
}

/** A port nobody listens on now (the OS picks it). */
export function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A running redis-server of our own. */
export interface OwnRedis {
  /** Its URL. */
  readonly url: string;
  /** A client for checks (it reconnects after a restart; closed by `stop`). */
  readonly client: Redis;
  /** Kills the server (SIGKILL) and waits for it to exit; `restart` brings it back. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (with its data when `persist`) and waits for it. */
  restart(): Promise<void>;
  /** Kills the server, closes the client and removes its data. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startOwnRedis}. */
export interface OwnRedisOptions {
  /** Keep the data across `kill` and `restart` (AOF, fsync on every write). */
  persist?: boolean;
  /** Kill the server after this long whatever happens (default 15 minutes). */
  lifetimeMs?: number;
}

/** Starts `redis-server` on a spare port with `args` added, and waits until it answers. */
export async function startOwnRedis(
  args: string[] = [],
  options: OwnRedisOptions = {},
): Promise<OwnRedis> {
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), "machinery-own-redis-"));
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: 3, retryStrategy: () => 100 });
  client.on("error", () => {});
  let proc: ChildProcess | undefined;
  let exited = Promise.resolve();
  let killer: ReturnType<typeof setTimeout> | undefined;
  const kill = async () => {
    clearTimeout(killer);
    proc?.kill("SIGKILL");
    await exited;
  };
  const start = async () => {
    const child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      ...(options.persist ? ["--appendonly", "yes", "--appendfsync", "always"] : [
        "--appendonly",
        "no",
      ]),
      ...args,
    ], { stdio: "ignore" });
    proc = child;
    exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    killer = setTimeout(() => child.kill("SIGKILL"), options.lifetimeMs ?? 900_000);
    await waitFor(() => client.ping().then((r) => r === "PONG", () => false), url, 20_000);
  };
  const stop = async () => {
    client.disconnect();
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, client, kill, restart: start, stop };
}

/** The calls of each command since the server started (`INFO commandstats`). */
export async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const info = await client.info("commandstats");
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(match[1], Number(match[2]));
  }
  return calls;
}
