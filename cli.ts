#!/usr/bin/env -S deno run -A
/**
 * The `machinery` command line: `demo`, `worker`, `send` and `state`, like Go machinery's
 * example program. Logs go to stderr, results to stdout. Exit status: 0 ok, 1 failure, 2 usage.
 *
 * ```sh
 * deno run -A cli.ts demo --long-running-seconds 1
 * deno run -A cli.ts worker --broker redis://127.0.0.1:6379 --result-backend redis://127.0.0.1:6379
 * deno run -A cli.ts send add --arg int64:1 --arg int64:2 --wait
 * ```
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { readFile } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type Arg,
  type Backend,
  backendFromURL,
  type Config,
  ConfigError,
  configFromEnv,
  configFromYaml,
  type ConfigInput,
  consoleLogger,
  etaFromDate,
  type Logger,
  newSignature,
  type PeriodicDefinition,
  resolveConfig,
  scheduleFromFlag,
  schedulesFromYaml,
  Server,
  TaskFailedError,
  TimeoutReachedError,
  type TypeName,
  type Worker,
  WorkerQuitAbruptlyError,
} from "./mod.ts";
import {
  decodeValue,
  encodeTaskState,
  JsonNumber,
  parseJson,
  stringifyGo,
  TYPE_NAMES,
} from "./src/wire/mod.ts";
import { args as runtimeArgs, env, exit, onShutdownSignals } from "./src/runtime.ts";
import { redactPassword, URLError, urlScheme } from "./src/urls.ts";
import { registerExampleTasks } from "./examples/tasks.ts";
import { runExampleSequence } from "./examples/send_sequence.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The CLI's defaults, from the seed article; laid under the config file and the environment. */
const CLI_DEFAULTS: ConfigInput = {
  broker: "amqp://guest:guest@localhost:5672/",
  resultBackend: "redis://127.0.0.1:6379",
  defaultQueue: "machinery_tasks",
};

/** Exit statuses. */
const OK = 0;
const FAILURE = 1;
const USAGE = 2;

/** How long `close()` may take after an abrupt stop or an interrupt before we exit anyway. */
const CLOSE_GRACE_MS = 5_000;

/** A bad command line: exits 2 with the message and a hint. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure with a message meant for the user as is: exits 1. */
class CommandError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandError";
  }
}

// ---------------------------------------------------------------------------------------------
// Help

const CONNECTION_HELP = `Connection options:
  --broker URL               env BROKER; default amqp://guest:guest@localhost:5672/
  --result-backend URL       env RESULT_BACKEND; default redis://127.0.0.1:6379
  --queue NAME               the default queue; env DEFAULT_QUEUE; default machinery_tasks
  --config FILE              a machinery YAML config file (broker, result_backend, amqp: …)
  Flags beat environment variables (also AMQP_*, REDIS_*, RESULTS_EXPIRE_IN …), which beat the
  config file. Schemes: memory:// (this process only), redis://, rediss://, redis+socket://,
  amqp://, amqps://; result backends also memcache://, mongodb://, mongodb+srv://.`;

