/**
 * A redis-server of a test's own, on a spare loopback port, in a temp dir with an AOF synced on
 * every write (what was written before a stop is there after the restart): for tests that need
 * Redis to go away and come back, or to misbehave, without touching the shared one. It is
 * stopped by its pid, and the process is killed after `lifetimeMs` whatever happens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { waitFor } from "../helpers.ts";

/** One redis-server process at a time, restartable on the same port. */
export class OwnRedis {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly #lifetimeMs: number;
  readonly #dir = mkdtempSync(join(tmpdir(), "machinery-own-redis-"));
  #proc?: ChildProcess;
  #exited?: Promise<void>;
  #killer?: ReturnType<typeof setTimeout>;

  private constructor(port: number, lifetimeMs: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#lifetimeMs = lifetimeMs;
  }

  /** Starts one on a free port and waits until it answers. */
  static async start(lifetimeMs = 120_000): Promise<OwnRedis> {
    const own = new OwnRedis(await freePort(), lifetimeMs);
    await own.restart();
    return own;
  }

  /** Starts the server again (same port, same data) and waits until it answers. */
  async restart(): Promise<void> {
    const proc = spawn("redis-server", [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--dir",
      this.#dir,
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
    ], { stdio: "ignore" });
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.on("exit", () => resolve()));
    this.#killer = setTimeout(() => proc.kill("SIGKILL"), this.#lifetimeMs);
    await waitFor(() => this.#ping(), `redis-server on port ${this.port}`, 20_000);
  }

  /** Kills the server (SIGKILL, by pid) and waits for it to exit. Idempotent. */
  async stop(): Promise<void> {
    clearTimeout(this.#killer);
    this.#proc?.kill("SIGKILL");
    await this.#exited;
  }

  /** Stops the server and removes its data. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** A plain client (for CONFIG SET and checks); the caller disconnects it. */
  client(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 2 });
    client.on("error", () => {});
    return client;
  }

  async #ping(): Promise<boolean> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      return (await client.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }
}

/** A loopback port nobody listens on right now. */
function freePort(): Promise<number> {
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
