/**
 * `machinery worker`: a worker with machinery's example tasks, the `--tasks` module's and the
 * periodic tasks of `--periodic` and the config file; the first signal drains, a second aborts.
 *
 * @module
 */
import { hostname } from "node:os";
import process from "node:process";
import {
  type Config,
  type Inspector,
  inspectorDepthSampler,
  inspectorFromURL,
  isLogLevel,
  type Logger,
  parseRateLimit,
  type PeriodicDefinition,
  RateLimitError,
  registryFromURL,
  registryURL,
  scheduleFromFlag,
  schedulesFromYaml,
  WorkerQuitAbruptlyError,
  type WorkerRegistry,
} from "../mod.ts";
import { redactPassword, urlScheme } from "../src/urls.ts";
import { registerExampleTasks } from "../examples/tasks.ts";
import type { Command } from "./command.ts";
import { loadConfig, readConfigFile } from "./config.ts";
import { configureLogging } from "./logging.ts";
import { CommandError, errorMessage, FAILURE, OK } from "./errors.ts";
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
import { setExampleHandlers } from "./output.ts";
import { UsageError } from "./errors.ts";
import { withServer } from "./server.ts";
import { loadTasksModule } from "./tasks_module.ts";

/** machinery's default queue and binding key: the pair every Go worker and sender uses. */
const DEFAULT_QUEUE = "machinery_tasks";
const DEFAULT_BINDING_KEY = "machinery_task";

/** `machinery worker`. */
export const worker: Command = {
  options: {
    ...COMMON,
    ...CONNECTION,
    concurrency: { type: "string" },
    prefetch: { type: "string" },
    name: { type: "string" },
    tasks: { type: "string" },
    task: { type: "string", multiple: true },
    periodic: { type: "string", multiple: true },
    "long-running-seconds": { type: "string" },
    "heartbeat-ttl": { type: "string" },
    "metrics-port": { type: "string" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
    "abort-grace": { type: "string" },
    "rate-limit": { type: "string", multiple: true },
  },
  help: `machinery worker [--broker URL] [--result-backend URL] [--queue NAME] [--concurrency N]
                 [--prefetch N] [--name NAME] [--config FILE] [--tasks MODULE] [--verbose]
                 [--task NAME]... [--periodic TASK=SPEC]... [--heartbeat-ttl SEC]
                 [--metrics-port N] [--log-level LEVEL] [--log-format text|json]
                 [--abort-grace SEC] [--rate-limit TASK=RATE]...
  Runs a worker with machinery's example tasks (add, multiply, sum_ints, sum_floats, concat, split,
  panic_task, long_running_task) and HelloWorld. The first SIGINT/SIGTERM stops taking tasks, waits
  for the running ones and exits 0; a second one aborts them and exits 1.
  --concurrency N            tasks run at once (default 0: twice the CPU count)
  --prefetch N               messages held, not yet started, beyond those (default: twice the
                             concurrency; a graceful stop gives them back)
  --name NAME                the consumer tag (default machinery_worker)
  --tasks MODULE             also register MODULE's tasks. If MODULE exports a \`tasks\` object
                             (name -> function, or { fn, args } declaring Go types), exactly those;
                             otherwise EVERY exported function, under its export name: anyone who
                             can publish to the queue can call any of them, helpers included. If
                             MODULE default-exports a function, it is called with the Server
                             instead (to register tasks itself). A path is relative to the current
                             directory.
  --task NAME                register only NAME of the --tasks module's tasks; repeatable
  --periodic TASK=SPEC       also send TASK (no arguments) at every tick of the cron SPEC, e.g.
                             "add=@every 10s" or "report=CRON_TZ=Europe/Paris 0 6 * * *";
                             repeatable. The config file's periodic_tasks section does the same
                             with arguments, groups, chains and chords. Workers that share a Redis
                             broker or backend (or the lock URL, env LOCK) send each tick once.
  --long-running-seconds N   how long long_running_task counts down (default 10)
  --heartbeat-ttl SEC        the worker announces itself ("machinery workers") in Redis (the
                             broker, else the result backend) every third of SEC; it drops out
                             SEC seconds after it stops (default 15)
  --metrics-port N           serve Prometheus metrics on /metrics, and /healthz and /readyz
                             (200 while consuming from the broker, 503 while it is unreachable)
  --log-level LEVEL          debug, info (default; debug with --verbose), warn or error
  --log-format FORMAT        text (default: time, level, message) or json (one object per line:
                             time, level, message, task_uuid and task_name where there is a task)
  --abort-grace SEC          how long a task whose timeout passed or that was cancelled may take
                             to stop before its slot is freed and its late result discarded
                             (default 5)
  --rate-limit TASK=RATE     start TASK at most RATE times: N/s, N/m or N/h, with an optional
                             burst (add=100/s:20); shared by every worker on the same Redis
                             broker or Redis result backend; repeatable`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  atMostPositionals("worker", positionals);
  const concurrency = wholeNumber(values, "concurrency") ?? 0;
  const prefetch = wholeNumber(values, "prefetch");
  const longRunningSeconds = wholeNumber(values, "long-running-seconds") ?? 10;
  const abortGrace = seconds(values, "abort-grace");
  const name = str(values, "name") ?? "machinery_worker";
  const tasksModule = str(values, "tasks");
  const heartbeatTtl = seconds(values, "heartbeat-ttl") ?? 15;
  const only = strs(values, "task");
  if (only.length > 0 && tasksModule === undefined) {
    throw new CommandError("--task picks tasks of the --tasks module: give --tasks MODULE too");
  }
  const logger = await workerLogger(values);
  const metricsPort = wholeNumber(values, "metrics-port");
  const rateLimits = rateLimitFlags(strs(values, "rate-limit"));
  const fileText = readConfigFile(values); // read once, for both sections
  const config = await loadConfig(values, fileText);
  const periodic = await loadPeriodic(values, fileText);
  return await withServer(config, logger, async (server) => {
    registerExampleTasks(server, longRunningSeconds);
    if (tasksModule !== undefined) await loadTasksModule(server, tasksModule, only);
    for (const def of periodic) {
      server.scheduler.register(def);
      logger.info(`Periodic ${def.kind} "${def.name}" on "${def.spec}"`);
    }
    // With metrics served, the queue depth comes from the inspection API (ready, delayed, held,
    // dead) when the broker has one; otherwise from the broker's own cheaper count.
    const inspector = metricsPort === undefined ? undefined : await openInspector(config, logger);
    const worker = server.newWorker(name, concurrency, {
      handleSignals: true,
      prefetch,
      registry: await openRegistry(config, logger),
      heartbeatTtlMs: Math.max(300, Math.round(heartbeatTtl * 1000)),
      host: hostname(),
      pid: process.pid,
      metricsPort,
      queueDepthSampler: inspector && inspectorDepthSampler(inspector),
      abortGraceMs: abortGrace === undefined ? undefined : abortGrace * 1000,
      rateLimits,
    });
    setExampleHandlers(worker, logger);
    // launch() installs its signal listeners before it returns; tests wait for this line.
    const running = worker.launch();
    const scheme = urlScheme(config.broker);
    if (scheme === "amqp" || scheme === "amqps") logBinding(config, worker.queue(), logger);
    logger.info(`Waiting for tasks on ${worker.queue()} (Ctrl+C to stop)`);
    try {
      await running;
    } catch (error) {
      if (error instanceof WorkerQuitAbruptlyError) {
        logger.warn(error.message);
        return FAILURE;
      }
      throw error;
    } finally {
      await inspector?.close().catch(() => {});
    }
    logger.info("Worker quit gracefully");
    return OK;
  }, false);
}

/**
 * The registry the worker announces itself in (see `registryURL`), or none: a deployment without
 * Redis has none, and a registry that cannot be reached is reported and skipped, never fatal.
 */
async function openRegistry(config: Config, logger: Logger): Promise<WorkerRegistry | undefined> {
  const url = registryURL(config);
  if (url === undefined) {
    logger.info("No worker registry: neither the broker nor the result backend is Redis");
    return undefined;
  }
  try {
    return await registryFromURL(url, { config, logger });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    logger.warn(`No worker registry at ${redactPassword(url)}: ${text}`);
    return undefined;
  }
}

/** The broker's inspector for the metrics' queue depth, or none (the memory broker has none). */
async function openInspector(config: Config, logger: Logger): Promise<Inspector | undefined> {
  try {
    return await inspectorFromURL(config.broker, { config, logger });
  } catch {
    return undefined;
  }
}

/** The logger of `--log-level` and `--log-format` (`--verbose` means `--log-level debug`). */
function workerLogger(values: Values): Promise<Logger> {
  const level = str(values, "log-level") ?? (values.verbose === true ? "debug" : "info");
  if (!isLogLevel(level)) {
    throw new UsageError(
      `Invalid value "${level}" for --log-level: expected debug, info, warn or error`,
    );
  }
  const format = str(values, "log-format") ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`Invalid value "${format}" for --log-format: expected text or json`);
  }
  return configureLogging(level, format);
}