const COMMAND_HELP: Record<string, string> = {
  demo: `machinery demo [--long-running-seconds N] [--concurrency N] [--verbose]
  machinery's example in one process: the memory broker and backend, a worker with the example
  tasks, and the example send sequence. Prints machinery's result lines and exits 0.
  --long-running-seconds N   how long long_running_task counts down (default 10, as in machinery)
  --concurrency N            tasks the worker runs at once (default 0: twice the CPU count)`,
  worker: `machinery worker [--broker URL] [--result-backend URL] [--queue NAME] [--concurrency N]
                 [--prefetch N] [--name NAME] [--config FILE] [--tasks MODULE] [--verbose]
                 [--periodic TASK=SPEC]...
  Runs a worker with machinery's example tasks (add, multiply, sum_ints, sum_floats, concat, split,
  panic_task, long_running_task) and HelloWorld. The first SIGINT/SIGTERM stops taking tasks, waits
  for the running ones and exits 0; a second one aborts them and exits 1.
  --concurrency N            tasks run at once (default 0: twice the CPU count)
  --prefetch N               messages held, not yet started, beyond those (default: twice the
                             concurrency; a graceful stop gives them back)
  --name NAME                the consumer tag (default machinery_worker)
  --tasks MODULE             also register MODULE's exported functions under their export names;
                             if MODULE default-exports a function, it is called with the Server
                             instead (to register tasks itself). A path is relative to the current
                             directory.
  --periodic TASK=SPEC       also send TASK (no arguments) at every tick of the cron SPEC, e.g.
                             "add=@every 10s" or "report=CRON_TZ=Europe/Paris 0 6 * * *";
                             repeatable. The config file's periodic_tasks section does the same
                             with arguments, groups, chains and chords. Workers that share a Redis
                             broker or backend (or the lock URL, env LOCK) send each tick once.
  --long-running-seconds N   how long long_running_task counts down (default 10)`,
  send: `machinery send [connection options]
  Runs machinery's example send sequence against a worker on the same broker and backend.

machinery send TASK [--arg TYPE:VALUE]... [--wait [--timeout SEC]] [--eta RFC3339 | --delay SEC]
                    [--retry N] [connection options]
  Sends one task and prints its UUID. With --wait, then prints its results as a JSON array, or
  exits 1 with the task's error on stderr if it failed.
  --arg TYPE:VALUE           an argument, in order: int64:1, float64:2.5, bool:true, string:hi,
                             []int64:1,2,3 or []string:["a","b"] (JSON array or comma list)
  --wait                     wait for the task to finish and print its results
  --timeout SEC              with --wait: give up after SEC seconds (exit 1)
  --eta RFC3339              run it no earlier than this time (2025-01-02T03:04:05Z)
  --delay SEC                run it no earlier than SEC seconds from now
  --retry N                  retry it up to N times if it fails`,
  state: `machinery state UUID [connection options]
  Prints the stored state of a task as JSON, in Go machinery's format.`,
};

function usageText(): string {
  return `machinery ${denoJson.version}: a distributed task queue, wire-compatible with Go machinery

Usage:
  ${COMMAND_HELP.demo.split("\n")[0]}
  ${COMMAND_HELP.worker.split("\n").slice(0, 2).join("\n  ")}
  machinery send [connection options]
  machinery send TASK [--arg TYPE:VALUE]... [--wait [--timeout SEC]] [--eta RFC3339 | --delay SEC]
                      [--retry N] [connection options]
  machinery state UUID [connection options]
  machinery help [COMMAND]
  machinery --version

Commands:
  demo     the memory broker and backend, a worker and machinery's example send sequence in one
           process (nothing else needed)
  worker   run a worker with machinery's example tasks and HelloWorld
  send     without TASK, machinery's example send sequence; with TASK, send that one task
  state    print a task's stored state as JSON

${CONNECTION_HELP}

Other options:
  --verbose                  debug logging
  -h, --help                 this help (machinery COMMAND --help: that command's)

Logs go to stderr, results to stdout. Exit status: 0 ok, 1 failure, 2 usage error.`;
}

function commandHelp(command: string): string {
  const text = COMMAND_HELP[command].replace(/^(?=.)/gm, "  ");
  return command === "demo" ? `Usage:\n${text}` : `Usage:\n${text}\n\n${CONNECTION_HELP}`;
}

// ---------------------------------------------------------------------------------------------
// Option parsing

type Options = NonNullable<ParseArgsConfig["options"]>;

const COMMON: Options = {
  help: { type: "boolean", short: "h" },
  verbose: { type: "boolean" },
};

const CONNECTION: Options = {
  broker: { type: "string" },
  "result-backend": { type: "string" },
  queue: { type: "string" },
  config: { type: "string" },
};

const OPTIONS: Record<string, Options> = {
  demo: { ...COMMON, "long-running-seconds": { type: "string" }, concurrency: { type: "string" } },
  worker: {
    ...COMMON,
    ...CONNECTION,
    concurrency: { type: "string" },
    prefetch: { type: "string" },
    name: { type: "string" },
    tasks: { type: "string" },
    periodic: { type: "string", multiple: true },
    "long-running-seconds": { type: "string" },
  },
  send: {
    ...COMMON,
    ...CONNECTION,
    arg: { type: "string", multiple: true },
    wait: { type: "boolean" },
    timeout: { type: "string" },
    eta: { type: "string" },
    delay: { type: "string" },
    retry: { type: "string" },
  },
  state: { ...COMMON, ...CONNECTION },
};

