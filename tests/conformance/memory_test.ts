/**
 * The in-process adapters: the broker and backend contracts, and the end-to-end suite on the
 * memory broker with the memory backend.
 */
import { conformanceSuite } from "./suite.ts";
import { brokerContract } from "./broker_contract.ts";
import { backendContract } from "./backend_contract.ts";
import { memoryBackend, memoryBroker } from "./adapters.ts";
import type { MemoryBroker } from "../../src/memory/mod.ts";

brokerContract("memory broker", {
  make: (queue) => memoryBroker({ defaultQueue: queue }),
  deadLetters: (broker) => Promise.resolve((broker as MemoryBroker).deadLetters),
  purge: "the memory broker offers no purge",
  redeliversToOtherInstances: "its queues live in one broker instance",
  flagsRedelivered: true,
  listsDelayedTasks: true,
});

backendContract("memory backend", {
  make: (resultsExpireIn) => memoryBackend({ resultsExpireIn }),
  sharedStore: "each memory backend is a store of its own",
  laterStates: "merged",
  groupMeta: true,
  expiry: true,
  refusesCallsAfterClose: "the in-process backend holds no connection and stays readable",
  failureUnlessCompleted: true,
});

conformanceSuite("memory broker + memory backend", (config) =>
  Promise.resolve({
    broker: memoryBroker(config),
    backend: memoryBackend(config),
  }));
