/**
 * The seed article's program in TypeScript: a config, a server, the `HelloWorld` task, a worker,
 * then one task sent and its result printed.
 *
 * It runs on the in-process memory broker and backend unless `BROKER` and `RESULT_BACKEND` say
 * otherwise (machinery's other environment variables apply too):
 *
 * ```sh
 * deno run -A examples/hello_world.ts
 * BROKER=redis://127.0.0.1:6379 RESULT_BACKEND=redis://127.0.0.1:6379 deno run -A examples/hello_world.ts
 * BROKER=amqp://guest:guest@localhost:5672/ RESULT_BACKEND=redis://127.0.0.1:6379 bun examples/hello_world.ts
 * ```
 *
 * @module
 */
import process from "node:process";
import { configFromEnv, newSignature, resolveConfig, Server } from "../mod.ts";
import { helloWorld } from "./tasks.ts";

/** Runs the program and returns what HelloWorld returned. */
export async function main(): Promise<string> {
  // The article's config: machinery's defaults (queue `machinery_tasks`, exchange
  // `machinery_exchange`, binding key `machinery_task`), here on the memory engine by default.
  const config = resolveConfig(
    { broker: "memory://", resultBackend: "memory://", defaultQueue: "machinery_tasks" },
    configFromEnv(process.env),
    { noUnixSignals: true },
  );
  const server = await Server.fromConfig(config);
  try {
    server.registerTask("HelloWorld", helloWorld);

    const worker = server.newWorker("worker@localhost", 10);
    const running = worker.launch();
    try {
      const signature = newSignature("HelloWorld", [
        { name: "", type: "string", value: "Hello, machinery" },
      ]);
      const asyncResult = await server.sendTask(signature);
      const results = await asyncResult.get({ pollInterval: 5, timeout: 30_000 });
      return String(results[0]);
    } finally {
      await worker.quit();
      await running;
    }
  } finally {
    await server.close();
  }
}

if (import.meta.main) {
  try {
    console.log(await main());
  } catch (error) {
    console.error(`hello_world: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
