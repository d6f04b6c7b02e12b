/**
 * The contract suite on RabbitMQ: the AMQP broker with the AMQP result backend, and with the
 * memory backend. Skipped with a printed reason when RabbitMQ is not reachable, unless
 * `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { MemoryBackend } from "../../mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp.ts";
import { silentLogger } from "../../src/log.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName } from "../integration/amqp_support.ts";

const skip = await amqpSkipReason();

for (const backendKind of ["amqp", "memory"] as const) {
  const exchange = uniqueName("conformance_exchange");
  conformanceSuite(`amqp broker + ${backendKind} backend`, (config) => {
    const queue = config.defaultQueue!;
    const broker = new AMQPBroker({
      urls: [AMQP_URL],
      defaultQueue: queue,
      exchange,
      bindingKey: `${queue}_task`,
      prefetchCount: 10,
      logger: silentLogger,
    });
    const backend = backendKind === "amqp"
      ? new AMQPBackend({ url: AMQP_URL, exchange, resultsExpireIn: 60 })
      : new MemoryBackend();
    return Promise.resolve({
      broker,
      backend,
      cleanup: () => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]),
    });
  }, { skip, config: { amqp: { exchange } } });
}
