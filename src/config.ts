/**
 * Configuration: machinery's fields, loader defaults, environment variables and YAML keys.
 *
 * The loaders return only what they find ({@linkcode ConfigInput}); {@linkcode resolveConfig}
 * lays the inputs over the defaults, later inputs winning field by field. The precedence is the
 * caller's: `resolveConfig(fromFile, fromEnv, fromFlags)`.
 *
 * This module is web-standard: the environment is passed in as a plain object.
 *
 * @example
 * ```ts
 * import { configFromEnv, configFromYaml, resolveConfig } from "./config.ts";
 *
 * const cfg = resolveConfig(
 *   configFromYaml("broker: redis://127.0.0.1:6379\n"),
 *   configFromEnv({ DEFAULT_QUEUE: "emails" }),
 *   { resultsExpireIn: 60 },
 * );
 * console.log(cfg.broker, cfg.defaultQueue, cfg.resultsExpireIn); // redis://… emails 60
 * ```
 *
 * @module
 */
import { parseAllDocuments } from "yaml";
import { parseGoBool } from "./wire/type_value.ts";

/** RabbitMQ settings (machinery's `AMQPConfig`). */
export interface AMQPConfig {
  /** The exchange name (`machinery_exchange`). */
  exchange: string;
  /** The exchange type (`direct`). */
  exchangeType: string;
  /** Queue declare arguments, such as `{"x-max-priority": 10}` (null: none). */
  queueDeclareArgs: Record<string, unknown> | null;
  /** Queue binding arguments, such as `{"x-match": "any"}` for a headers exchange (null: none). */
  queueBindingArgs: Record<string, unknown> | null;
  /** The binding key (`machinery_task`). */
  bindingKey: string;
  /** The consumer prefetch count (3). */
  prefetchCount: number;
  /** Auto-delete for the delay queues (false). */
  autoDelete: boolean;
  /** The delayed queue name (`""`). */
  delayedQueue: string;
}

/** Redis settings (machinery's `RedisConfig`). Times are seconds unless named as periods (ms). */
export interface RedisConfig {
  /** Idle connections kept in the pool (3). */
  maxIdle: number;
  /** Connections allowed at once; 0 is unlimited (0). */
  maxActive: number;
  /** Seconds before an idle connection closes (240). YAML key `max_idle_timeout`. */
  idleTimeout: number;
  /** Wait for a connection when the pool is full (false). */
  wait: boolean;
  /** Read timeout in seconds (15). */
  readTimeout: number;
  /** Write timeout in seconds (15). */
  writeTimeout: number;
  /** Connect timeout in seconds (15). */
  connectTimeout: number;
  /** The BLPOP wait for normal tasks, in milliseconds (1000). */
  normalTasksPollPeriod: number;
  /** The poll period for delayed tasks, in milliseconds (500). */
  delayedTasksPollPeriod: number;
  /** The delayed tasks sorted set (`""`, meaning `delayed_tasks`; see {@linkcode delayedTasksKey}). */
  delayedTasksKey: string;
  /**
   * Ours: tasks with a `priority` above 0 go to per-level lists that workers of this library
   * take first (false; see `docs/architecture.md`). Default-priority tasks stay on Go's list.
   */
  priorityQueues: boolean;
  /** The client name set on connections (`""`). */
  clientName: string;
  /** A Sentinel master name; set, it selects a Sentinel client (`""`). */
  masterName: string;
  /** Forces a cluster client (false). YAML `cluster_enabled` or v1's `cluster_mode`. */
  clusterEnabled: boolean;
  /** The Sentinel password (`""`). */
  sentinelPassword: string;
}

