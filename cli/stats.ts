/**
 * `machinery stats`: tasks processed and failed per task name over the last minutes, from the
 * per-minute counters the workers' heartbeats write.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { OK } from "./errors.ts";
import { atMostPositionals, type Parsed, wholeNumber } from "./flags.ts";
import { INSPECT_OPTIONS, JSON_HELP, withRegistry } from "./inspection.ts";
import { printJson, printTable } from "./table.ts";
import { REGISTRY_HELP } from "./workers.ts";

/** `machinery stats`. */
export const stats: Command = {
  options: { ...INSPECT_OPTIONS, minutes: { type: "string" } },
  help: `machinery stats [--minutes N] [--json] [connection options]
  Tasks processed and failed per task name over the last N minutes (default 15, at most 120),
  as the workers' heartbeats reported them (within a few seconds).
  --minutes N                the window (default 15)
${REGISTRY_HELP}
${JSON_HELP}`,
  connects: true,
  run: ({ values, positionals }: Parsed) => {
    atMostPositionals("stats", positionals);
    const minutes = wholeNumber(values, "minutes") ?? 15;
    return withRegistry(values, async (registry) => {
      const counts = await registry.stats(minutes);
      if (values.json) printJson({ minutes, tasks: counts });
      else {printTable(
          ["TASK", "PROCESSED", "FAILED"],
          counts.map((s) => [s.task, s.processed, s.failed]),
        );}
      return OK;
    });
  },
};
