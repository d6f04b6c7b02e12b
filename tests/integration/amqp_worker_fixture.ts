/**
 * A worker process for the kill -9 test: it consumes QUEUE on EXCHANGE with the AMQP broker and
 * runs `work`, which prints `started <key>` and then never finishes, until the process is killed.
 */
import { MemoryBackend, Server, silentLogger } from "../../mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { env } from "../helpers.ts";

const url = env("AMQP_URL") || "amqp://guest:guest@127.0.0.1:5672/";
const exchange = env("EXCHANGE")!;
const queue = env("QUEUE")!;

const server = new Server({
  config: { defaultQueue: queue, noUnixSignals: true, amqp: { exchange } },
  broker: new AMQPBroker(url, {
    config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue, prefetchCount: 3 } },
    logger: silentLogger,
  }),
  backend: new MemoryBackend(),
  logger: silentLogger,
});
server.registerTask("work", async (key: string) => {
  console.log(`started ${key}`);
  await new Promise(() => {}); // the AMQP socket keeps the process alive until the kill
});
await server.newWorker("fixture", 3).launch();
