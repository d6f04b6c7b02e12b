/**
 * The AMQP adapters on RabbitMQ: the broker and backend contracts, and the end-to-end suite on
 * the AMQP broker with the AMQP result backend, with the memory backend, and with the Redis
 * backend (the seed article's setup). Skipped with a printed reason when a server is not
 * reachable, unless `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { backendContract } from "./backend_contract.ts";
import { brokerContract } from "./broker_contract.ts";
import { amqpContractOptions } from "./amqp_contract.ts";
import {
  amqpBackend,
  amqpBroker,
  amqpCancelStream,
  memoryBackend,
  redisBackend,
} from "./adapters.ts";
import type { Backend } from "../../src/backend.ts";
import { amqpSkipReason, deleteAMQP, uniqueName } from "../integration/amqp_support.ts";
import { deleteRedisKeys, redisSkipReason } from "../integration/redis_support.ts";

const amqpSkip = await amqpSkipReason();
const redisSkip = amqpSkip || await redisSkipReason();

brokerContract("amqp broker", amqpContractOptions(amqpSkip));

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
    failureUnlessCompleted:
      "states are messages in queues: no step reads and writes one atomically",
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