/** The whole configuration. */
export interface Config {
  /** The broker URL (`amqp://guest:guest@localhost:5672/`). */
  broker: string;
  /** The lock URL for periodic tasks (`""`: the in-process lock). */
  lock: string;
  /** The separator of several broker URLs in `broker` (`""`: one URL). */
  multipleBrokerSeparator: string;
  /** The default queue (`machinery_tasks`). */
  defaultQueue: string;
  /** The result backend URL (`amqp://guest:guest@localhost:5672/`, as machinery's loader has it). */
  resultBackend: string;
  /** Seconds results are kept (3600; 0 also means 3600, see {@linkcode resultsExpireSeconds}). */
  resultsExpireIn: number;
  /** Do not install signal handlers in workers (false). */
  noUnixSignals: boolean;
  /**
   * Stamp each sent message with its send time in `Signature.Headers` (false, ours), so workers
   * with metrics measure how long tasks wait; off, a send writes Go's bytes exactly.
   */
  sendTimeHeader: boolean;
  /** RabbitMQ settings. */
  amqp: AMQPConfig;
  /** Redis settings. */
  redis: RedisConfig;
  /** Use TLS for Redis connections (false). Never forced on, unlike Go's environment loader. */
  tls: boolean;
  /**
   * A PEM file of CA certificates to trust for TLS connections (`rediss://`, `amqps://`), on
   * top of the system's, read when a connection opens (`""`: none). Not in Go machinery, where
   * `TLSConfig.RootCAs` is set in code. YAML `tls_ca_file`, env `TLS_CA_FILE`.
   */
  tlsCAFile: string;
  /**
   * Seconds that opening a connection may take, from the dial through TLS and the protocol's
   * handshake (Redis `AUTH`/`SELECT`, AMQP `connection.open`, a MongoDB server selection), on
   * every adapter (10; 0 means the default). Not in Go machinery. YAML `connect_timeout`, env
   * `CONNECT_TIMEOUT`.
   */
  connectTimeout: number;
  /**
   * Seconds that one command may wait for its reply once connected (15; 0 means the default):
   * a Redis command (blocking ones get their block time on top), a memcached request, a
   * MongoDB operation; for RabbitMQ, a silent connection is given up after this long (the
   * heartbeat is half of it). Not in Go machinery. YAML `command_timeout`, env `COMMAND_TIMEOUT`.
   */
  commandTimeout: number;
  /** Bodies larger than this are rejected by the worker (16 MiB). Not in Go machinery. */
  maxMessageBytes: number;
}

/** Part of a {@linkcode Config}, as the loaders and callers give it; sections may be partial. */
export type ConfigInput =
  & Partial<Omit<Config, "amqp" | "redis">>
  & { amqp?: Partial<AMQPConfig>; redis?: Partial<RedisConfig> };