type Values = Record<string, string | boolean | string[] | undefined>;

interface Parsed {
  values: Values;
  positionals: string[];
}

function parse(command: string, argv: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: OPTIONS[command],
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
}

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A whole number ≥ 0 from a flag, or undefined when the flag is absent. */
function wholeNumber(values: Values, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`Invalid value "${text}" for --${name}: expected a whole number`);
  }
  return Number(text);
}

/** A number of seconds ≥ 0 (fractions allowed) from a flag, or undefined. */
function seconds(values: Values, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`Invalid value "${text}" for --${name}: expected a number of seconds`);
  }
  return n;
}

function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}" for ${command}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration and the server

/** The text of the `--config` file, or undefined when there is none. */
async function readConfigFile(values: Values): Promise<string | undefined> {
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
async function loadConfig(
  values: Values,
  fileText: Promise<string | undefined> = readConfigFile(values),
): Promise<Config> {
  const text = await fileText;
  const fromFile: ConfigInput = text === undefined ? {} : configFromYaml(text);
  const fromEnv = configFromEnv(env());
  const fromFlags: ConfigInput = {
    broker: str(values, "broker"),
    resultBackend: str(values, "result-backend"),
    defaultQueue: str(values, "queue"),
  };
  return resolveConfig(CLI_DEFAULTS, fromFile, fromEnv, fromFlags);
}

/** The periodic registrations of the config file's periodic_tasks section, then of --periodic. */
async function loadPeriodic(
  values: Values,
  fileText: Promise<string | undefined>,
): Promise<PeriodicDefinition[]> {
  const defs: PeriodicDefinition[] = [];
  const text = await fileText;
  if (text !== undefined) defs.push(...schedulesFromYaml(text));
  for (const text of (values.periodic as string[] | undefined) ?? []) {
    defs.push(scheduleFromFlag(text));
  }
  return defs;
}

/**
 * Builds the server and makes sure the broker and the backend answer, so that an unreachable
 * one fails at once with a clear message (adapters with a `connect()` method are connected).
 */
async function openServer(config: Config, logger: Logger): Promise<Server> {
  let server: Server;
  try {
    server = await Server.fromConfig(config, logger);
  } catch (error) {
    if (error instanceof URLError || error instanceof ConfigError) throw error;
    throw new CommandError(`Cannot connect: ${errorMessage(error)}`, { cause: error });
  }
  try {
    await connect(server.broker, "broker", config.broker);
    await connect(server.backend, "result backend", config.resultBackend);
  } catch (error) {
    await closeQuietly(server);
    throw error;
  }
  return server;
}

/** Calls `client.connect()` when the adapter has one. */
async function connect(client: object, what: string, url: string): Promise<void> {
  const connectable = client as { connect?: () => Promise<void> };
  if (typeof connectable.connect !== "function") return;
  try {
    await connectable.connect();
  } catch (error) {
    throw new CommandError(
      `Cannot connect to the ${what} at "${redactPassword(url)}": ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * Closes a server or backend with errors ignored, giving up after `CLOSE_GRACE_MS`: a broken
 * connection must not keep us from exiting.
 */
async function closeQuietly(client: { close(): Promise<void> }): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  try {
    await Promise.race([client.close().catch(() => {}), grace]);
  } finally {
    clearTimeout(timer);
  }
}

/** Set by a SIGINT/SIGTERM outside the worker: we are closing and exiting, errors are moot. */
let interrupted = false;

/** True for brokers that live inside this process, which no other process can reach. */
function isInProcess(url: string): boolean {
  const scheme = urlScheme(url);
  return scheme === "memory" || scheme === "eager";
}

/**
 * Runs `body` with the server open; closes it afterwards. A SIGINT/SIGTERM meanwhile closes the
 * server and exits 1 (the worker command handles its own signals).
 */
async function withServer(
  config: Config,
  logger: Logger,
  body: (server: Server) => Promise<number>,
  interruptible = true,
): Promise<number> {
  const server = await openServer(config, logger);
  const stopListening = interruptible
    ? onShutdownSignals((signal) => {
      if (interrupted) return;
      interrupted = true;
      logger.warn(`Signal received: ${signal}`);
      closeQuietly(server).finally(() => exit(FAILURE));
    })
    : () => {};
  try {
    return await body(server);
  } finally {
    stopListening();
    await closeQuietly(server);
  }
}

function setExampleHandlers(worker: Worker, logger: Logger): void {
  worker.setErrorHandler((error) => logger.error(`I am an error handler: ${error.message}`));
  worker.setPreTaskHandler((sig) => logger.info(`I am a start of task handler for: ${sig.name}`));
  worker.setPostTaskHandler((sig) => logger.info(`I am an end of task handler for: ${sig.name}`));
}

function print(line: string): void {
  console.log(line);
}

// ---------------------------------------------------------------------------------------------
// Commands

async function demo(argv: string[]): Promise<number> {
  const { values, positionals } = parse("demo", argv);
  if (values.help) return help("demo");
  noPositionals("demo", positionals);
  const longRunningSeconds = wholeNumber(values, "long-running-seconds") ?? 10;
  const concurrency = wholeNumber(values, "concurrency") ?? 0;
  const logger = consoleLogger(values.verbose === true);
  const config = resolveConfig({
    broker: "memory://",
    resultBackend: "memory://",
    defaultQueue: "machinery_tasks",
    noUnixSignals: true,
  });
  return await withServer(config, logger, async (server) => {
    registerExampleTasks(server, longRunningSeconds);
    const worker = server.newWorker("machinery_worker", concurrency);
    setExampleHandlers(worker, logger);
    const running = worker.launch();
    try {
      await runExampleSequence(server, print);
    } catch (error) {
      worker.abort();
      await running.catch(() => {});
      throw new CommandError(errorMessage(error), { cause: error });
    }
    await worker.quit();
    await running;
    return OK;
  });
}

async function worker(argv: string[]): Promise<number> {
  const { values, positionals } = parse("worker", argv);
  if (values.help) return help("worker");
  noPositionals("worker", positionals);
  const concurrency = wholeNumber(values, "concurrency") ?? 0;
  const prefetch = wholeNumber(values, "prefetch");
  const longRunningSeconds = wholeNumber(values, "long-running-seconds") ?? 10;
  const name = str(values, "name") ?? "machinery_worker";
  const tasksModule = str(values, "tasks");
  const logger = consoleLogger(values.verbose === true);
  const fileText = readConfigFile(values); // read once, for both sections
  const config = await loadConfig(values, fileText);
  const periodic = await loadPeriodic(values, fileText);
  return await withServer(config, logger, async (server) => {
    registerExampleTasks(server, longRunningSeconds);
    if (tasksModule !== undefined) await loadTasksModule(server, tasksModule);
    for (const def of periodic) {
      server.scheduler.register(def);
      logger.info(`Periodic ${def.kind} "${def.name}" on "${def.spec}"`);
    }
    const worker = server.newWorker(name, concurrency, { handleSignals: true, prefetch });
    setExampleHandlers(worker, logger);
    // launch() installs its signal listeners before it returns; tests wait for this line.
    const running = worker.launch();
    logger.info(`Waiting for tasks on ${worker.queue()} (Ctrl+C to stop)`);
    try {
      await running;
    } catch (error) {
      if (error instanceof WorkerQuitAbruptlyError) {
        logger.warn(error.message);
        return FAILURE;
      }
      throw error;
    }
    logger.info("Worker quit gracefully");
    return OK;
  }, false);
}

/**
 * Imports `spec` (a path, relative to the current directory, or a URL) and registers its
 * exported functions as tasks; a default-exported function is called with the server instead.
 */
async function loadTasksModule(server: Server, spec: string): Promise<void> {
  const url = /^[a-z][a-z0-9+.-]+:/i.test(spec) ? spec : pathToFileURL(resolvePath(spec)).href;
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new CommandError(`Cannot import the tasks module "${spec}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
  if (typeof module.default === "function") {
    await module.default(server);
    return;
  }
  const tasks: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === "function" && !isClass(value)) {
      tasks[name] = value as (...args: unknown[]) => unknown;
    }
  }
  if (Object.keys(tasks).length === 0) {
    throw new CommandError(
      `The tasks module "${spec}" exports no functions (and no default function taking the Server)`,
    );
  }
  server.registerTasks(tasks);
  server.logger.info(`Registered tasks from ${spec}: ${Object.keys(tasks).join(", ")}`);
}

function isClass(fn: unknown): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

async function send(argv: string[]): Promise<number> {
  const { values, positionals } = parse("send", argv);
  if (values.help) return help("send");
  if (positionals.length > 1) {
    throw new UsageError(`Unexpected argument "${positionals[1]}" for send`);
  }
  const task = positionals[0];
  const logger = consoleLogger(values.verbose === true);
  if (task === undefined) {
    for (const flag of ["arg", "wait", "timeout", "eta", "delay", "retry"]) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs a TASK name`);
    }
    const config = await loadConfig(values);
    refuseInProcess(config, "the example sequence");
    return await withServer(config, logger, async (server) => {
      try {
        await runExampleSequence(server, print);
      } catch (error) {
        throw new CommandError(errorMessage(error), { cause: error });
      }
      return OK;
    });
  }

  const taskArgs = ((values.arg as string[] | undefined) ?? []).map(parseTaskArg);
  const wait = values.wait === true;
  const timeout = seconds(values, "timeout");
  if (timeout !== undefined && !wait) throw new UsageError("--timeout needs --wait");
  if (values.eta !== undefined && values.delay !== undefined) {
    throw new UsageError("--eta and --delay cannot be used together");
  }
  const eta = etaDate(values);
  const retry = wholeNumber(values, "retry");
  const config = await loadConfig(values);
  if (wait) refuseInProcess(config, "--wait");
  return await withServer(config, logger, async (server) => {
    const signature = newSignature(task, taskArgs);
    if (eta) signature.eta = etaFromDate(eta);
    if (retry !== undefined) signature.retryCount = retry;
    let result;
    try {
      result = await server.sendTask(signature);
    } catch (error) {
      throw new CommandError(`Could not send task: ${errorMessage(error)}`, { cause: error });
    }
    print(signature.uuid);
    if (!wait) return OK;
    try {
      const values = await result.get({
        timeout: timeout === undefined ? undefined : timeout * 1000,
      });
      print(stringifyGo(values));
      return OK;
    } catch (error) {
      if (error instanceof TaskFailedError) {
        console.error(`Task ${signature.uuid} failed: ${error.message}`);
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

function refuseInProcess(config: Config, what: string): void {
  if (isInProcess(config.broker)) {
    throw new UsageError(
      `${what} needs a worker, and the broker "${
        redactPassword(config.broker)
      }" lives inside this process only: use a redis:// or amqp:// broker, or "machinery demo"`,
    );
  }
}

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

