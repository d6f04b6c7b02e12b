/**
 * The broker contract's options for the AMQP broker, shared by the classic-queue and the
 * quorum-queue runs: how to build the broker, read its dead letters and clean up.
 */
import {
  type BrokerContractOptions,
  type DeadLetterView,
  REQUEUE_DELAY_MS,
} from "./broker_contract.ts";
import { amqpBroker } from "./adapters.ts";
import { deleteAMQP, uniqueName, withChannel } from "../integration/amqp_support.ts";

/**
 * The messages in `<queue>.dead_letters`, read and given back. `args` are the queue's declare
 * arguments (`{"x-queue-type": "quorum"}` when the work queue is a quorum queue).
 */
export function deadLetters(
  queue: string,
  args: Record<string, unknown> = {},
): Promise<DeadLetterView[]> {
  return withChannel(async (ch) => {
    const dead = `${queue}.dead_letters`;
    const declared = await ch.assertQueue(dead, { durable: true, arguments: args });
    if (declared.messageCount === 0) return [];
    const out: DeadLetterView[] = [];
    for (;;) {
      const message = await ch.get(dead, { noAck: false });
      if (message === false) break;
      const reason = message.properties.headers?.["x-machinery-reason"];
      out.push({ body: message.content.toString("utf8"), reason: String(reason) });
    }
    ch.nackAll(true);
    return out;
  });
}

/**
 * The AMQP broker's contract options on an exchange of its own, with `queueDeclareArgs` for the
 * work queues and `deadLetterArgs` for reading `<queue>.dead_letters`.
 */
export function amqpContractOptions(
  skip: string | false,
  queueDeclareArgs: Record<string, unknown> | null = null,
  deadLetterArgs: Record<string, unknown> = {},
): BrokerContractOptions {
  const exchange = uniqueName("contract_exchange");
  return {
    skip,
    // The binding key is the queue's name, so an empty routing key reaches it; a prefetch
    // above the test's capacities leaves the capacity to the broker's consumer.
    make: (queue) =>
      amqpBroker({
        defaultQueue: queue,
        amqp: { exchange, bindingKey: queue, prefetchCount: 50, queueDeclareArgs },
      }),
    deadLetters: (_broker, queue) => deadLetters(queue, deadLetterArgs),
    purge: "the AMQP broker offers no purge",
    redeliversToOtherInstances: true,
    flagsRedelivered: true,
    listsDelayedTasks: "RabbitMQ cannot list delay queues by ETA, as in machinery",
    cleanup: (queues) =>
      deleteAMQP(
        queues.flatMap((q) => [q, `${q}.dead_letters`, `requeue.${REQUEUE_DELAY_MS}.${q}`]),
        [exchange],
      ),
  };
}
