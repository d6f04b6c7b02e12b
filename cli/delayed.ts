/**
 * `machinery delayed`: a page of the tasks waiting for their ETA.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { OK } from "./errors.ts";
import { atMostPositionals, type Parsed } from "./flags.ts";
import { JSON_HELP, PAGE_HELP, PAGE_OPTIONS, pageOf, withInspector } from "./inspection.ts";
import { showTasks } from "./pending.ts";

/** `machinery delayed`. */
export const delayed: Command = {
  options: PAGE_OPTIONS,
  help: `machinery delayed [--limit N] [--offset N] [--json] [connection options]
  The tasks held for a future ETA (and messages given back with a delay), earliest first: name,
  UUID, ETA, queue and arguments. Redis only: RabbitMQ's delay queues cannot be listed by ETA.
${PAGE_HELP}
${JSON_HELP}`,
  connects: true,
  run: ({ values, positionals }: Parsed) => {
    atMostPositionals("delayed", positionals);
    return withInspector(values, async (inspector) => {
      showTasks(values, await inspector.delayed(pageOf(values)));
      return OK;
    });
  },
};
