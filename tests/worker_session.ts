/** Runs a test body while a worker of `server` consumes, then stops it and closes the server. */
import type { Server, WorkerOptions } from "../mod.ts";

/** Launches a worker (tag `w`), runs `body`, then quits the worker and closes the server. */
export async function withWorker(
  server: Server,
  body: () => Promise<void>,
  concurrency = 1,
  options: WorkerOptions = {},
): Promise<void> {
  const worker = server.newWorker("w", concurrency, options);
  const launched = worker.launch();
  try {
    await body();
  } finally {
    await worker.quit();
    await launched;
    await server.close();
  }
}
