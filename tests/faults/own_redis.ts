/**
 * A redis-server of a test's own, on a spare loopback port, with no persistence: for scenarios
 * that need server settings the shared Redis must keep (`--proto-max-bulk-len`), or exact
 * command counts (`INFO commandstats`) that other tests' traffic would blur. Stopped by pid.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
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
  /** A client for checks (closed by `stop`). */
  readonly client: Redis;
  /** Kills the server (SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `redis-server` on a spare port with `args` added, and waits until it answers. */
export async function startOwnRedis(args: string[] = []): Promise<OwnRedis> {
  const port = await sparePort();
  const proc: ChildProcess = spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    ...args,
  ], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: 3, retryStrategy: () => 100 });
  client.on("error", () => {});
  try {
    await waitFor(() => client.ping().then((r) => r === "PONG", () => false), url, 20_000);
  } catch (error) {
    proc.kill("SIGKILL");
    client.disconnect();
    throw error;
  }
  return {
    url,
    client,
    async stop() {
      client.disconnect();
      proc.kill("SIGKILL");
      await exited;
    },
  };
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
