/**
 * Go's `time.Time` JSON text: RFC 3339 with nanoseconds, trailing zeros trimmed (RFC3339Nano),
 * and the parser Go's `UnmarshalJSON` uses, with its error texts.
 *
 * @module
 */

/** Go's zero `time.Time` as JSON writes it; the TaskState `CreatedAt` of an unset time. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** A parsed time: the instant as a `Date` (millisecond precision) and exactly, in Unix ns. */
export interface GoTime {
  /** The instant, truncated to milliseconds. */
  date: Date;
  /** The instant in nanoseconds since the Unix epoch (exact). */
  unixNanos: bigint;
}

/** A time text that Go's `time.Time.UnmarshalJSON` would reject; the message is Go's. */
export class TimeParseError extends Error {
  /** Creates the error with Go's message text. */
  constructor(message: string) {
    super(message);
    this.name = "TimeParseError";
  }
}

/**
 * Formats a `Date` as Go's `time.Time` JSON text in UTC: RFC3339Nano with the trailing zeros of
 * the fraction trimmed (`2025-01-02T03:04:05.123Z`, `…05.1Z`, `…05Z`). Throws a RangeError for an
 * invalid date or a year outside 0..9999, which Go cannot marshal either.
 */
export function formatGoTime(date: Date): string {
  const ms = date.getTime();
  // A sender stamps many tasks in the same millisecond, and toISOString is slow: reuse the text.
  if (ms === lastFormattedMs) return lastFormattedText;
  if (Number.isNaN(ms)) throw new RangeError("Invalid date");
  const iso = date.toISOString();
  if (iso.length !== 24) {
    throw new RangeError("Time.MarshalJSON: year outside of range [0,9999]");
  }
  const frac = iso.slice(20, 23);
  const text = frac === "000" ? iso.slice(0, 19) + "Z" : iso.slice(0, 20) + trimZeros(frac) + "Z";
  lastFormattedMs = ms;
  lastFormattedText = text;
  return text;
}

let lastFormattedMs = NaN;
let lastFormattedText = "";

/** Formats Unix nanoseconds as Go's RFC3339Nano text in UTC, keeping full nanosecond precision. */
export function formatGoTimeNanos(unixNanos: bigint): string {
  let secs = unixNanos / 1_000_000_000n;
  let nanos = unixNanos % 1_000_000_000n;
  if (nanos < 0n) {
    nanos += 1_000_000_000n;
    secs -= 1n;
  }
  const base = formatGoTime(new Date(Number(secs) * 1000)).slice(0, 19);
  if (nanos === 0n) return base + "Z";
  return base + "." + trimZeros(nanos.toString().padStart(9, "0")) + "Z";
}

function trimZeros(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x30) end--;
  return s.slice(0, end);
}

/**
 * The current time in Unix nanoseconds: `Date.now()` plus the sub-millisecond part of
 * `performance.now()` (the clock is only as fine as the runtime allows).
 */
export function nowNanos(): bigint {
  const sub = Math.floor((performance.now() % 1) * 1e6);
  return BigInt(Date.now()) * 1_000_000n + BigInt(sub);
}

/**
 * Parses an RFC 3339 time the way Go's `time.Time.UnmarshalJSON` does (`text` is the string
 * without its JSON quotes): `2006-01-02T15:04:05`, an optional fraction (`.` or `,`, digits
 * beyond the ninth ignored), then `Z` or `±hh:mm`. Returns the instant with nanoseconds kept.
 * Throws {@link TimeParseError} with Go 1.19's wording, e.g. for `""`:
 * `parsing time "\"\"" as "\"2006-01-02T15:04:05Z07:00\"": cannot parse "\"" as "2006"`.
 */
export function parseGoTime(text: string): GoTime {
  return parseGoTimeJson('"' + text + '"');
}

const LAYOUT = '"2006-01-02T15:04:05Z07:00"';

/**
 * Parses the raw JSON text of a time value (quotes included), as Go 1.19's UnmarshalJSON passes
 * it to `time.Parse`. Non-string JSON (a number, say) fails with Go's message for that text.
 */
