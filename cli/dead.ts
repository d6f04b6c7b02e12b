/**
 * `machinery dead ls|retry|rm`: the messages workers set aside (undecodable, too large), with
 * their reasons; retry puts the original body back on its queue, rm deletes.
 *
 * @module
 */
import type { DeadLetterSelection } from "../mod.ts";
import type { Command } from "./command.ts";
import { OK, UsageError } from "./errors.ts";
import { atMostPositionals, type Parsed } from "./flags.ts";
import { JSON_HELP, PAGE_HELP, PAGE_OPTIONS, pageOf, withInspector } from "./inspection.ts";
import { print } from "./output.ts";
import { printJson, printTable, shorten } from "./table.ts";

/** `machinery dead`. */
export const dead: Command = {
  options: { ...PAGE_OPTIONS, all: { type: "boolean" } },
  help: `machinery dead ls [QUEUE] [--limit N] [--offset N] [--json] [connection options]
machinery dead retry (UUID... | --all) [--queue QUEUE] [--json] [connection options]
machinery dead rm (UUID... | --all) [--queue QUEUE] [--json] [connection options]
  The dead letters of a queue (default: the default queue, or --queue): messages a worker set
  aside with a reason (a body that is not a task, a message over the size limit). "ls" lists
  them, oldest first; "retry" puts the original bodies back on their queue (a body that was cut
  cannot be retried and stays); "rm" deletes them. A message that is not a task has no UUID:
  --all reaches it.
  --all                      every dead letter of the queue
${PAGE_HELP}
${JSON_HELP}`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  const [action, ...rest] = positionals;
  if (action === "ls") {
    atMostPositionals("dead ls", rest, 1);
    return await withInspector(values, async (inspector, config) => {
      const letters = await inspector.deadLetters(rest[0] ?? config.defaultQueue, pageOf(values));
      if (values.json) printJson(letters);
      else {
        printTable(
          ["REJECTED", "NAME", "UUID", "REASON", "BODY"],
          letters.map((
            l,
          ) => [l.rejectedAt, l.name, l.uuid, shorten(l.reason), shorten(l.body, 40)]),
        );
      }
      return OK;
    });
  }
  if (action === "retry" || action === "rm") {
    const selection: DeadLetterSelection = values.all === true ? { all: true } : { uuids: rest };
    if (values.all === true && rest.length > 0) {
      throw new UsageError(`dead ${action} takes UUIDs or --all, not both`);
    }
    if (values.all !== true && rest.length === 0) {
      throw new UsageError(`dead ${action} needs task UUIDs or --all`);
    }
    return await withInspector(values, async (inspector, config) => {
      const queue = config.defaultQueue;
      const count = action === "retry"
        ? await inspector.retryDeadLetters(queue, selection)
        : await inspector.deleteDeadLetters(queue, selection);
      if (values.json) printJson({ queue, [action === "retry" ? "retried" : "deleted"]: count });
      else {
        print(`${action === "retry" ? "Retried" : "Deleted"} ${count} dead letters of "${queue}"`);
      }
      return OK;
    });
  }
  throw new UsageError(
    action === undefined ? "dead needs ls, retry or rm" : `Unknown dead action "${action}"`,
  );
}
