/**
 * Helpers for the tests that need memcached: whether it answers (skip visibly, or fail under
 * `REQUIRE_SERVICES=1`), and a raw text-protocol client that reads what is stored without going
 * through memjs.
 */
import { connect, type Socket } from "node:net";
import { env } from "../helpers.ts";

/** The memcached URL under test (`MEMCACHE_URL`, default `memcache://127.0.0.1:11211`). */
export const MEMCACHE_URL: string = env("MEMCACHE_URL") || "memcache://127.0.0.1:11211";

/** Whether missing services fail the tests instead of skipping them. */
export const REQUIRE_SERVICES: boolean = env("REQUIRE_SERVICES") === "1";

/** The first server of {@linkcode MEMCACHE_URL}, as `{host, port}`. */
export function firstServer(): { host: string; port: number } {
  const first = MEMCACHE_URL.replace(/^memcache:\/\//i, "").split(",")[0].replace(/\/+$/, "");
  const colon = first.lastIndexOf(":");
  if (colon < 0) return { host: first, port: 11211 };
  return {
    host: first.slice(0, colon).replace(/^\[|\]$/g, ""),
    port: Number(first.slice(colon + 1)),
  };
}

/**
 * `false` when memcached answers; otherwise the skip reason (printed, so the skip is visible).
 * With `REQUIRE_SERVICES=1` it returns `false` anyway, so the tests run and fail.
 */
export async function memcacheSkipReason(): Promise<string | false> {
  try {
    const raw = await RawMemcache.open();
    try {
      await raw.command("version");
    } finally {
      raw.close();
    }
    return false;
  } catch (error) {
    const reason = `memcached is not reachable at ${MEMCACHE_URL}: ${
      error instanceof Error ? error.message : String(error)
    }`;
    if (REQUIRE_SERVICES) return false;
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
}

/** A minimal text-protocol client for checks: one command at a time. */
export class RawMemcache {
  #socket: Socket;
  #buffer = "";
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Connects to `host:port` (default: the first server of `MEMCACHE_URL`). */
  static open(server: { host: string; port: number } = firstServer()): Promise<RawMemcache> {
    return new Promise((resolve, reject) => {
      const socket = connect(server.port, server.host);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("connect timed out"));
      }, 2000);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new RawMemcache(socket));
      });
    });
  }

  async #until(done: (buffer: string) => number): Promise<string> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const end = done(this.#buffer);
      if (end >= 0) {
        const out = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end);
        return out;
      }
      if (Date.now() > deadline) throw new Error(`No full reply: ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends one line and returns the first reply line (without CRLF). */
  async command(line: string): Promise<string> {
    this.#socket.write(line + "\r\n");
    const reply = await this.#until((b) => {
      const i = b.indexOf("\r\n");
      return i < 0 ? -1 : i + 2;
    });
    return reply.slice(0, -2);
  }

  /** The stored value's bytes as UTF-8 text, or null on a miss. */
  async get(key: string): Promise<string | null> {
    this.#socket.write(`get ${key}\r\n`);
    const reply = await this.#until((b) => {
      if (b.startsWith("END\r\n")) return 5;
      const m = /^VALUE \S+ \d+ (\d+)\r\n/.exec(b);
      if (!m) return -1;
      const end = m[0].length + Number(m[1]) + 2 + 5;
      return b.length >= end ? end : -1;
    });
    if (reply === "END\r\n") return null;
    const m = /^VALUE \S+ \d+ (\d+)\r\n/.exec(reply)!;
    const bytes = reply.slice(m[0].length, m[0].length + Number(m[1]));
    return new TextDecoder().decode(Uint8Array.from(bytes, (c) => c.charCodeAt(0)));
  }

  /** The item's flags and remaining seconds (meta command `mg <key> f t`), or null on a miss. */
  async meta(key: string): Promise<{ flags: number; ttl: number } | null> {
    const reply = await this.command(`mg ${key} f t`);
    if (reply === "EN") return null;
    const flags = /\bf(\d+)/.exec(reply);
    const ttl = /\bt(-?\d+)/.exec(reply);
    if (!reply.startsWith("HD") || !flags || !ttl) throw new Error(`Unexpected reply: ${reply}`);
    return { flags: Number(flags[1]), ttl: Number(ttl[1]) };
  }

  /** Deletes keys (misses are fine). */
  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) await this.command(`delete ${key}`);
  }

  /** Closes the socket. */
  close(): void {
    this.#socket.destroy();
  }
}
