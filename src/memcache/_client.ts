/**
 * A small memcached client on memjs: memjs keeps the sockets (one per server, connected lazily,
 * reconnected after errors), the per-request timeouts and the response parsing; this module
 * frames the requests (`_protocol.ts`, so that stores can carry a CAS value) and routes each key
 * with Go's rule (`_hashing.ts`), never failing over to another server.
 *
 * @module
 */
import memjs from "memjs";
import { BackendError, ClosedError } from "../errors.ts";
import { pickServer } from "./_hashing.ts";
import { checkKey } from "./_keys.ts";
import {
  encodeRequest,
  Opcode,
  type Request,
  Status,
  statusText,
  storeExtras,
} from "./_protocol.ts";

// The parts of memjs this module uses (memjs ships no types).
interface MemjsResponse {
  header: { status: number; cas: Uint8Array };
  val: Uint8Array;
}
type MemjsCallback = (error: unknown, response: MemjsResponse | null) => void;
interface MemjsServer {
  host: string;
  port: number;
  onResponse(seq: number, fn: (response: MemjsResponse) => void): void;
  onError(seq: number, fn: (error: unknown) => void): void;
  write(request: Uint8Array): void;
}
interface MemjsClient {
  servers: MemjsServer[];
  seq: number;
  incrSeq(): void;
  getServer(key: string): number;
  perform(
    key: string,
    request: Uint8Array,
    seq: number,
    callback: MemjsCallback,
    retries?: number,
  ): void;
  close(): void;
}
interface MemjsModule {
  Client: new (servers: MemjsServer[], options: Record<string, unknown>) => MemjsClient;
  Server: new (
    host: string,
    port: number,
    username: string | undefined,
    password: string | undefined,
    options: Record<string, unknown>,
  ) => MemjsServer;
}

/** An item as read: its value and the CAS value that a conditional store compares with. */
export interface MemcacheItem {
  /** The value, decoded as UTF-8. */
  value: string;
  /** The item's CAS value (8 bytes). */
  cas: Uint8Array;
}

/** What a store did. */
export type StoreOutcome = "stored" | "exists" | "not_found";

/** Options for {@linkcode MemcacheClient}. */
export interface MemcacheClientOptions {
  /** How long a request may wait for its response, in milliseconds (default 2000). */
  timeoutMs?: number;
  /** How long a connection attempt may take, in milliseconds (default twice `timeoutMs`). */
  connectTimeoutMs?: number;
}