/** `TYPE:VALUE` → an Arg, VALUE parsed by TYPE (slices: a JSON array or a comma list). */
function parseTaskArg(spec: string): Arg {
  const colon = spec.indexOf(":");
  if (colon <= 0) {
    throw new UsageError(
      `Invalid --arg "${spec}": expected TYPE:VALUE, such as int64:1, string:hello or []int64:1,2`,
    );
  }
  const type = spec.slice(0, colon);
  const text = spec.slice(colon + 1);
  if (!(TYPE_NAMES as readonly string[]).includes(type)) {
    throw new UsageError(
      `Invalid --arg "${spec}": "${type}" is not one of the types ${TYPE_NAMES.join(", ")}`,
    );
  }
  try {
    return { name: "", type, value: decodeValue(type as TypeName, wireValue(type, text)) };
  } catch (error) {
    throw new UsageError(`Invalid --arg "${spec}": ${errorMessage(error)}`);
  }
}

/** The text as the JSON value Go would have decoded for `type`. */
function wireValue(type: string, text: string): unknown {
  if (type.startsWith("[]")) {
    const trimmed = text.trim();
    if (trimmed.startsWith("[") || trimmed.startsWith('"')) return parseJson(trimmed);
    if (trimmed === "") return [];
    return text.split(",").map((item) => scalarValue(type.slice(2), item));
  }
  return scalarValue(type, text);
}

