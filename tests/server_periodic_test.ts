import { it } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  MemoryBackend,
  MemoryBroker,
  newSignature,
  Server,
  silentLogger,
} from "../mod.ts";
import { waitFor } from "./helpers.ts";

it("server periodic methods", { timeout: 15_000 }, async () => {
  const server = new Server({
    broker: new MemoryBroker(),
    backend: new MemoryBackend(),
    logger: silentLogger,
  });
  const seen: number[] = [];
  const add = server.registerTask("add", (a: number, b: number) => {
    seen.push(a + b);
    return a + b;
  });
  const worker = server.newWorker("w", 2);
  const running = worker.launch();
  assert.deepEqual(server.listPeriodic(), []);
  server.registerPeriodicTask("* * * * * *", "adder", add.signature(1, 2));
  server.registerPeriodicChain("@hourly", "c", newSignature("add"), newSignature("add"));
  assert.deepEqual(server.listPeriodic().map((e) => e.name), ["adder", "c"]);
  await waitFor(() => seen.length >= 1, "a tick");
  assert.equal(server.removePeriodic("c"), true);
  await worker.quit();
  await running;
  await server.close();
  await server.close();
  assert.throws(() => server.registerPeriodicTask("@hourly", "x", newSignature("x")), ClosedError);
});

it("fromConfig picks a Redis lock for a Redis broker", async () => {
  const server = await Server.fromConfig({
    broker: "redis://127.0.0.1:6379",
    resultBackend: "memory://",
  }, silentLogger);
  server.registerPeriodicTask("@hourly", "x", newSignature("x"));
  await server.close();
});
