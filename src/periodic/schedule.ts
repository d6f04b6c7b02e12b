/**
 * Cron specs in machinery's format (robfig/cron's `ParseStandard`), evaluated by croner:
 *
 * - five fields, `minute hour day-of-month month day-of-week` (`0 6 * * ?`), or six with
 *   seconds first (`30 * * * * *`: not in Go machinery, which takes five only);
 * - `?` for `*`; names such as `MON` and `JAN`;
 * - descriptors: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
 *   `@hourly`, and `@every <duration>` with a Go duration (`@every 1m30s`);
 * - a time-zone prefix, `CRON_TZ=Europe/Paris 0 6 * * *` or `TZ=…` (default: the local zone).
 *
 * As in robfig/cron (and Vixie cron), when day-of-month or day-of-week starts with `*` or `?`
 * (a step such as every second day included) a day must match both fields, otherwise either
 * (`0 0 1 * MON`: the 1st and every Monday). croner's extensions (`L`, `W`, `#`, `7` for
 * Sunday) are accepted too.
 *
 * `@every d` rounds `d` down to whole seconds (at least 1 s), as Go does, but its ticks fall on
 * multiples of `d` since the Unix epoch rather than `d` after the process started: every process
 * then agrees on the ticks, which is what lets a lock send each tick once.
 *
 * @example
 * ```ts
 * import { parseSchedule } from "./schedule.ts";
 *
 * const schedule = parseSchedule("CRON_TZ=UTC 30 6 * * MON-FRI");
 * console.log(schedule.next(new Date("2025-01-03T07:00:00Z"))); // 2025-01-06T06:30:00.000Z
 * ```
 *
 * @module
 */
import { Cron } from "croner";

/** A cron spec that cannot be parsed. */
export class CronSpecError extends Error {
  /** The spec as given. */
  readonly spec: string;
  /** Creates the error; the message quotes the spec. */
  constructor(spec: string, reason: string, options?: ErrorOptions) {
    super(`Invalid cron spec "${spec}": ${reason}`, options);
    this.name = "CronSpecError";
    this.spec = spec;
  }
}

/** When a periodic registration fires. */
export interface Schedule {
  /** The spec it was parsed from. */
  readonly spec: string;
  /** The time zone (an IANA name), or `""` for the local zone. */
  readonly timezone: string;
  /** The first tick strictly after `after`, or `null` when there is none (`0 0 30 2 *`). */
  next(after: Date): Date | null;
}

/**
 * Parses a spec in machinery's format (see the module docs).
 *
 * @throws {CronSpecError} when the spec is malformed or names an unknown time zone.
 */
export function parseSchedule(spec: string): Schedule {
  if (typeof spec !== "string") throw new CronSpecError(String(spec), "expected a string");
  let rest = spec.trim();
  let timezone = "";
  const tz = /^(?:CRON_TZ|TZ)=(\S*)(?:\s+|$)/.exec(rest);
  if (tz) {
    timezone = tz[1];
    rest = rest.slice(tz[0].length).trim();
    if (timezone === "") throw new CronSpecError(spec, "the time zone is empty");
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch (error) {
      throw new CronSpecError(spec, `unknown time zone "${timezone}"`, { cause: error });
    }
  }
  if (rest === "") throw new CronSpecError(spec, "the spec is empty");
  if (rest.startsWith("@every")) {
    const duration = rest.slice("@every".length);
    if (!/^\s/.test(duration)) throw new CronSpecError(spec, `unknown descriptor "${rest}"`);
    let ms: number;
    try {
      ms = parseGoDuration(duration.trim());
    } catch (error) {
      throw new CronSpecError(spec, (error as Error).message, { cause: error });
    }
    return new EverySchedule(spec, timezone, ms);
  }
  return CronSchedule.parse(spec, timezone, rest);
}

/** `@every d`: ticks on the multiples of `d` (whole seconds, at least one) since the epoch. */
class EverySchedule implements Schedule {
  readonly spec: string;
  readonly timezone: string;
  readonly #periodMs: number;

  constructor(spec: string, timezone: string, durationMs: number) {
    this.spec = spec;
    this.timezone = timezone;
    // Go's cron.Every: less than a second becomes a second; fractions of a second are dropped.
    this.#periodMs = Math.max(1000, durationMs - (durationMs % 1000));
  }

  next(after: Date): Date {
    const t = after.getTime();
    return new Date((Math.floor(t / this.#periodMs) + 1) * this.#periodMs);
  }
}

/** A field-based spec, evaluated by croner. */
class CronSchedule implements Schedule {
  readonly spec: string;
  readonly timezone: string;
  readonly #cron: Cron;

  private constructor(spec: string, timezone: string, cron: Cron) {
    this.spec = spec;
    this.timezone = timezone;
    this.#cron = cron;
  }

  static parse(spec: string, timezone: string, pattern: string): CronSchedule {
    const fields = pattern.split(/\s+/);
    if (!pattern.startsWith("@") && fields.length !== 5 && fields.length !== 6) {
      throw new CronSpecError(
        spec,
        `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found ${fields.length}`,
      );
    }
    if (pattern.startsWith("@") && (fields.length !== 1 || !DESCRIPTORS.has(pattern))) {
      throw new CronSpecError(spec, `unknown descriptor "${pattern}"`);
    }
    const dom = fields.length === 6 ? fields[3] : fields[2];
    const dow = fields.length === 6 ? fields[5] : fields[4];
    let cron: Cron;
    try {
      cron = new Cron(pattern, {
        mode: "5-or-6-parts",
        timezone: timezone || undefined,
        // robfig/cron: a day-of-month or day-of-week starting with * or ? makes the days AND.
        domAndDow: !pattern.startsWith("@") && (starred(dom) || starred(dow)),
      });
    } catch (error) {
      throw new CronSpecError(spec, croneReason(error), { cause: error });
    }
    return new CronSchedule(spec, timezone, cron);
  }

  next(after: Date): Date | null {
    return this.#cron.nextRun(after);
  }
}

const DESCRIPTORS = new Set([
  "@yearly",
  "@annually",
  "@monthly",
  "@weekly",
  "@daily",
  "@midnight",
  "@hourly",
]);

/** True when one of the field's comma-separated parts starts with `*` or `?` (robfig's star bit). */
function starred(field: string | undefined): boolean {
  return field !== undefined &&
    field.split(",").some((p) => p.startsWith("*") || p.startsWith("?"));
}

function croneReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^CronPattern:\s*/, "").replace(/\.+$/, "");
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * A Go `time.ParseDuration` string (`1h30m`, `1.5s`, `500ms`, `0`) in milliseconds.
 *
 * @throws {Error} with Go's reason when it does not parse, or when it is negative.
 */
export function parseGoDuration(text: string): number {
  if (text === "0") return 0;
  let rest = text;
  if (rest.startsWith("+")) rest = rest.slice(1);
  if (rest.startsWith("-")) throw new Error(`negative duration "${text}"`);
  if (rest === "") throw new Error(`invalid duration "${text}"`);
  let ns = 0;
  const part = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== "") {
    const m = part.exec(rest);
    if (!m) {
      const unit = /^[\d.]+([^\d.]*)/.exec(rest)?.[1];
      throw new Error(
        unit === "" || unit === undefined
          ? `missing unit in duration "${text}"`
          : `unknown unit "${unit}" in duration "${text}"`,
      );
    }
    ns += Number(m[1]) * UNIT_NS[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (!Number.isFinite(ns) || ns > 9_223_372_036_854_775_807) {
    throw new Error(`invalid duration "${text}"`);
  }
  return Math.floor(ns / 1e6);
}
