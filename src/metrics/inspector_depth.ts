/**
 * A queue-depth sampler over the inspection API (`Inspector.queues`, what `machinery queues`
 * prints): ready, delayed, held and dead, where the broker can count them. The worker's default
 * sampler, `Broker.queueDepth`, counts less (ready and dead) on a connection it already has; this
 * one costs the inspector's own connection and its counting.
 *
 * @module
 */
import type { Inspector } from "../inspector.ts";
import type { QueueDepth } from "../broker.ts";
import type { QueueDepthSampler } from "./worker_metrics.ts";

/** Samples a queue with `inspector.queues([queue])`; a count the broker cannot give is left out. */
export function inspectorDepthSampler(inspector: Inspector): QueueDepthSampler {
  return async (queue) => {
    const [counts] = await inspector.queues([queue]);
    const depth: QueueDepth = {};
    if (!counts) return depth;
    for (const state of ["ready", "delayed", "held", "dead"] as const) {
      const n = counts[state];
      if (n !== null) depth[state] = n;
    }
    return depth;
  };
}
