/**
 * `machinery send`: without TASK, machinery's example send sequence; with TASK, that one task,
 * its arguments given as `TYPE:VALUE`, optionally waiting for its results.
 *
 * @module
 */
import {
  type Arg,
  type Config,
  consoleLogger,
  DuplicateTaskError,
  etaFromDate,
  newSignature,
  setTaskExpiry,
  setTaskTimeout,
  TaskFailedError,
  TimeoutReachedError,
} from "../mod.ts";
import { parseTypeValue, stringifyGo, TypeValueError } from "../src/wire/mod.ts";
import { redactPassword, urlScheme } from "../src/urls.ts";
import { logSafe } from "../src/log.ts";
import { runExampleSequence } from "../examples/send_sequence.ts";
import type { Command } from "./command.ts";
import { loadConfig } from "./config.ts";
import { CommandError, DUPLICATE, errorMessage, FAILURE, OK, UsageError } from "./errors.ts";
import {
  atMostPositionals,
  COMMON,
  CONNECTION,
  type Parsed,
  seconds,
  str,
  strs,
  type Values,
  wholeNumber,
} from "./flags.ts";
import { print } from "./output.ts";
import { reportProgress } from "./progress.ts";
import { withServer } from "./server.ts";

/** The flags that only make sense with a TASK. */
const TASK_FLAGS = [
  "arg",
  "wait",
  "timeout",
  "eta",
  "delay",
  "retry",
  "task-timeout",
  "expires-in",
  "unique-for",
];

/** `machinery send`. */
export const send: Command = {
  options: {
    ...COMMON,
    ...CONNECTION,
    arg: { type: "string", multiple: true },
    wait: { type: "boolean" },
    timeout: { type: "string" },
    eta: { type: "string" },
    delay: { type: "string" },
    retry: { type: "string" },
    "task-timeout": { type: "string" },
    "expires-in": { type: "string" },
    "unique-for": { type: "string" },
  },
  help: `machinery send [connection options]
  Runs machinery's example send sequence against a worker on the same broker and backend.

machinery send TASK [--arg TYPE:VALUE]... [--wait [--timeout SEC]] [--eta RFC3339 | --delay SEC]
                    [--retry N] [--task-timeout SEC] [--expires-in SEC] [--unique-for SEC]
                    [connection options]
  Sends one task and prints its UUID. With --wait, then prints its results as a JSON array, or
  exits 1 with the task's error on stderr if it failed.
  --arg TYPE:VALUE           an argument, in order: int64:1, float64:2.5, bool:true, string:hi,
                             []int64:1,2,3 or []string:["a","b"] (JSON array or comma list)
  --wait                     wait for the task to finish and print its results; its states go
                             to stderr as they change, with a hint if no worker takes it
  --timeout SEC              with --wait: give up after SEC seconds (exit 1)
  --eta RFC3339              run it no earlier than this time (2025-01-02T03:04:05Z)
  --delay SEC                run it no earlier than SEC seconds from now
  --retry N                  retry it up to N times if it fails
  --task-timeout SEC         stop it (its signal fires) if a run takes longer than SEC seconds:
                             FAILURE "task timed out after SECs", or a retry while --retry is left
  --expires-in SEC           never run it if no worker started it within SEC seconds from now:
                             FAILURE "task expired"
  --unique-for SEC           send nothing if a task with the same name and arguments, sent with
                             --unique-for, is not finished and was sent less than SEC seconds ago:
                             print that task's UUID instead, and exit 3`,
  connects: true,
  run,
};

function run(parsed: Parsed): Promise<number> {
  atMostPositionals("send", parsed.positionals, 1);
  const task = parsed.positionals[0];
  return task === undefined ? sendSequence(parsed.values) : sendTask(task, parsed.values);
}