/** Splits `host:port` or `[v6]:port` (as `parseMemcacheURL` writes them). */
export function splitServer(server: string): { host: string; port: number } {
  const colon = server.lastIndexOf(":");
  if (colon <= 0) throw new RangeError(`Server "${server}" has no port`);
  let host = server.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const port = Number(server.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Server "${server}" has a bad port`);
  }
  return { host, port };
}

const utf8 = new TextDecoder();

/** A memcached client for a fixed list of servers. */
export class MemcacheClient {
  /** The servers, `host:port`, in the order that the key routing indexes. */
  readonly servers: readonly string[];
  readonly #client: MemjsClient;
  readonly #pending = new Set<Promise<unknown>>();
  #closed?: Promise<void>;

  /** Makes a client; sockets open on first use. */
  constructor(servers: readonly string[], options: MemcacheClientOptions = {}) {
    if (servers.length === 0) throw new RangeError("No memcached server given");
    this.servers = [...servers];
    const timeout = (options.timeoutMs ?? 2000) / 1000;
    const conntimeout = (options.connectTimeoutMs ?? 2 * timeout * 1000) / 1000;
    const serverOptions = { timeout, conntimeout, keepAlive: true, keepAliveDelay: 30 };
    const mod = memjs as unknown as MemjsModule;
    const list = this.servers.map((s) => {
      const { host, port } = splitServer(s);
      return new mod.Server(host, port, undefined, undefined, serverOptions);
    });
    this.#client = new mod.Client(list, {
      retries: 2, // one resend after a connection error; conditional stores pass 1 (none)
      retry_delay: 0.2,
      failover: false, // a key never moves to another server
      expires: 0,
      logger: { log: () => {} }, // failures reach the caller as rejections instead
    });
    const count = list.length;
    this.#client.getServer = (key: string) => pickServer(key, count);
  }

  #send(key: string, request: Omit<Request, "opaque">, retries?: number): Promise<MemjsResponse> {
    if (this.#closed) return Promise.reject(new ClosedError("The memcache client is closed"));
    checkKey(key);
    const client = this.#client;
    client.incrSeq();
    const seq = client.seq;
    const bytes = encodeRequest({ ...request, key, opaque: seq });
    const done = new Promise<MemjsResponse>((resolve, reject) => {
      client.perform(key, bytes, seq, (error, response) => {
        if (error || !response) {
          const server = this.servers[pickServer(key, this.servers.length)];
          reject(
            new BackendError(`Memcache request to ${server} failed: ${describe(error)}`, {
              cause: error,
            }),
          );
        } else resolve(response);
      }, retries);
    });
    this.#track(done);
    return done;
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    const drop = () => this.#pending.delete(p);
    p.then(drop, drop);
  }

  /** Reads an item; null on a miss. */
  async get(key: string): Promise<MemcacheItem | null> {
    const response = await this.#send(key, { opcode: Opcode.get });
    const status = response.header.status;
    if (status === Status.keyNotFound) return null;
    if (status !== Status.ok) throw failed("GET", key, status);
    return { value: utf8.decode(response.val), cas: Uint8Array.from(response.header.cas) };
  }

  /**
   * Stores an item that expires at `expiration` (memcached's rule: seconds from now up to 30
   * days, else a Unix time). With `cas`, the store happens only if the item still has that CAS
   * value (`exists` when it changed, `not_found` when it is gone), and it is sent once: a resend
   * after a lost response could not tell our own store from another client's.
   */
  async set(
    key: string,
    value: string,
    expiration: number,
    cas?: Uint8Array,
  ): Promise<StoreOutcome> {
    const response = await this.#send(
      key,
      { opcode: Opcode.set, value, extras: storeExtras(0, expiration), cas },
      cas ? 1 : undefined,
    );
    return storeOutcome("SET", key, response.header.status);
  }

  /** Stores an item only if the key is free; false when it is taken. Sent once. */
  async add(key: string, value: string, expiration: number): Promise<boolean> {
    const response = await this.#send(
      key,
      { opcode: Opcode.add, value, extras: storeExtras(0, expiration) },
      1,
    );
    const outcome = storeOutcome("ADD", key, response.header.status);
    return outcome === "stored";
  }

  /** Deletes an item; false when there was none. */
  async delete(key: string): Promise<boolean> {
    const response = await this.#send(key, { opcode: Opcode.delete });
    const status = response.header.status;
    if (status === Status.keyNotFound) return false;
    if (status !== Status.ok) throw failed("DELETE", key, status);
    return true;
  }

  /** Asks every server for its version: resolves once all answer, rejects with the first failure. */
  async ping(): Promise<void> {
    if (this.#closed) throw new ClosedError("The memcache client is closed");
    const client = this.#client;
    await Promise.all(client.servers.map((server, i) => {
      client.incrSeq();
      const seq = client.seq;
      const done = new Promise<void>((resolve, reject) => {
        server.onResponse(seq, () => resolve());
        server.onError(seq, (error) =>
          reject(
            new BackendError(
              `Memcache server ${this.servers[i]} is not reachable: ${describe(error)}`,
              { cause: error },
            ),
          ));
        server.write(encodeRequest({ opcode: Opcode.version, opaque: seq }));
      });
      this.#track(done);
      return done;
    }));
  }

  /** Waits for the requests in flight (each ends by its timeout at worst), then closes. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled([...this.#pending]);
      this.#client.close();
    })();
    return this.#closed;
  }
}

function storeOutcome(op: string, key: string, status: number): StoreOutcome {
  if (status === Status.ok) return "stored";
  if (status === Status.keyExists) return "exists";
  if (status === Status.keyNotFound) return "not_found";
  throw failed(op, key, status);
}

function failed(op: string, key: string, status: number): BackendError {
  return new BackendError(`Memcache ${op} "${key}" failed: ${statusText(status)}`);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error ?? "no response");
}
