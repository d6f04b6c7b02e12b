import { conformanceSuite } from "./suite.ts";
import { MemoryBackend, MemoryBroker } from "../../mod.ts";

conformanceSuite("memory broker + memory backend", (config) =>
  Promise.resolve({
    broker: new MemoryBroker("memory://", { config: { defaultQueue: config.defaultQueue } }),
    backend: new MemoryBackend(),
  }));
