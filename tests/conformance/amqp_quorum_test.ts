/**
 * The AMQP broker with quorum queues (`amqp.queueDeclareArgs: {"x-queue-type": "quorum"}` and a
 * delivery limit) on the shared RabbitMQ: the broker contract, and the end-to-end suite with the
 * AMQP result backend; delay, requeue and dead-letter queues are quorum queues too. Skipped with
 * a printed reason when RabbitMQ is not reachable, unless `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { brokerContract } from "./broker_contract.ts";
import { amqpContractOptions } from "./amqp_contract.ts";
import { amqpBackend, amqpBroker, amqpCancelStream } from "./adapters.ts";
import { amqpSkipReason, deleteAMQP, uniqueName } from "../integration/amqp_support.ts";

const skip = await amqpSkipReason();
const QUORUM = { "x-queue-type": "quorum" };
const queueDeclareArgs = { ...QUORUM, "x-delivery-limit": 20 };

brokerContract(
  "amqp broker, quorum queues",
  amqpContractOptions(skip, queueDeclareArgs, QUORUM),
);

{
  const exchange = uniqueName("quorum_conformance_exchange");
  conformanceSuite("amqp broker (quorum queues) + amqp backend", (input) => {
    const queue = input.defaultQueue!;
    const config = {
      ...input,
      resultsExpireIn: 60,
      amqp: { exchange, bindingKey: `${queue}_task`, prefetchCount: 10, queueDeclareArgs },
    };
    return Promise.resolve({
      broker: amqpBroker(config),
      backend: amqpBackend(config),
      cleanup: async () => {
        // Rate-limited tasks wait in requeue queues named by powers of two of ms.
        const requeues = Array.from({ length: 17 }, (_, k) => `requeue.${2 ** k}.${queue}`);
        await deleteAMQP(
          [queue, `${queue}.dead_letters`, amqpCancelStream(config), ...requeues],
          [exchange],
        );
      },
    });
  }, { skip, config: { amqp: { exchange, queueDeclareArgs } } });
}