function scalarValue(type: string, text: string): unknown {
  if (type === "string") return text;
  const trimmed = text.trim();
  if (type === "bool") {
    if (["1", "t", "T", "TRUE", "true", "True"].includes(trimmed)) return true;
    if (["0", "f", "F", "FALSE", "false", "False"].includes(trimmed)) return false;
    throw new Error(`"${text}" is not a bool (true or false)`);
  }
  let value: unknown;
  try {
    value = parseJson(trimmed);
  } catch {
    throw new Error(`"${text}" is not a number`);
  }
  if (!(value instanceof JsonNumber)) throw new Error(`"${text}" is not a number`);
  // Go wraps narrow integers silently; on the command line an out-of-range value is a mistake.
  const bits = INT_BITS[type];
  if (bits !== undefined && /^-?\d+$/.test(value.text)) {
    const n = BigInt(value.text);
    const [min, max] = type.startsWith("u")
      ? [0n, (1n << BigInt(bits)) - 1n]
      : [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n];
    if (n < min || n > max) throw new Error(`${value.text} is out of range for ${type}`);
  }
  return value;
}

/** The width of the integer types narrower than 64 bits. */
const INT_BITS: Record<string, number> = {
  int8: 8,
  int16: 16,
  int32: 32,
  uint8: 8,
  uint16: 16,
  uint32: 32,
};