/** Machinery's example sequence, against a worker elsewhere. */
async function sendSequence(values: Values): Promise<number> {
  for (const flag of TASK_FLAGS) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} needs a TASK name`);
  }
  const logger = consoleLogger(values.verbose === true);
  const config = await loadConfig(values);
  refuseInProcess(config, "the example sequence");
  return await withServer(config, logger, async (server) => {
    try {
      await runExampleSequence(server, print, { waiting: () => reportProgress(config) });
    } catch (error) {
      throw new CommandError(errorMessage(error), { cause: error });
    }
    return OK;
  });
}

/** One task: prints its UUID, then with --wait its results. */
async function sendTask(task: string, values: Values): Promise<number> {
  const logger = consoleLogger(values.verbose === true);
  const taskArgs = strs(values, "arg").map(taskArg);
  const wait = values.wait === true;
  const timeout = seconds(values, "timeout");
  if (timeout !== undefined && !wait) throw new UsageError("--timeout needs --wait");
  if (values.eta !== undefined && values.delay !== undefined) {
    throw new UsageError("--eta and --delay cannot be used together");
  }
  const eta = etaDate(values);
  const retry = wholeNumber(values, "retry");
  const taskTimeout = seconds(values, "task-timeout");
  if (taskTimeout === 0) throw new UsageError("--task-timeout must be more than 0 seconds");
  const expiresIn = seconds(values, "expires-in");
  const uniqueFor = seconds(values, "unique-for");
  if (uniqueFor === 0) throw new UsageError("--unique-for needs a number of seconds above 0");
  const config = await loadConfig(values);
  if (wait) refuseInProcess(config, "--wait");
  return await withServer(config, logger, async (server) => {
    // No --arg is Go's nil Args ("Args":null), as machinery's own senders write it.
    const signature = newSignature(task, taskArgs.length > 0 ? taskArgs : null);
    if (eta) signature.eta = etaFromDate(eta);
    if (retry !== undefined) signature.retryCount = retry;
    if (taskTimeout !== undefined) setTaskTimeout(signature, taskTimeout * 1000);
    if (expiresIn !== undefined) setTaskExpiry(signature, new Date(Date.now() + expiresIn * 1000));
    let result;
    try {
      result = await server.sendTask(
        signature,
        uniqueFor === undefined ? {} : { uniqueFor: uniqueFor * 1000 },
      );
    } catch (error) {
      if (error instanceof DuplicateTaskError) {
        print(error.existingUUID);
        console.error(
          `Not sent: task ${error.existingUUID} with the same name and arguments is not finished yet`,
        );
        return DUPLICATE;
      }
      throw new CommandError(`Could not send task: ${errorMessage(error)}`, { cause: error });
    }
    print(signature.uuid);
    if (!wait) return OK;
    try {
      const values = await result.get({
        timeout: timeout === undefined ? undefined : timeout * 1000,
        ...reportProgress(config),
      });
      print(stringifyGo(values));
      return OK;
    } catch (error) {
      if (error instanceof TaskFailedError) {
        console.error(`Task ${logSafe(signature.uuid)} failed: ${logSafe(error.message)}`);
        return FAILURE;
      }
      if (error instanceof TimeoutReachedError) {
        throw new CommandError(
          `Timeout reached: task ${signature.uuid} did not finish within ${timeout} seconds`,
        );
      }
      throw new CommandError(`Getting task result failed with error: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  });
}

/** One `--arg TYPE:VALUE`. */
function taskArg(spec: string): Arg {
  try {
    return parseTypeValue(spec);
  } catch (error) {
    if (error instanceof TypeValueError) {
      throw new UsageError(`Invalid --arg "${spec}": ${error.message}`);
    }
    throw error;
  }
}

/** A worker must be able to reach the broker: one that lives in this process cannot. */
function refuseInProcess(config: Config, what: string): void {
  const scheme = urlScheme(config.broker);
  if (scheme === "memory" || scheme === "eager") {
    throw new UsageError(
      `${what} needs a worker, and the broker "${
        redactPassword(config.broker)
      }" lives inside this process only: use a redis:// or amqp:// broker, or "machinery demo"`,
    );
  }
}

/** When to run the task: --eta, or --delay from now, or undefined for now. */
function etaDate(values: Values): Date | undefined {
  const eta = str(values, "eta");
  if (eta !== undefined) {
    const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
    const date = new Date(eta);
    if (!rfc3339.test(eta) || Number.isNaN(date.getTime())) {
      throw new UsageError(
        `Invalid value "${eta}" for --eta: expected an RFC 3339 time such as 2025-01-02T03:04:05Z`,
      );
    }
    return date;
  }
  const delay = seconds(values, "delay");
  return delay === undefined ? undefined : new Date(Date.now() + delay * 1000);
}
