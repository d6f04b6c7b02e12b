/**
 * Misbehaving endpoints for connection tests, on spare loopback ports of this process: a proxy
 * to a real server that can be silent (accepts TCP, never answers) or forward, and that can
 * terminate TLS with a given certificate. Each one is closed by the test that made it.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { createServer as createTLSServer } from "node:tls";

/** A proxy on `127.0.0.1:port`. */
export interface TestProxy {
  /** The port it listens on. */
  readonly port: number;
  /**
   * `silent`: new connections are accepted and never answered; `forward`: they are piped to
   * the target. Switching to `forward` drops the silent ones held so far.
   */
  setMode(mode: "silent" | "forward"): void;
  /** How many connections it accepted so far. */
  accepted(): number;
  /** True once a reply was cut (`cutReplyTo` matched). */
  cutOnce(): boolean;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** Options for {@linkcode startProxy}. */
export interface ProxyOptions {
  /** Where `forward` connections go (default: nowhere, so only `silent` makes sense). */
  target?: { host: string; port: number };
  /** The starting mode (default `silent`). */
  mode?: "silent" | "forward";
  /** Terminate TLS with this certificate and key (PEM) before proxying. */
  tls?: { cert: string; key: string };
  /**
   * A lost reply: the first time a client's bytes match, they still reach the target, but what
   * it answers next is swallowed and the client's connection cut (the command ran; the client
   * never heard).
   */
  cutReplyTo?: (request: string) => boolean;
}

/** Starts a proxy on a spare loopback port. */
export async function startProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  let mode = options.mode ?? "silent";
  let accepted = 0;
  const held = new Set<Socket>();
  const onConnection = (socket: Socket): void => {
    accepted++;
    held.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => held.delete(socket));
    if (mode === "silent" || !options.target) return;
    const upstream = connect(options.target.port, options.target.host);
    held.add(upstream);
    upstream.on("error", () => socket.destroy());
    upstream.on("close", () => {
      held.delete(upstream);
      socket.destroy();
    });
    socket.on("close", () => upstream.destroy());
    socket.pipe(upstream);
    const cut = options.cutReplyTo;
    if (!cut) {
      upstream.pipe(socket);
      return;
    }
    let cutting = false;
    socket.on("data", (chunk: Buffer) => {
      if (!cutDone && cut(chunk.toString("latin1"))) cutting = cutDone = true;
    });
    upstream.on("data", (chunk: Buffer) => {
      if (cutting) socket.destroy();
      else socket.write(chunk);
    });
  };
  let cutDone = false;
  const server: Server = options.tls
    ? createTLSServer({ cert: options.tls.cert, key: options.tls.key }, onConnection)
    : createServer(onConnection);
  // A client that refuses our certificate drops the handshake: not an error of the test.
  server.on("tlsClientError", () => {});
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    setMode(next) {
      if (next === "forward" && mode === "silent") {
        for (const socket of held) socket.destroy();
      }
      mode = next;
    },
    accepted: () => accepted,
    cutOnce: () => cutDone,
    close() {
      for (const socket of held) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port that was free a moment ago (for servers started as child processes). */
export async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
