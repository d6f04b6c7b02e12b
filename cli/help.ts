/**
 * The help texts: `machinery --help` (every command's usage, the connection flags, the exit
 * statuses) and `machinery COMMAND --help` (the command's own help).
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import type { Command } from "./command.ts";
import { demo } from "./demo.ts";
import { worker } from "./worker.ts";

const CONNECTION_HELP = `Connection options:
  --broker URL               env BROKER; default amqp://guest:guest@localhost:5672/
  --result-backend URL       env RESULT_BACKEND; default redis://127.0.0.1:6379
  --queue NAME               the default queue; env DEFAULT_QUEUE; default machinery_tasks
  --config FILE              a machinery YAML config file (broker, result_backend, amqp: …)
  Flags beat environment variables (also AMQP_*, REDIS_*, RESULTS_EXPIRE_IN …), which beat the
  config file. Schemes: memory:// (this process only; eager is another name for it, so that Go
  configs load, but tasks still need a worker in this process), redis://, rediss://,
  redis+socket://, amqp://, amqps://; result backends also memcache://, mongodb://,
  mongodb+srv://. On RabbitMQ, --queue without a configured binding key also binds the queue
  with its own name, so that its tasks reach it alone.`;

/** `machinery --help`: every command's usage, the connection flags and the exit statuses. */
export function usageText(): string {
  return `machinery ${denoJson.version}: a distributed task queue, wire-compatible with Go machinery

Usage:
  ${demo.help.split("\n")[0]}
  ${worker.help.split("\n").slice(0, 3).join("\n  ")}
  machinery send [connection options]
  machinery send TASK [--arg TYPE:VALUE]... [--wait [--timeout SEC]] [--eta RFC3339 | --delay SEC]
                      [--retry N] [--task-timeout SEC] [--expires-in SEC] [connection options]
  machinery state UUID [connection options]
  machinery queues [QUEUE]... [--json] [connection options]
  machinery pending [QUEUE] [--limit N] [--offset N] [--json] [connection options]
  machinery delayed [--limit N] [--offset N] [--json] [connection options]
  machinery inspect UUID [--in QUEUE]... [--json] [connection options]
  machinery dead ls [QUEUE] | retry (UUID... | --all) | rm (UUID... | --all) [--queue QUEUE]
  machinery purge QUEUE [--yes] [--json] [connection options]
  machinery workers [--json] [connection options]
  machinery stats [--minutes N] [--json] [connection options]
  machinery cancel UUID [connection options]
  machinery dashboard [--port 8080] [--host 127.0.0.1] [--read-only] [--auth-token TOKEN]
  machinery help [COMMAND]
  machinery -v | --version

Commands:
  demo     the memory broker and backend, a worker and machinery's example send sequence in one
           process (nothing else needed)
  worker   run a worker with machinery's example tasks and HelloWorld
  send     without TASK, machinery's example send sequence; with TASK, send that one task
  state    print a task's stored state as JSON
  queues   per queue: messages ready, delayed, held by workers and dead
  pending  the tasks waiting in a queue (Redis)
  delayed  the tasks waiting for their ETA (Redis)
  inspect  a task's state and where its message is
  dead     list, retry or delete the messages workers set aside
  purge    delete every message waiting in a queue
  workers  the live workers and their heartbeats
  stats    tasks processed and failed per task name over the last minutes
  cancel   cancel a task: it never starts, or its signal fires where it runs
  dashboard a web UI: queues, workers, tasks and dead letters

${CONNECTION_HELP}

Other options:
  --verbose                  debug logging
  -h, --help                 this help (machinery COMMAND --help: that command's)

Logs go to stderr, results to stdout. Exit status: 0 ok, 1 failure, 2 usage error.`;
}

/** `machinery COMMAND --help`: the command's help, then the connection flags if it takes them. */
export function commandHelp(command: Command): string {
  const text = command.help.replace(/^(?=.)/gm, "  ");
  return command.connects ? `Usage:\n${text}\n\n${CONNECTION_HELP}` : `Usage:\n${text}`;
}

/** The version, from deno.json. */
export const VERSION: string = denoJson.version;
