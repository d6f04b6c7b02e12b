/**
 * Periodic registrations from configuration: the `periodic_tasks` section of a machinery YAML
 * config file, and the command line's `--periodic TASK=SPEC`. Pure functions: they return
 * {@linkcode PeriodicDefinition}s for `Scheduler.register`, and touch no server.
 *
 * ```yaml
 * broker: redis://127.0.0.1:6379
 * result_backend: redis://127.0.0.1:6379
 * lock: redis://127.0.0.1:6379        # who sends each tick (default: the Redis broker or backend)
 * periodic_tasks:
 *   - spec: "@every 10s"              # quote specs: YAML reads a leading * or @ specially
 *     task: add                       # the name defaults to the task's
 *     args: [1, 2]                    # bare values: int64, float64, string, bool or their lists
 *   - name: morning-report
 *     spec: "CRON_TZ=Europe/Paris 0 6 * * MON-FRI"
 *     task: report
 *     args:
 *       - { type: string, value: daily }
 *       - { type: "[]int64", value: [1, 2, 3] }
 *     retry_count: 3
 *   - name: fan-out
 *     spec: "@every 5m"
 *     send_concurrency: 2
 *     group: [add, { task: multiply, args: [2, 3] }]
 *   - name: pipeline
 *     spec: "@hourly"
 *     chain: [fetch, parse, store]
 *   - name: totals
 *     spec: "0 * * * *"
 *     chord: [{ task: add, args: [1, 1] }, { task: add, args: [2, 2] }]
 *     callback: sum_ints
 * ```
 *
 * A task item is a task name, or a map with `task` and optionally `args`, `routing_key`,
 * `retry_count`, `retry_timeout`, `priority` and `immutable`. An argument is a bare value (its
 * machinery type inferred) or a map `{ type, value }` with one of machinery's type names.
 *
 * @example
 * ```ts
 * import { schedulesFromYaml } from "./config.ts";
 *
 * const defs = schedulesFromYaml('periodic_tasks:\n  - { spec: "@hourly", task: cleanup }\n');
 * console.log(defs[0].name, defs[0].spec, defs[0].kind); // cleanup @hourly task
 * ```
 *
 * @module
 */
import { parseAllDocuments } from "yaml";
import { ConfigError } from "../config.ts";
import { type Arg, newSignature, type Signature } from "../wire/signature.ts";
import { decodeValue, inferType, TYPE_NAMES } from "../wire/types.ts";
import type { PeriodicDefinition } from "./scheduler.ts";
import { parseSchedule } from "./schedule.ts";

/** The YAML key of the periodic section. */
export const PERIODIC_KEY = "periodic_tasks";

/**
 * The periodic registrations of a parsed config file (an object such as the YAML's root map):
 * its `periodic_tasks` list, or `[]` when it has none. Every spec is checked.
 *
 * @throws {ConfigError} naming the key at fault (`periodic_tasks[1].spec`).
 */
export function schedulesFromConfig(root: unknown): PeriodicDefinition[] {
  if (root === null || root === undefined) return [];
  if (!isMap(root)) throw new ConfigError("", `Invalid configuration: expected a map`);
  const section = root[PERIODIC_KEY];
  if (section === null || section === undefined) return [];
  if (!Array.isArray(section)) {
    throw new ConfigError(PERIODIC_KEY, `Invalid "${PERIODIC_KEY}": expected a list`);
  }
  const defs = section.map((item, i) => definitionFrom(item, `${PERIODIC_KEY}[${i}]`));
  const seen = new Map<string, number>();
  defs.forEach((def, i) => {
    const earlier = seen.get(def.name);
    if (earlier !== undefined) {
      throw new ConfigError(
        `${PERIODIC_KEY}[${i}].name`,
        `Duplicate periodic name "${def.name}" in ${PERIODIC_KEY}[${earlier}] and ${PERIODIC_KEY}[${i}]: give each a distinct "name"`,
      );
    }
    seen.set(def.name, i);
  });
  return defs;
}

