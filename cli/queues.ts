/**
 * `machinery queues [QUEUE]...`: per queue, the messages ready, delayed, held by workers and
 * dead.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { OK } from "./errors.ts";
import type { Parsed } from "./flags.ts";
import { INSPECT_OPTIONS, JSON_HELP, withInspector } from "./inspection.ts";
import { printJson, printTable } from "./table.ts";

/** `machinery queues`. */
export const queues: Command = {
  options: INSPECT_OPTIONS,
  help: `machinery queues [QUEUE]... [--json] [connection options]
  Per queue (default: the default queue and the queues live workers consume): messages ready,
  delayed (waiting for an ETA), held by workers (taken, not yet settled) and dead (set aside).
  "-" is what the broker cannot tell: RabbitMQ counts neither held nor delayed messages.
${JSON_HELP}`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  return await withInspector(values, async (inspector) => {
    const counts = await inspector.queues(positionals);
    if (values.json) printJson(counts);
    else {
      printTable(
        ["QUEUE", "READY", "DELAYED", "HELD", "DEAD"],
        counts.map((c) => [c.queue, c.ready, c.delayed, c.held, c.dead]),
      );
    }
    return OK;
  });
}
