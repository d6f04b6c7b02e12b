/**
 * The configuration of a command: the CLI's defaults, under the `--config` file, under the
 * environment, under the connection flags.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import {
  type Config,
  configFromEnv,
  configFromYaml,
  type ConfigInput,
  resolveConfig,
} from "../mod.ts";
import { env } from "../src/runtime.ts";
import { CommandError, errorMessage } from "./errors.ts";
import { str, type Values } from "./flags.ts";

/** The CLI's defaults, from the seed article; laid under the config file and the environment. */
const CLI_DEFAULTS: ConfigInput = {
  broker: "amqp://guest:guest@localhost:5672/",
  resultBackend: "redis://127.0.0.1:6379",
  defaultQueue: "machinery_tasks",
};

/** The text of the `--config` file, or undefined when there is none. */
export async function readConfigFile(values: Values): Promise<string | undefined> {
  const file = str(values, "config");
  if (file === undefined) return undefined;
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new CommandError(`Cannot read the config file "${file}": ${errorMessage(error)}`);
  }
}

/**
 * Reads the config file (if any; `fileText` when already read), the environment and the flags:
 * flags > env > file.
 */
export async function loadConfig(
  values: Values,
  fileText: Promise<string | undefined> = readConfigFile(values),
): Promise<Config> {
  const text = await fileText;
  const fromFile: ConfigInput = text === undefined ? {} : configFromYaml(text);
  const fromEnv = configFromEnv(env());
  const queue = str(values, "queue");
  const fromFlags: ConfigInput = {
    broker: str(values, "broker"),
    resultBackend: str(values, "result-backend"),
    defaultQueue: queue,
    amqp: { bindingKey: queueBindingKey(queue, fromFile, fromEnv) },
  };
  return resolveConfig(CLI_DEFAULTS, fromFile, fromEnv, fromFlags);
}

/**
 * On RabbitMQ the queue alone does not separate tasks: they are routed by the binding key, and
 * with machinery's default (`machinery_task`) every queue bound with it gets every task. So
 * `--queue NAME` without a configured binding key binds NAME with the key NAME, and its tasks
 * are sent with that routing key: what a user who names a queue means. A Go sender reaches it
 * by setting the signature's RoutingKey (or its BindingKey) to NAME.
 */
function queueBindingKey(
  queue: string | undefined,
  ...configured: ConfigInput[]
): string | undefined {
  if (queue === undefined) return undefined;
  return configured.some((c) => c.amqp?.bindingKey !== undefined) ? undefined : queue;
}