/**
 * The periodic registrations of a YAML config file's text (its first document), as
 * {@linkcode schedulesFromConfig} reads them. Integers are read exactly (as bigints where they
 * must be), so int64 arguments keep every digit.
 *
 * @throws {ConfigError} for malformed YAML or a bad entry.
 */
export function schedulesFromYaml(text: string): PeriodicDefinition[] {
  const docs = parseAllDocuments(text, { version: "1.1", intAsBigInt: true, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [];
  if (list.length === 0) return [];
  const doc = list[0];
  if (doc.errors.length > 0) {
    throw new ConfigError("", `Invalid YAML configuration: ${doc.errors[0].message}`, {
      cause: doc.errors[0],
    });
  }
  return schedulesFromConfig(doc.toJS({ maxAliasCount: 100 }));
}

/**
 * A registration from the command line's `--periodic TASK=SPEC`: the task `TASK`, without
 * arguments, at every tick of `SPEC`, under the name `TASK` (`cleanup=@every 1h`,
 * `report=CRON_TZ=Europe/Paris 0 6 * * *`). The text splits at its first `=`.
 *
 * @throws {ConfigError} (key `--periodic`) when the text is malformed or the spec is invalid.
 */
export function scheduleFromFlag(text: string): PeriodicDefinition {
  const eq = text.indexOf("=");
  const task = eq < 0 ? "" : text.slice(0, eq).trim();
  const spec = eq < 0 ? "" : text.slice(eq + 1).trim();
  if (task === "" || spec === "") {
    throw new ConfigError(
      "--periodic",
      `Invalid --periodic "${text}": expected TASK=SPEC, such as cleanup=@every 1h or report=0 6 * * *`,
    );
  }
  checkSpec(spec, "--periodic");
  return { kind: "task", name: task, spec, signature: newSignature(task) };
}

const KINDS = ["task", "group", "chain", "chord"] as const;

function definitionFrom(item: unknown, key: string): PeriodicDefinition {
  if (!isMap(item)) {
    throw typeError(key, "a map with spec and one of task, group, chain, chord", item);
  }
  const spec = requiredString(item, "spec", key);
  checkSpec(spec, `${key}.spec`);
  const present = KINDS.filter((k) => item[k] !== undefined && item[k] !== null);
  if (present.length !== 1) {
    throw new ConfigError(
      key,
      `Invalid ${key}: expected exactly one of task, group, chain or chord, got ${
        present.length === 0 ? "none" : present.join(" and ")
      }`,
    );
  }
  const kind = present[0];
  const known = new Set<string>(["name", "spec", kind]);
  if (kind === "task") TASK_FIELDS.forEach((f) => known.add(f));
  if (kind === "group" || kind === "chord") known.add("send_concurrency");
  if (kind === "chord") known.add("callback");
  for (const k of Object.keys(item)) {
    if (!known.has(k)) throw new ConfigError(`${key}.${k}`, `Unknown key "${k}" in ${key}`);
  }
  const nameValue = item.name;
  if (kind === "task") {
    const signature = signatureFrom(item, key);
    const name = nameValue === undefined || nameValue === null
      ? signature.name
      : requiredString(item, "name", key);
    return { kind, name, spec, signature };
  }
  const name = requiredString(item, "name", key);
  const signatures = taskList(item[kind], `${key}.${kind}`);
  if (kind === "chain") return { kind, name, spec, signatures };
  const sendConcurrency = wholeNumber(item.send_concurrency, `${key}.send_concurrency`);
  if (kind === "group") return { kind, name, spec, signatures, sendConcurrency };
  if (item.callback === undefined || item.callback === null) {
    throw new ConfigError(`${key}.callback`, `Missing "callback" in ${key}: a chord needs one`);
  }
  const callback = taskItem(item.callback, `${key}.callback`);
  return { kind, name, spec, signatures, callback, sendConcurrency };
}

/** The keys of a task item besides `task`. */
const TASK_FIELDS = [
  "args",
  "routing_key",
  "retry_count",
  "retry_timeout",
  "priority",
  "immutable",
];

function taskList(value: unknown, key: string): Signature[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw typeError(key, "a non-empty list of tasks", value);
  }
  return value.map((v, i) => taskItem(v, `${key}[${i}]`));
}

function taskItem(value: unknown, key: string): Signature {
  if (typeof value === "string") {
    if (value === "") throw typeError(key, "a task name", value);
    return newSignature(value);
  }
  if (!isMap(value)) throw typeError(key, "a task name or a map with task", value);
  for (const k of Object.keys(value)) {
    if (k !== "task" && !TASK_FIELDS.includes(k)) {
      throw new ConfigError(`${key}.${k}`, `Unknown key "${k}" in ${key}`);
    }
  }
  return signatureFrom(value, key);
}

function signatureFrom(map: Record<string, unknown>, key: string): Signature {
  const task = requiredString(map, "task", key);
  const args = map.args === undefined || map.args === null ? [] : argList(map.args, `${key}.args`);
  const sig = newSignature(task, args.length > 0 ? args : null);
  if (map.routing_key !== undefined && map.routing_key !== null) {
    sig.routingKey = requiredString(map, "routing_key", key);
  }
  if (map.retry_count !== undefined) {
    sig.retryCount = wholeNumber(map.retry_count, `${key}.retry_count`);
  }
  if (map.retry_timeout !== undefined) {
    sig.retryTimeout = wholeNumber(map.retry_timeout, `${key}.retry_timeout`);
  }
  if (map.priority !== undefined) sig.priority = wholeNumber(map.priority, `${key}.priority`);
  if (map.immutable !== undefined && map.immutable !== null) {
    if (typeof map.immutable !== "boolean") {
      throw typeError(`${key}.immutable`, "a boolean", map.immutable);
    }
    sig.immutable = map.immutable;
  }
  return sig;
}

function argList(value: unknown, key: string): Arg[] {
  if (!Array.isArray(value)) throw typeError(key, "a list", value);
  return value.map((v, i) => argFrom(v, `${key}[${i}]`));
}

function argFrom(value: unknown, key: string): Arg {
  if (isMap(value)) {
    for (const k of Object.keys(value)) {
      if (k !== "type" && k !== "value" && k !== "name") {
        throw new ConfigError(
          `${key}.${k}`,
          `Unknown key "${k}" in ${key}: expected type and value`,
        );
      }
    }
    const type = value.type;
    if (typeof type !== "string" || !(TYPE_NAMES as readonly string[]).includes(type)) {
      throw new ConfigError(
        `${key}.type`,
        `Invalid ${key}.type ${describe(type)}: expected one of ${TYPE_NAMES.join(", ")}`,
      );
    }
    const name = value.name === undefined || value.name === null ? "" : String(value.name);
    try {
      return { name, type, value: decodeValue(type, value.value ?? null) };
    } catch (error) {
      throw new ConfigError(`${key}.value`, `Invalid ${key}.value: ${errorText(error)}`, {
        cause: error,
      });
    }
  }
  try {
    return { name: "", type: inferType(value), value };
  } catch (error) {
    throw new ConfigError(key, `Invalid ${key}: ${errorText(error)}; or give { type, value }`, {
      cause: error,
    });
  }
}

function checkSpec(spec: string, key: string): void {
  try {
    parseSchedule(spec);
  } catch (error) {
    throw new ConfigError(key, `Invalid ${key}: ${errorText(error)}`, { cause: error });
  }
}

function requiredString(map: Record<string, unknown>, field: string, key: string): string {
  const value = map[field];
  if (typeof value !== "string" || value === "") {
    throw typeError(`${key}.${field}`, "a non-empty string", value);
  }
  return value;
}

function wholeNumber(value: unknown, key: string): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw typeError(key, "a whole number", value);
  }
  return n;
}

function typeError(key: string, expected: string, got: unknown): ConfigError {
  return new ConfigError(key, `Invalid ${key}: expected ${expected}, got ${describe(got)}`);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (typeof v === "string") return `"${v}"`;
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  return String(v);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