async function state(argv: string[]): Promise<number> {
  const { values, positionals } = parse("state", argv);
  if (values.help) return help("state");
  if (positionals.length === 0) throw new UsageError("state needs a task UUID");
  if (positionals.length > 1) {
    throw new UsageError(`Unexpected argument "${positionals[1]}" for state`);
  }
  const uuid = positionals[0];
  const config = await loadConfig(values);
  // Only the result backend is needed: a broker that is down must not stop us reading states.
  let backend: Backend;
  try {
    backend = await backendFromURL(config.resultBackend, config);
  } catch (error) {
    if (error instanceof URLError || error instanceof ConfigError) throw error;
    throw new CommandError(`Cannot connect: ${errorMessage(error)}`, { cause: error });
  }
  try {
    await connect(backend, "result backend", config.resultBackend);
    print(encodeTaskState(await backend.getState(uuid)));
    return OK;
  } catch (error) {
    if (error instanceof Error && error.name === "StateNotFoundError") {
      console.error(`No state stored for task ${uuid}`);
      return FAILURE;
    }
    if (error instanceof CommandError) throw error;
    throw new CommandError(`Cannot read the state of task ${uuid}: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await closeQuietly(backend);
  }
}

function help(command?: string): number {
  print(command && COMMAND_HELP[command] ? commandHelp(command) : usageText());
  return OK;
}

// ---------------------------------------------------------------------------------------------
// Main

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  demo,
  worker,
  send,
  state,
};

/** Runs the command line `argv` (without the program name) and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      console.error(usageText());
      return USAGE;
    }
    if (command === "-h" || command === "--help") return help();
    if (command === "help") {
      if (rest[0] !== undefined && !COMMAND_HELP[rest[0]]) {
        throw new UsageError(`Unknown command "${rest[0]}"`);
      }
      return help(rest[0]);
    }
    if (command === "--version" || command === "-V") {
      print(denoJson.version);
      return OK;
    }
    const run = COMMANDS[command];
    if (!run) {
      throw new UsageError(
        command.startsWith("-")
          ? `Expected a command before "${command}"`
          : `Unknown command "${command}"`,
      );
    }
    return await run(rest);
  } catch (error) {
    if (error instanceof UsageError || error instanceof URLError || error instanceof ConfigError) {
      console.error(`machinery: ${error.message}`);
      console.error(`Run "machinery ${COMMANDS[command!] ? `${command} ` : ""}--help" for usage.`);
      return USAGE;
    }
    // After an interrupt, errors come from the server closing under a running command.
    if (!interrupted) console.error(`machinery: ${errorMessage(error)}`);
    return FAILURE;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

if (import.meta.main) {
  exit(await main(runtimeArgs()));
}
