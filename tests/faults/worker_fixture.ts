/**
 * A worker process for the fault suite (not a test itself). It consumes one queue on Redis or
 * RabbitMQ, keeps states in Redis, runs the tasks of `tasks.ts`, prints `ready` once launched,
 * and handles SIGINT/SIGTERM as the CLI does: a first signal drains and exits 0, a second one
 * aborts and exits 1. It runs until it is signalled or killed.
 *
 * Env: FAULT_BROKER (`redis` or `amqp`), BROKER_URL, BACKEND_URL (Redis), QUEUE, KEY_PREFIX
 * (the Redis keys of broker and backend), EXCHANGE (AMQP), CONCURRENCY, LEASE_MS and
 * RECOVERY_MS (Redis recovery timing), MASTER_NAME (BROKER_URL names Redis sentinels),
 * BROKER_SEPARATOR (between several AMQP URLs), QUEUE_DECLARE_ARGS (AMQP, JSON),
 * MAX_MESSAGE_BYTES, RESULTS_EXPIRE_IN, LOG_ERRORS=1
 * (each error handed to the error handler as a line on stderr), plus the variables of
 * `tasks.ts`.
 */
import process from "node:process";
import { type Broker, type ConfigInput, Server, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { env } from "../helpers.ts";
import registerFaultTasks from "./tasks.ts";

const kind = env("FAULT_BROKER") || "redis";
const brokerURL = env("BROKER_URL")!;
const backendURL = env("BACKEND_URL")!;
const queue = env("QUEUE")!;
const keyPrefix = env("KEY_PREFIX")!;
const exchange = env("EXCHANGE") || "";
const concurrency = Number(env("CONCURRENCY") || "10");
const leaseMs = Number(env("LEASE_MS") || "1000");
const recoveryMs = Number(env("RECOVERY_MS") || "250");

const config: ConfigInput = {
  defaultQueue: queue,
  resultsExpireIn: Number(env("RESULTS_EXPIRE_IN") || "600"),
  maxMessageBytes: Number(env("MAX_MESSAGE_BYTES") || String(16 * 1024 * 1024)),
  redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
  amqp: { exchange, bindingKey: queue },
};
// Sentinel is the broker's alone: the backend stays on BACKEND_URL, a plain Redis.
const brokerConfig: ConfigInput = {
  ...config,
  redis: { ...config.redis, masterName: env("MASTER_NAME") || "" },
};

const broker: Broker = kind === "amqp"
  ? new AMQPBroker(brokerURL, {
    config: {
      defaultQueue: queue,
      multipleBrokerSeparator: env("BROKER_SEPARATOR") || "",
      amqp: {
        exchange,
        bindingKey: queue,
        prefetchCount: concurrency,
        queueDeclareArgs: JSON.parse(env("QUEUE_DECLARE_ARGS") || "null"),
      },
    },
    publishRetryMs: 120_000,
    logger: silentLogger,
  })
  : new RedisBroker(brokerURL, {
    config: brokerConfig,
    keyPrefix,
    leaseMs,
    heartbeatMs: Math.max(50, Math.floor(leaseMs / 4)),
    recoveryIntervalMs: recoveryMs,
    deadLetterLimit: 100_000,
    onError: () => {},
  });
const server = new Server({
  config,
  broker,
  backend: new RedisBackend(backendURL, { config, keyPrefix, onError: () => {} }),
  logger: silentLogger,
});
registerFaultTasks(server);

const worker = server.newWorker(`faults_${process.pid}`, concurrency, { handleSignals: true });
// Task errors (the malformed inputs) are expected: count them instead of logging each one.
let errors = 0;
const logErrors = env("LOG_ERRORS") === "1";
worker.setErrorHandler((error) => {
  errors++;
  if (logErrors) console.error(`error: ${error.message}`);
});
const running = worker.launch();
console.log("ready");

let code = 0;
try {
  await running;
  console.log(`stopped gracefully (${errors} errors)`);
} catch (error) {
  console.log(`stopped: ${error instanceof Error ? error.message : String(error)}`);
  code = 1;
}
// Closing gives unsettled Redis deliveries back at once; do not let it hold the exit up.
await Promise.race([server.close(), new Promise((r) => setTimeout(r, 5_000))]);
process.exit(code);
