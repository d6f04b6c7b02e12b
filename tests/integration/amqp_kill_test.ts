/**
 * kill -9 a worker process mid-task: RabbitMQ redelivers its unacked tasks to a new worker,
 * which completes them. The worker runs under the same runtime as the test (Deno or Bun).
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import type { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { MemoryBackend, newSignature, Server, silentLogger } from "../../mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName } from "./amqp_support.ts";

const skip = await amqpSkipReason();

function workerCommand(): [string, string[]] {
  const fixture = fileURLToPath(new URL("./amqp_worker_fixture.ts", import.meta.url));
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno) return [deno.execPath(), ["run", "-A", "--no-check", fixture]];
  return [process.execPath, [fixture]];
}

describeUnless(skip, "amqp worker killed with SIGKILL", () => {
  const exchange = uniqueName("kill_exchange");
  const queue = uniqueName("kill_tasks");

  after(() => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]));

  it("redelivers the killed worker's unacked tasks to a new worker", {
    timeout: 60_000,
  }, async () => {
    const makeServer = () =>
      new Server({
        config: { defaultQueue: queue, noUnixSignals: true, amqp: { exchange } },
        broker: new AMQPBroker(AMQP_URL, {
          config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue } },
          logger: silentLogger,
        }),
        backend: new MemoryBackend(),
        logger: silentLogger,
      });
    const server = makeServer();
    const ran = new Map<string, boolean>();
    server.registerTask("work", (key: string) => {
      ran.set(key, true);
      return `done ${key}`;
    });
    const [cmd, args] = workerCommand();
    const child = spawn(cmd, args, {
      env: { ...process.env, AMQP_URL, EXCHANGE: exchange, QUEUE: queue },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const started = new Set<string>();
    child.stdout!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        if (line.startsWith("started ")) started.add(line.slice(8).trim());
      }
    });
    let worker;
    try {
      const keys = ["a", "b", "c"].map((k) => uniqueName(k));
      const results = [];
      for (const key of keys) {
        results.push(
          await server.sendTask(newSignature("work", [{ name: "", type: "string", value: key }])),
        );
      }
      await waitFor(() => started.size === 3, "the child worker starts all three tasks", 30_000);
      child.kill("SIGKILL");
      await exited;
      assert.equal(ran.size, 0);

      worker = server.newWorker("replacement", 3);
      const launched = worker.launch();
      for (const [i, result] of results.entries()) {
        assert.deepEqual(await result.get({ timeout: 20_000 }), [`done ${keys[i]}`]);
      }
      assert.equal(ran.size, 3);
      await worker.quit();
      await launched;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      await worker?.quit();
      await server.close();
    }
  });
});
