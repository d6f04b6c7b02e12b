/**
 * `machinery dashboard`: serves the web dashboard (`src/dashboard/`) for the configured broker,
 * its worker registry and result backend, on 127.0.0.1 unless told otherwise, until a signal.
 *
 * @module
 */
import {
  type Backend,
  backendFromURL,
  registryURL,
  silentLogger,
  type WorkerRegistry,
} from "../mod.ts";
import { inspectorFromURL, registryFromURL } from "../mod.ts";
import { createDashboard } from "../src/dashboard/mod.ts";
import { serveHttp } from "../src/http/serve.ts";
import { onShutdownSignals } from "../src/runtime.ts";
import { redactPassword } from "../src/urls.ts";
import type { Command } from "./command.ts";
import { loadConfig } from "./config.ts";
import { OK, UsageError } from "./errors.ts";
import { atMostPositionals, COMMON, CONNECTION, type Parsed, str, wholeNumber } from "./flags.ts";
import { closeQuietly, connect } from "./server.ts";

/** `machinery dashboard`. */
export const dashboard: Command = {
  options: {
    ...COMMON,
    ...CONNECTION,
    port: { type: "string" },
    host: { type: "string" },
    "read-only": { type: "boolean" },
    "auth-token": { type: "string" },
  },
  help: `machinery dashboard [--port 8080] [--host 127.0.0.1] [--read-only] [--auth-token TOKEN]
  A web dashboard: the queues (the default queue and those live workers consume) with their
  counts and throughput, the live workers, a queue's pending tasks, the delayed tasks, a task by
  UUID and the dead letters, which it can retry or delete. Runs until SIGINT or SIGTERM.
  --port N                   the port (default 8080; 0: any free port)
  --host ADDRESS             the address to listen on (default 127.0.0.1); another than a
                             loopback address needs --auth-token
  --read-only                hide and refuse the actions (retry, delete)
  --auth-token TOKEN         every request needs it: "Authorization: Bearer TOKEN", or open
                             the dashboard once with ?token=TOKEN (a cookie keeps it)`,
  connects: true,
  run,
};

/** Whether `host` reaches only this machine. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

async function run({ values, positionals }: Parsed): Promise<number> {
  atMostPositionals("dashboard", positionals);
  const port = wholeNumber(values, "port") ?? 8080;
  const host = str(values, "host") ?? "127.0.0.1";
  const authToken = str(values, "auth-token");
  if (!isLoopback(host) && !authToken) {
    throw new UsageError(
      `Refusing to serve the dashboard on "${host}" without --auth-token: anyone who can reach ` +
        "it could read and change the queues",
    );
  }
  const config = await loadConfig(values);
  const options = { config, logger: silentLogger };
  const inspector = await inspectorFromURL(config.broker, options);
  const url = registryURL(config);
  let registry: WorkerRegistry | undefined;
  let backend: Backend | undefined;
  try {
    await connect(inspector, "broker", config.broker);
    if (url !== undefined) {
      registry = await registryFromURL(url, options);
      await connect(registry, "worker registry", url);
    }
    backend = await backendFromURL(config.resultBackend, options);
    await connect(backend, "result backend", config.resultBackend);
    const handler = createDashboard({
      inspector,
      registry,
      backend,
      queues: [config.defaultQueue],
      readOnly: values["read-only"] === true,
      authToken,
    });
    const server = await serveHttp({ port, hostname: host }, handler);
    const shown = host.includes(":") ? `[${host}]` : host;
    console.error(
      `Dashboard for "${redactPassword(config.broker)}" on http://${shown}:${server.port}/` +
        (values["read-only"] === true ? " (read-only)" : ""),
    );
    await new Promise<void>((resolve) => {
      const stop = onShutdownSignals(() => {
        stop();
        resolve();
      });
    });
    await server.close();
    return OK;
  } finally {
    await Promise.all([inspector, registry, backend].map((c) => c && closeQuietly(c)));
  }
}
