/**
 * The AMQP adapters on RabbitMQ: the broker and backend contracts, and the end-to-end suite on
 * the AMQP broker with the AMQP result backend, with the memory backend, and with the Redis
 * backend (the seed article's setup). Skipped with a printed reason when a server is not
 * reachable, unless `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { backendContract } from "./backend_contract.ts";
import { brokerContract, type DeadLetterView, REQUEUE_DELAY_MS } from "./broker_contract.ts";
import {
  amqpBackend,
  amqpBroker,
  amqpCancelStream,
  memoryBackend,
  redisBackend,
} from "./adapters.ts";
import type { Backend } from "../../src/backend.ts";
import {
  amqpSkipReason,
  deleteAMQP,
  uniqueName,
  withChannel,
} from "../integration/amqp_support.ts";
import { deleteRedisKeys, redisSkipReason } from "../integration/redis_support.ts";

const amqpSkip = await amqpSkipReason();
const redisSkip = amqpSkip || await redisSkipReason();

/** The messages in `<queue>.dead_letters`, read and given back. */
function deadLetters(queue: string): Promise<DeadLetterView[]> {
  return withChannel(async (ch) => {
    const dead = `${queue}.dead_letters`;
    if ((await ch.assertQueue(dead, { durable: true })).messageCount === 0) return [];
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

{
  const exchange = uniqueName("contract_exchange");
  brokerContract("amqp broker", {
    skip: amqpSkip,
    // The binding key is the queue's name, so an empty routing key reaches it; a prefetch
    // above the test's capacities leaves the capacity to the broker's consumer.
    make: (queue) =>
      amqpBroker({
        defaultQueue: queue,
        amqp: { exchange, bindingKey: queue, prefetchCount: 50 },
      }),
    deadLetters: (_broker, queue) => deadLetters(queue),
    purge: "the AMQP broker offers no purge",
    redeliversToOtherInstances: true,
    flagsRedelivered: true,
    listsDelayedTasks: "RabbitMQ cannot list delay queues by ETA, as in machinery",
    cleanup: (queues) =>
      deleteAMQP(
        queues.flatMap((q) => [q, `${q}.dead_letters`, `requeue.${REQUEUE_DELAY_MS}.${q}`]),
        [exchange],
      ),
  });
}

{
  const exchange = uniqueName("contract_exchange");
  backendContract("amqp backend", {
    skip: amqpSkip,
    make: (resultsExpireIn) => amqpBackend({ resultsExpireIn, amqp: { exchange } }),
    sharedStore: true,
    laterStates: "unmerged",
    groupMeta: "the AMQP result backend keeps no group meta: a group is the queue of its " +
      "members' final states, as in machinery",
    expiry: true,
    refusesCallsAfterClose: true,
    // A task's states are in a queue named after it; a group's in one named after the group,
    // and its chord marker in `<group>_chord_triggered`.
    cleanup: (written) =>
      deleteAMQP(written.flatMap((id) => [id, `${id}_chord_triggered`]), [exchange]),
  });
}

for (const backendKind of ["amqp", "memory", "redis"] as const) {
  const exchange = uniqueName("conformance_exchange");
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  conformanceSuite(`amqp broker + ${backendKind} backend`, (input) => {
    const queue = input.defaultQueue!;
    const config = {
      ...input,
      resultsExpireIn: 60,
      amqp: { exchange, bindingKey: `${queue}_task`, prefetchCount: 10 },
    };
    let backend: Backend;
    if (backendKind === "amqp") backend = amqpBackend(config);
    else if (backendKind === "redis") backend = redisBackend(config, keyPrefix);
    else backend = memoryBackend(config);
    return Promise.resolve({
      broker: amqpBroker(config),
      backend,
      cleanup: async () => {
        // State queues (AMQP) and keys (Redis) are named by task UUIDs and expire after 60 s.
        // Rate-limited tasks wait in requeue queues named by powers of two of ms.
        const requeues = Array.from({ length: 17 }, (_, k) => `requeue.${2 ** k}.${queue}`);
        await deleteAMQP(
          [queue, `${queue}.dead_letters`, amqpCancelStream(config), ...requeues],
          [exchange],
        );
        if (backendKind === "redis") await deleteRedisKeys([], [keyPrefix]);
      },
    });
  }, {
    skip: backendKind === "redis" ? redisSkip : amqpSkip,
    config: { amqp: { exchange } },
  });
}
