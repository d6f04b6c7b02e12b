/**
 * `machinery pending [QUEUE]`: a page of the tasks waiting in a queue.
 *
 * @module
 */
import type { QueuedTask } from "../mod.ts";
import { stringifyGo } from "../src/wire/mod.ts";
import type { Command } from "./command.ts";
import { OK } from "./errors.ts";
import { atMostPositionals, type Parsed, type Values } from "./flags.ts";
import { JSON_HELP, PAGE_HELP, PAGE_OPTIONS, pageOf, withInspector } from "./inspection.ts";
import { printJson, printTable, shorten } from "./table.ts";

/** `machinery pending`. */
export const pending: Command = {
  options: PAGE_OPTIONS,
  help: `machinery pending [QUEUE] [--limit N] [--offset N] [--json] [connection options]
  The tasks waiting in QUEUE (default: the default queue) in the order they run (priority
  levels first, then oldest first): name, UUID and arguments. Redis only: RabbitMQ cannot
  list a queue without taking its messages.
${PAGE_HELP}
${JSON_HELP}`,
  connects: true,
  run: ({ values, positionals }: Parsed) => {
    atMostPositionals("pending", positionals, 1);
    return withInspector(values, async (inspector, config) => {
      const queue = positionals[0] ?? config.defaultQueue;
      showTasks(values, await inspector.pending(queue, pageOf(values)));
      return OK;
    });
  },
};

/** Prints a page of queued tasks as a table, or as JSON with `--json`. */
export function showTasks(values: Values, tasks: QueuedTask[]): void {
  if (values.json) {
    printJson(tasks.map(({ queue, signature, body, eta }) => ({
      queue,
      name: signature?.name ?? null,
      uuid: signature?.uuid ?? null,
      eta,
      args: signature ? JSON.parse(stringifyGo(signature.args ?? [])) : null,
      body: signature ? undefined : body,
    })));
    return;
  }
  printTable(
    ["NAME", "UUID", "ETA", "QUEUE", "ARGS"],
    tasks.map(({ queue, signature, body, eta }) => [
      signature?.name ?? "(undecodable)",
      signature?.uuid,
      eta,
      queue,
      shorten(signature ? argsText(signature.args ?? []) : body),
    ]),
  );
}

/** `add(int64:1, int64:2)`-style arguments. */
function argsText(args: { type: string; value: unknown }[]): string {
  return args.map((a) => `${a.type}:${stringifyGo(a.value)}`).join(", ");
}
