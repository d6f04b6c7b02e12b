/**
 * `machinery workers`: the live workers, from the registry their heartbeats write.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { OK } from "./errors.ts";
import { atMostPositionals, type Parsed } from "./flags.ts";
import { INSPECT_OPTIONS, JSON_HELP, withRegistry } from "./inspection.ts";
import { printJson, printTable } from "./table.ts";

/** The help lines that say where the registry is. */
export const REGISTRY_HELP: string =
  `  Workers announce themselves in Redis: the broker when it is Redis, else the result backend
  when it is Redis; with neither, there is no registry.`;

/** `machinery workers`. */
export const workers: Command = {
  options: INSPECT_OPTIONS,
  help: `machinery workers [--json] [connection options]
  The live workers: name, host, pid, queue, concurrency, running, processed, failed, when it
  started and its last heartbeat. A worker that stops renewing its heartbeat (killed) drops out
  after its TTL (worker --heartbeat-ttl).
${REGISTRY_HELP}
${JSON_HELP}`,
  connects: true,
  run: ({ values, positionals }: Parsed) => {
    atMostPositionals("workers", positionals);
    return withRegistry(values, async (registry) => {
      const list = await registry.workers();
      if (values.json) printJson(list);
      else {
        printTable(
          [
            "NAME",
            "HOST",
            "PID",
            "QUEUE",
            "CONC",
            "RUNNING",
            "PROCESSED",
            "FAILED",
            "STARTED",
            "HEARTBEAT",
          ],
          list.map((w) => [
            w.name,
            w.host,
            w.pid,
            w.queue,
            w.concurrency,
            w.running,
            w.processed,
            w.failed,
            w.started,
            w.lastHeartbeat,
          ]),
        );
      }
      return OK;
    });
  },
};
