/**
 * The Server's logger reaches the adapters: when the Redis server behind a running Server goes
 * away, the broker's and backend's connection warnings go to that logger (throttled), and
 * nothing is written to stderr on its own. Uses a redis-server of its own on a spare port.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer, Socket } from "node:net";
import { type Logger, Server } from "../../mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";

function redisServerSkip(): string | false {
  const probe = spawnSync("redis-server", ["--version"]);
  return probe.error ? `redis-server is not installed: ${probe.error.message}` : false;
}

function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1", () => {
      socket.end();
      resolve(true);
    });
  });
}

describeUnless(redisServerSkip(), "adapter logging", () => {
  let redis: ChildProcess | undefined;
  after(() => {
    redis?.kill("SIGKILL");
  });

  it(
    "sends the adapters' connection warnings to the Server's logger",
    { timeout: 30_000 },
    async () => {
      const port = await sparePort();
      redis = spawn("redis-server", [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ], { stdio: "ignore" });
      await waitFor(() => answers(port), `redis-server on port ${port}`);

      const warnings: string[] = [];
      const logger: Logger = {
        verbose: false,
        debug: () => {},
        info: () => {},
        warn: (m) => warnings.push(m),
        error: () => {},
      };
      const stderr: unknown[][] = [];
      const consoleError = console.error;
      const consoleWarn = console.warn;
      console.error = (...args: unknown[]) => stderr.push(args);
      console.warn = (...args: unknown[]) => stderr.push(args);
      const url = `redis://127.0.0.1:${port}`;
      const server = await Server.fromConfig({ broker: url, resultBackend: url }, logger);
      try {
        redis.kill("SIGKILL");
        await waitFor(
          () =>
            warnings.some((w) => w.startsWith(`Redis broker ${url}: `)) &&
            warnings.some((w) => w.startsWith(`Redis backend ${url}: `)),
          "the broker's and backend's warnings",
        );
        const count = warnings.length;
        assert.ok(count <= 4, `throttled to one per adapter and 5 s: ${warnings.join(" | ")}`);
      } finally {
        console.error = consoleError;
        console.warn = consoleWarn;
        await server.close();
      }
      assert.deepEqual(stderr, [], "nothing written to stderr directly");
    },
  );
});
