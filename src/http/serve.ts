/**
 * A small HTTP server on whichever runtime runs us: `Deno.serve`, `Bun.serve`, or `node:http`
 * (loaded only on Node). It answers with a web-standard handler; the rest of machinery never
 * sees the runtime.
 *
 * @module
 */

/** A running server. */
export interface HttpServer {
  /** The port it listens on (the one chosen when asked for port 0). */
  readonly port: number;
  /** Stops listening. Idempotent. */
  close(): Promise<void>;
}

/** Where to listen. */
export interface ListenOptions {
  /** The port (0: any free port). */
  port: number;
  /** The address (default `0.0.0.0`, so Prometheus can scrape from another host). */
  hostname?: string;
}

type Handler = (request: Request) => Response | Promise<Response>;

interface DenoServe {
  serve(
    options: { port: number; hostname: string; onListen?: () => void },
    handler: Handler,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

interface BunServe {
  serve(options: { port: number; hostname: string; fetch: Handler }): {
    port: number;
    stop(force?: boolean): void | Promise<void>;
  };
}

/** Starts serving `handler`. */
export async function serveHttp(options: ListenOptions, handler: Handler): Promise<HttpServer> {
  const hostname = options.hostname ?? "0.0.0.0";
  const deno = (globalThis as { Deno?: DenoServe }).Deno;
  if (deno) {
    const server = deno.serve({ port: options.port, hostname, onListen: () => {} }, handler);
    let closed: Promise<void> | undefined;
    return { port: server.addr.port, close: () => (closed ??= server.shutdown()) };
  }
  const bun = (globalThis as { Bun?: BunServe }).Bun;
  if (bun) {
    const server = bun.serve({ port: options.port, hostname, fetch: handler });
    let closed: Promise<void> | undefined;
    return { port: server.port, close: () => (closed ??= Promise.resolve(server.stop(true))) };
  }
  return await serveNode(options.port, hostname, handler);
}

async function serveNode(port: number, hostname: string, handler: Handler): Promise<HttpServer> {
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
    readBody(req)
      .then((body) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) {
          if (typeof v === "string") headers.set(k, v);
        }
        // The dashboard's POSTs need their headers (Origin, cookies) and their form body.
        return handler(new Request(url, { method: req.method, headers, body }));
      })
      .then(async (response) => {
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(new Uint8Array(await response.arrayBuffer()));
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => resolve());
  });
  const address = server.address();
  let closed: Promise<void> | undefined;
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => (closed ??= new Promise((resolve) => server.close(() => resolve()))),
  };
}

/** The request body, or `undefined` for a GET or HEAD (a Request refuses a body there). */
async function readBody(
  req: AsyncIterable<Uint8Array> & { method?: string },
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (req.method === "GET" || req.method === "HEAD") return undefined;
  const chunks: Uint8Array[] = [];
  for await (const chunk of req) chunks.push(chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