/** A configuration value that cannot be used; `key` is the variable or YAML key at fault. */
export class ConfigError extends Error {
  /** The environment variable or dotted YAML key (`redis.max_idle`). */
  readonly key: string;
  /** Creates the error. */
  constructor(key: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** The default `maxMessageBytes`: 16 MiB. */
const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The default `connectTimeout`, in seconds: a one-shot command fails within about this. */
const DEFAULT_CONNECT_TIMEOUT = 10;
/** The default `commandTimeout`, in seconds (Go's Redis read timeout). */
const DEFAULT_COMMAND_TIMEOUT = 15;

/**
 * The defaults of machinery's loaders (`NewFromEnvironment`, `NewFromYaml`), plus our own
 * `tls: false`, `tlsCAFile: ""`, `connectTimeout: 10`, `commandTimeout: 15` and
 * `maxMessageBytes: 16 MiB`. A fresh object each call.
 */
export function defaultConfig(): Config {
  return {
    broker: "amqp://guest:guest@localhost:5672/",
    lock: "",
    multipleBrokerSeparator: "",
    defaultQueue: "machinery_tasks",
    resultBackend: "amqp://guest:guest@localhost:5672/",
    resultsExpireIn: 3600,
    noUnixSignals: false,
    sendTimeHeader: false,
    amqp: {
      exchange: "machinery_exchange",
      exchangeType: "direct",
      queueDeclareArgs: null,
      queueBindingArgs: null,
      bindingKey: "machinery_task",
      prefetchCount: 3,
      autoDelete: false,
      delayedQueue: "",
    },
    redis: {
      maxIdle: 3,
      maxActive: 0,
      idleTimeout: 240,
      wait: false,
      readTimeout: 15,
      writeTimeout: 15,
      connectTimeout: 15,
      normalTasksPollPeriod: 1000,
      delayedTasksPollPeriod: 500,
      delayedTasksKey: "",
      priorityQueues: false,
      clientName: "",
      masterName: "",
      clusterEnabled: false,
      sentinelPassword: "",
    },
    tls: false,
    tlsCAFile: "",
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    commandTimeout: DEFAULT_COMMAND_TIMEOUT,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  };
}

function copyValue(v: unknown): unknown {
  return v !== null && typeof v === "object" ? structuredClone(v) : v;
}

/**
 * The defaults, then each input laid over them in order: later inputs win, field by field, and
 * the `amqp` and `redis` sections merge by field too. `undefined` inputs and fields are skipped;
 * unknown fields are ignored. Map values (queue arguments) are copied, not shared.
 */
export function resolveConfig(...inputs: (ConfigInput | undefined)[]): Config {
  const cfg = defaultConfig();
  const top = cfg as unknown as Record<string, unknown>;
  const amqp = cfg.amqp as unknown as Record<string, unknown>;
  const redis = cfg.redis as unknown as Record<string, unknown>;
  for (const input of inputs) {
    if (!input) continue;
    const src = input as Record<string, unknown>;
    for (const key of Object.keys(top)) {
      if (key === "amqp" || key === "redis") continue;
      if (src[key] !== undefined) top[key] = copyValue(src[key]);
    }
    for (const [section, target] of [["amqp", amqp], ["redis", redis]] as const) {
      const part = src[section] as Record<string, unknown> | undefined;
      if (!part) continue;
      for (const key of Object.keys(target)) {
        if (part[key] !== undefined) target[key] = copyValue(part[key]);
      }
    }
  }
  return cfg;
}

/** The Redis delayed tasks key: `delayed_tasks` when the setting is empty. */
export function delayedTasksKey(cfg: Config): string {
  return cfg.redis.delayedTasksKey || "delayed_tasks";
}

/** `resultsExpireIn` in seconds, with machinery's rule that 0 means 3600. */
export function resultsExpireSeconds(cfg: Config): number {
  return cfg.resultsExpireIn || 3600;
}

/** `connectTimeout` in milliseconds; 0 or less means the default (10 s). */
export function connectTimeoutMs(cfg: Config): number {
  return (cfg.connectTimeout > 0 ? cfg.connectTimeout : DEFAULT_CONNECT_TIMEOUT) * 1000;
}

/** `commandTimeout` in milliseconds; 0 or less means the default (15 s). */
export function commandTimeoutMs(cfg: Config): number {
  return (cfg.commandTimeout > 0 ? cfg.commandTimeout : DEFAULT_COMMAND_TIMEOUT) * 1000;
}

// ---------------------------------------------------------------------------------------------
// Field tables

type Kind = "string" | "int" | "bool" | "bindingArgs" | "declareArgs";

interface Field {
  /** Where it goes: a top-level key, or `amqp.x` / `redis.x`. */
  path: string;
  kind: Kind;
  /** Environment variables, the first one set wins. */
  env: string[];
  /** YAML keys (dotted), the last one present wins. */
  yaml: string[];
}

/** envconfig looks up `<PARENT>_<TAG>` first, then the tag. */
function sub(parent: "AMQP" | "REDIS", tag: string): string[] {
  return [`${parent}_${tag}`, tag];
}

const FIELDS: Field[] = [
  { path: "broker", kind: "string", env: ["BROKER"], yaml: ["broker"] },
  { path: "lock", kind: "string", env: ["LOCK"], yaml: ["lock"] },
  {
    path: "multipleBrokerSeparator",
    kind: "string",
    // Go's tag is MULTIPLE_BROKEN_SEPARATOR (sic); the correct spelling is ours and wins.
    env: ["MULTIPLE_BROKER_SEPARATOR", "MULTIPLE_BROKEN_SEPARATOR"],
    yaml: ["multiple_broker_separator"],
  },
  { path: "defaultQueue", kind: "string", env: ["DEFAULT_QUEUE"], yaml: ["default_queue"] },
  { path: "resultBackend", kind: "string", env: ["RESULT_BACKEND"], yaml: ["result_backend"] },
  {
    path: "resultsExpireIn",
    kind: "int",
    env: ["RESULTS_EXPIRE_IN"],
    yaml: ["results_expire_in"],
  },
  { path: "noUnixSignals", kind: "bool", env: ["NO_UNIX_SIGNALS"], yaml: ["no_unix_signals"] },
  {
    path: "sendTimeHeader",
    kind: "bool",
    env: ["SEND_TIME_HEADER"],
    yaml: ["send_time_header"],
  },
  {
    path: "maxMessageBytes",
    kind: "int",
    env: ["MAX_MESSAGE_BYTES"],
    yaml: ["max_message_bytes"],
  },
  { path: "tlsCAFile", kind: "string", env: ["TLS_CA_FILE"], yaml: ["tls_ca_file"] },
  {
    path: "connectTimeout",
    kind: "int",
    env: ["CONNECT_TIMEOUT"],
    yaml: ["connect_timeout"],
  },
  {
    path: "commandTimeout",
    kind: "int",
    env: ["COMMAND_TIMEOUT"],
    yaml: ["command_timeout"],
  },
  // AMQP
  { path: "amqp.exchange", kind: "string", env: sub("AMQP", "AMQP_EXCHANGE"), yaml: [] },
  {
    path: "amqp.exchangeType",
    kind: "string",
    env: sub("AMQP", "AMQP_EXCHANGE_TYPE"),
    yaml: ["amqp.exchange_type"],
  },
  {
    path: "amqp.queueDeclareArgs",
    kind: "declareArgs",
    env: sub("AMQP", "AMQP_QUEUE_DECLARE_ARGS"),
    yaml: ["amqp.queue_declare_args"],
  },
  {
    path: "amqp.queueBindingArgs",
    kind: "bindingArgs",
    env: sub("AMQP", "AMQP_QUEUE_BINDING_ARGS"),
    yaml: ["amqp.queue_binding_args"],
  },
  {
    path: "amqp.bindingKey",
    kind: "string",
    env: sub("AMQP", "AMQP_BINDING_KEY"),
    yaml: ["amqp.binding_key"],
  },
  {
    path: "amqp.prefetchCount",
    kind: "int",
    env: sub("AMQP", "AMQP_PREFETCH_COUNT"),
    yaml: ["amqp.prefetch_count"],
  },
  {
    path: "amqp.autoDelete",
    kind: "bool",
    env: sub("AMQP", "AMQP_AUTO_DELETE"),
    yaml: ["amqp.auto_delete"],
  },
  {
    path: "amqp.delayedQueue",
    kind: "string",
    env: sub("AMQP", "AMQP_DELAYED_QUEUE"),
    yaml: ["amqp.delayed_queue"],
  },
  // Redis
  { path: "redis.maxIdle", kind: "int", env: sub("REDIS", "REDIS_MAX_IDLE"), yaml: [] },
  { path: "redis.maxActive", kind: "int", env: sub("REDIS", "REDIS_MAX_ACTIVE"), yaml: [] },
  {
    path: "redis.idleTimeout",
    kind: "int",
    env: sub("REDIS", "REDIS_IDLE_TIMEOUT"),
    yaml: ["redis.max_idle_timeout"],
  },
  { path: "redis.wait", kind: "bool", env: sub("REDIS", "REDIS_WAIT"), yaml: [] },
  { path: "redis.readTimeout", kind: "int", env: sub("REDIS", "REDIS_READ_TIMEOUT"), yaml: [] },
  {
    path: "redis.writeTimeout",
    kind: "int",
    env: sub("REDIS", "REDIS_WRITE_TIMEOUT"),
    yaml: [],
  },
  {
    path: "redis.connectTimeout",
    kind: "int",
    env: sub("REDIS", "REDIS_CONNECT_TIMEOUT"),
    yaml: [],
  },
  {
    path: "redis.normalTasksPollPeriod",
    kind: "int",
    env: sub("REDIS", "REDIS_NORMAL_TASKS_POLL_PERIOD"),
    yaml: [],
  },
  {
    path: "redis.delayedTasksPollPeriod",
    kind: "int",
    env: sub("REDIS", "REDIS_DELAYED_TASKS_POLL_PERIOD"),
    yaml: [],
  },
  {
    path: "redis.delayedTasksKey",
    kind: "string",
    env: sub("REDIS", "REDIS_DELAYED_TASKS_KEY"),
    yaml: [],
  },
  {
    path: "redis.priorityQueues",
    kind: "bool",
    env: sub("REDIS", "REDIS_PRIORITY_QUEUES"),
    yaml: [],
  },
  {
    path: "redis.clientName",
    kind: "string",
    env: sub("REDIS", "REDIS_CLIENT_NAME"),
    yaml: [],
  },
  {
    path: "redis.masterName",
    kind: "string",
    env: sub("REDIS", "REDIS_MASTER_NAME"),
    yaml: [],
  },
  {
    path: "redis.clusterEnabled",
    kind: "bool",
    // v2's REDIS_CLUSTER_ENABLED first, then v1's REDIS_CLUSTER_MODE.
    env: [...sub("REDIS", "REDIS_CLUSTER_ENABLED"), ...sub("REDIS", "REDIS_CLUSTER_MODE")],
    // The last present wins, so v2's key beats v1's when a file has both.
    yaml: ["redis.cluster_mode", "redis.cluster_enabled"],
  },
  {
    path: "redis.sentinelPassword",
    kind: "string",
    env: sub("REDIS", "REDIS_SENTINEL_PASSWORD"),
    yaml: [],
  },
];

// Fill in the YAML keys that follow the plain snake_case rule.
for (const f of FIELDS) {
  if (f.yaml.length > 0) continue;
  const [section, name] = f.path.split(".");
  f.yaml = [`${section}.${name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())}`];
}

/**
 * Sections of Go machinery's YAML that configure what this project does not have (SQS,
 * DynamoDB), and our own `periodic_tasks` (read by `schedulesFromYaml`): accepted, not read.
 * `null` accepts any content.
 */
const OTHER_SECTIONS: Record<string, readonly string[] | null> = {
  sqs: ["receive_wait_time_seconds", "receive_visibility_timeout", "visibility_hearth_beat"],
  dynamodb: ["task_states_table", "group_metas_table"],
  periodic_tasks: null,
};

/** Every YAML key we know, by section (`""` for the top level), as Go's loader names them. */
const KNOWN_YAML_KEYS: ReadonlyMap<string, readonly string[]> = (() => {
  const known = new Map<string, string[]>([["", []], ["amqp", []], ["redis", []]]);
  for (const f of FIELDS) {
    for (const key of f.yaml) {
      const dot = key.indexOf(".");
      if (dot < 0) known.get("")!.push(key);
      else known.get(key.slice(0, dot))!.push(key.slice(dot + 1));
    }
  }
  known.get("")!.push("amqp", "redis", ...Object.keys(OTHER_SECTIONS));
  for (const [section, keys] of Object.entries(OTHER_SECTIONS)) {
    if (keys !== null) known.set(section, [...keys]);
  }
  return known;
})();

function assign(input: ConfigInput, path: string, value: unknown): void {
  const dot = path.indexOf(".");
  const target = input as Record<string, unknown>;
  if (dot < 0) {
    target[path] = value;
    return;
  }
  const section = path.slice(0, dot);
  const part = (target[section] ??= {}) as Record<string, unknown>;
  part[path.slice(dot + 1)] = value;
}

// ---------------------------------------------------------------------------------------------
// Environment

/**
 * Go `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, `0x` hex, `0o` or leading-`0`
 * octal, or `0b` binary, with `_` allowed between digits. Undefined when `s` is not one; the
 * result must also be a safe integer.
 */
function parseGoInt(s: string): number | undefined {
  const m =
    /^([+-]?)(0[xX](?:_?[0-9A-Fa-f])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/
      .exec(s);
  if (!m) return undefined;
  let digits = m[2].replace(/_/g, "");
  let base = 10;
  if (/^0[xX]/.test(digits)) [base, digits] = [16, digits.slice(2)];
  else if (/^0[bB]/.test(digits)) [base, digits] = [2, digits.slice(2)];
  else if (/^0[oO]/.test(digits)) [base, digits] = [8, digits.slice(2)];
  else if (digits.length > 1 && digits[0] === "0") [base, digits] = [8, digits.slice(1)];
  const n = parseInt(digits, base);
  const value = m[1] === "-" ? -n : n;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** A numeric-looking or boolean declare-argument value becomes a number or a boolean. */
function declareArgValue(v: string): unknown {
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(v)) return Number(v);
  if (v === "true") return true;
  if (v === "false") return false;
  return v;
}

function parseEnvMap(
  name: string,
  value: string,
  convert: (v: string) => unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of value.split(",")) {
    const colon = pair.indexOf(":");
    const key = colon >= 0 ? pair.slice(0, colon).trim() : "";
    if (key === "") {
      throw new ConfigError(
        name,
        `Invalid value "${value}" for ${name}: the item "${pair}" is not key:value`,
      );
    }
    out[key] = convert(pair.slice(colon + 1).trim());
  }
  return out;
}

/**
 * Reads machinery's environment variables (the names Go's `NewFromEnvironment` reads) from `env` and returns only those that
 * are set. Sub-section variables are looked up envconfig's way, the prefixed form first
 * (`AMQP_AMQP_EXCHANGE`, then `AMQP_EXCHANGE`; `REDIS_REDIS_MAX_IDLE`, then `REDIS_MAX_IDLE`).
 *
 * - Integers parse like Go's `ParseInt` base 0 (`0x10` is 16); booleans like Go's `ParseBool`
 *   (`1`, `t`, `TRUE`, `true`, `True`, `0`, `f`, …). Surrounding spaces are ignored.
 * - String variables set to `""` set `""`; an empty integer, boolean or map variable is ignored.
 * - `AMQP_QUEUE_BINDING_ARGS` and `AMQP_QUEUE_DECLARE_ARGS` are `k:v,k2:v2` (split at the first
 *   `:`). Binding values stay strings; declare values that look numeric or boolean become numbers
 *   or booleans, so `x-max-priority:10` works (Go loses every declare value).
 * - Both `MULTIPLE_BROKEN_SEPARATOR` (Go's spelling) and `MULTIPLE_BROKER_SEPARATOR` are read;
 *   the latter wins. `REDIS_CLUSTER_ENABLED` (v2) and `REDIS_CLUSTER_MODE` (v1) both set
 *   `redis.clusterEnabled`. `MAX_MESSAGE_BYTES`, `TLS_CA_FILE`, `CONNECT_TIMEOUT` and
 *   `COMMAND_TIMEOUT` set our `maxMessageBytes`, `tlsCAFile`, `connectTimeout` and
 *   `commandTimeout`.
 *
 * @throws {ConfigError} naming the variable and its value when a value does not parse.
 */
export function configFromEnv(env: Record<string, string | undefined>): ConfigInput {
  const input: ConfigInput = {};
  for (const field of FIELDS) {
    const name = field.env.find((n) => env[n] !== undefined);
    if (name === undefined) continue;
    const raw = env[name] as string;
    if (field.kind === "string") {
      assign(input, field.path, raw);
      continue;
    }
    const value = raw.trim();
    if (value === "") continue;
    switch (field.kind) {
      case "int": {
        const n = parseGoInt(value);
        if (n === undefined) {
          throw new ConfigError(name, `Invalid value "${raw}" for ${name}: expected an integer`);
        }
        assign(input, field.path, n);
        break;
      }
      case "bool": {
        const b = parseGoBool(value);
        if (b === undefined) {
          throw new ConfigError(
            name,
            `Invalid value "${raw}" for ${name}: expected a boolean (true, false, 1, 0, t, f)`,
          );
        }
        assign(input, field.path, b);
        break;
      }
      case "bindingArgs":
        assign(input, field.path, parseEnvMap(name, value, (v) => v));
        break;
      case "declareArgs":
        assign(input, field.path, parseEnvMap(name, value, declareArgValue));
        break;
    }
  }
  return input;
}

// ---------------------------------------------------------------------------------------------
// YAML

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (v instanceof Date) return "a timestamp";
  if (typeof v === "object") return "a map";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a number";
  if (typeof v === "boolean") return "a boolean";
  return `a ${typeof v}`;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

function lookup(root: Record<string, unknown>, key: string): { found: boolean; value: unknown } {
  const dot = key.indexOf(".");
  if (dot < 0) return { found: Object.hasOwn(root, key), value: root[key] };
  const section = root[key.slice(0, dot)];
  if (!isMap(section)) return { found: false, value: undefined };
  const name = key.slice(dot + 1);
  return { found: Object.hasOwn(section, name), value: section[name] };
}

function loadYamlRoot(text: string, schema: "failsafe" | "yaml-1.1"): Record<string, unknown> {
  const options = schema === "failsafe"
    ? { schema: "failsafe" as const }
    : { version: "1.1" as const };
  const parsed = parseAllDocuments(text, { ...options, prettyErrors: false });
  const docs = Array.isArray(parsed) ? parsed : [];
  if (docs.length === 0) return {};
  const doc = docs[0];
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new ConfigError("", `Invalid YAML configuration: ${first.message}`, { cause: first });
  }
  const root = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (root === null || root === undefined) return {};
  if (!isMap(root)) {
    throw new ConfigError("", `Invalid YAML configuration: expected a map, got ${describe(root)}`);
  }
  return root;
}

/**
 * Refuses a key no loader reads: a misspelt `borker:` would otherwise leave the default broker
 * in place without a word. The error names the key and the closest known one.
 */
function checkYamlKeys(root: Record<string, unknown>): void {
  const check = (section: string, map: Record<string, unknown>): void => {
    const known = KNOWN_YAML_KEYS.get(section);
    if (known === undefined) return;
    const prefix = section === "" ? "" : `${section}.`;
    for (const key of Object.keys(map)) {
      if (known.includes(key)) continue;
      throw new ConfigError(
        `${prefix}${key}`,
        `Unknown key "${prefix}${key}" in the YAML configuration: did you mean "${prefix}${
          closest(key, known)
        }"?`,
      );
    }
  };
  check("", root);
  for (const [section, value] of Object.entries(root)) {
    if (section !== "" && isMap(value)) check(section, value);
  }
}

/** The word of `words` fewest edits away from `word` (the first of equals). */
function closest(word: string, words: readonly string[]): string {
  let best = words[0];
  let bestDistance = Infinity;
  for (const candidate of words) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

function yamlTypeError(key: string, expected: string, got: unknown): ConfigError {
  return new ConfigError(
    key,
    `Invalid value for "${key}" in the YAML configuration: expected ${expected}, got ${
      describe(got)
    }`,
  );
}

function yamlMap(key: string, v: unknown): Record<string, unknown> | null {
  if (v === null) return null;
  if (!isMap(v)) throw yamlTypeError(key, "a map", v);
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) out[String(k)] = val;
  return out;
}

/**
 * Reads machinery's YAML keys (those of Go's `NewFromYaml`: `broker`, `default_queue`, `amqp.exchange`,
 * `redis.max_idle_timeout` for `idleTimeout`, `redis.cluster_enabled` or v1's
 * `redis.cluster_mode`, …) from the text of a YAML file, the whole of it (Go reads only the
 * first 1000 bytes). Returns only the keys present, and an empty file gives `{}`. Go's `sqs` and
 * `dynamodb` sections and our `periodic_tasks` are accepted and not read here; any other key,
 * at the top or inside a section, is refused (Go ignores it, so a typo such as `borker:` would
 * silently keep the default broker).
 *
 * Values follow yaml.v2 (YAML 1.1): `yes`/`no`/`on`/`off` are booleans, `0x10` is an integer; a
 * string field takes any scalar as written (`exchange: 0x10` gives `"0x10"`); an empty value
 * (`key:` or `~`) sets the field's zero value (`""`, 0, false, or null for the argument maps).
 * `max_message_bytes`, `tls_ca_file`, `connect_timeout` and `command_timeout` set our
 * `maxMessageBytes`, `tlsCAFile`, `connectTimeout` and `commandTimeout`.
 *
 * @throws {ConfigError} for malformed YAML, a value of the wrong type (naming the key), or an
 * unknown key (naming it and the closest known one).
 */
export function configFromYaml(text: string): ConfigInput {
  const typed = loadYamlRoot(text, "yaml-1.1");
  const input: ConfigInput = {};
  if (Object.keys(typed).length === 0) return input;
  const raw = loadYamlRoot(text, "failsafe");
  for (const section of ["amqp", "redis"]) {
    const v = typed[section];
    if (v !== undefined && v !== null && !isMap(v)) throw yamlTypeError(section, "a map", v);
  }
  checkYamlKeys(typed);
  for (const field of FIELDS) {
    for (const key of field.yaml) {
      const { found, value } = lookup(typed, key);
      if (!found) continue;
      switch (field.kind) {
        case "string": {
          if (value === null) {
            assign(input, field.path, "");
          } else if (isMap(value) || Array.isArray(value)) {
            throw yamlTypeError(key, "a string", value);
          } else {
            const text = lookup(raw, key).value;
            assign(input, field.path, typeof text === "string" ? text : String(value));
          }
          break;
        }
        case "int": {
          if (value === null) assign(input, field.path, 0);
          else if (typeof value === "number" && Number.isSafeInteger(value)) {
            assign(input, field.path, value);
          } else throw yamlTypeError(key, "an integer", value);
          break;
        }
        case "bool": {
          if (value === null) assign(input, field.path, false);
          else if (typeof value === "boolean") assign(input, field.path, value);
          else throw yamlTypeError(key, "a boolean", value);
          break;
        }
        case "bindingArgs":
        case "declareArgs":
          assign(input, field.path, yamlMap(key, value));
          break;
      }
    }
  }
  return input;
}