/**
 * On RabbitMQ, how the queue gets its tasks: the exchange and binding key. A named queue bound
 * with machinery's default key gets every task sent with that key, as do all queues bound with
 * it: that is said as a warning.
 */
function logBinding(config: Config, queue: string, logger: Logger): void {
  const { exchange, bindingKey } = config.amqp;
  const line =
    `Queue "${queue}" is bound to the exchange "${exchange}" with the key "${bindingKey}"`;
  if (queue === DEFAULT_QUEUE || bindingKey !== DEFAULT_BINDING_KEY) return logger.info(line);
  logger.warn(
    `${line}: it gets every task sent with that key, as does every queue bound with it; ` +
      `to keep its tasks apart, set amqp.binding_key (AMQP_BINDING_KEY) to "${queue}"`,
  );
}

/** `--rate-limit TASK=RATE` flags as a map, each rate checked. */
function rateLimitFlags(flags: string[]): Record<string, string> {
  const limits: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    const name = flag.slice(0, eq);
    const rate = flag.slice(eq + 1);
    try {
      if (eq <= 0) throw new RateLimitError(`expected TASK=RATE, such as add=100/s`);
      parseRateLimit(rate);
    } catch (error) {
      throw new UsageError(`Invalid --rate-limit "${flag}": ${errorMessage(error)}`);
    }
    limits[name] = rate;
  }
  return limits;
}

/** The periodic registrations of the config file's periodic_tasks section, then of --periodic. */
async function loadPeriodic(
  values: Values,
  fileText: Promise<string | undefined>,
): Promise<PeriodicDefinition[]> {
  const defs: PeriodicDefinition[] = [];
  const text = await fileText;
  if (text !== undefined) defs.push(...schedulesFromYaml(text));
  for (const flag of strs(values, "periodic")) defs.push(scheduleFromFlag(flag));
  return defs;
}