export function parseGoTimeJson(raw: string): GoTime {
  const bad = (elem: string, rest: string): TimeParseError =>
    new TimeParseError(
      `parsing time ${quoteTime(raw)} as ${quoteTime(LAYOUT)}: cannot parse ${quoteTime(rest)} as ${
        quoteTime(elem)
      }`,
    );
  const outOfRange = (what: string): TimeParseError =>
    new TimeParseError(`parsing time ${quoteTime(raw)}: ${what} out of range`);

  let v = raw;
  const literal = (lit: string): void => {
    if (!v.startsWith(lit)) throw bad(lit, v);
    v = v.slice(lit.length);
  };
  // getnum: one or two digits; `fixed` demands two.
  const num = (elem: string, fixed: boolean): number => {
    if (!isDigitAt(v, 0)) throw bad(elem, v);
    if (!isDigitAt(v, 1)) {
      if (fixed) throw bad(elem, v);
      const n = v.charCodeAt(0) - 48;
      v = v.slice(1);
      return n;
    }
    const n = (v.charCodeAt(0) - 48) * 10 + (v.charCodeAt(1) - 48);
    v = v.slice(2);
    return n;
  };

  literal('"');
  if (v.length < 4 || !/^[0-9]{4}/.test(v)) throw bad("2006", v);
  const year = Number(v.slice(0, 4));
  v = v.slice(4);
  literal("-");
  const month = num("01", true);
  if (month < 1 || month > 12) throw outOfRange("month");
  literal("-");
  const day = num("02", true); // checked against the month once parsing is done, as in Go
  literal("T");
  const hour = num("15", false);
  if (hour >= 24) throw outOfRange("hour");
  literal(":");
  const minute = num("04", true);
  if (minute >= 60) throw outOfRange("minute");
  literal(":");
  const second = num("05", true);
  if (second >= 60) throw outOfRange("second");
  let nanos = 0;
  if (v.length >= 2 && (v[0] === "." || v[0] === ",") && isDigitAt(v, 1)) {
    let n = 2;
    while (isDigitAt(v, n)) n++;
    // Go reads at most nine digits and scales them to nanoseconds.
    const digits = v.slice(1, Math.min(n, 10));
    nanos = Number(digits.padEnd(9, "0"));
    v = v.slice(n);
  }
  let offsetSeconds = 0;
  if (v.startsWith("Z")) {
    v = v.slice(1);
  } else {
    const hold = v;
    if (v.length < 6 || v[3] !== ":") throw bad("Z07:00", hold);
    const sign = v[0];
    if (!/^[0-9]{2}$/.test(v.slice(1, 3)) || !/^[0-9]{2}$/.test(v.slice(4, 6))) {
      throw bad("Z07:00", hold);
    }
    const hh = Number(v.slice(1, 3));
    const mm = Number(v.slice(4, 6));
    // Go tests the ranges with ">" (offsets of 24 h exist in the wild), before the sign.
    if (mm > 60) throw outOfRange("time zone offset minute");
    if (hh > 24) throw outOfRange("time zone offset hour");
    if (sign !== "+" && sign !== "-") throw bad("Z07:00", hold);
    offsetSeconds = (hh * 60 + mm) * 60 * (sign === "-" ? -1 : 1);
    v = v.slice(6);
  }
  literal('"');
  if (v.length > 0) {
    throw new TimeParseError(`parsing time ${quoteTime(raw)}: extra text: ${quoteTime(v)}`);
  }
  if (day < 1 || day > daysIn(month, year)) throw outOfRange("day");

  const secs = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
    offsetSeconds;
  const unixNanos = BigInt(secs) * 1_000_000_000n + BigInt(nanos);
  return { date: new Date(secs * 1000 + Math.floor(nanos / 1e6)), unixNanos };
}

function isDigitAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
}

function daysIn(month: number, year: number): number {
  if (month === 2) {
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    return leap ? 29 : 28;
  }
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const encoder = new TextEncoder();

// Go's time.quote: double quotes, `"` and `\` escaped, other non-printable bytes as \xNN.
function quoteTime(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c >= 0x80 || c < 0x20) {
      for (const b of encoder.encode(ch)) out += "\\x" + b.toString(16).padStart(2, "0");
    } else {
      if (ch === '"' || ch === "\\") out += "\\";
      out += ch;
    }
  }
  return out + '"';
}
