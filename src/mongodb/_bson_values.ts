/**
 * Task results ↔ BSON, as Go machinery's MongoDB backend stores them (`TaskResult` with the bson
 * tags `type` and `value`). Go stores each result's Go value through the Go driver's default
 * encoders, so the BSON type follows the Go type:
 *
 * | Go type | BSON |
 * |---------|------|
 * | `bool`, `string` | boolean, string |
 * | `int8`, `int16`, `int32`, `uint8`, `uint16` | int32 |
 * | `int` | int32 when it fits, else int64 |
 * | `int64`, `uint`, `uint32`, `uint64` | int64 (a `uint64` above 2^63−1 is an error, as in Go) |
 * | `float32`, `float64` | double |
 * | `[]byte` / `[]uint8` | binary (subtype 0) |
 * | other slices | an array of the element's BSON; a nil slice is null |
 *
 * One deliberate difference: Go stores a `string` result that parses as a JSON object (or `null`)
 * as `{type: "json", value: <document>}`, which Go's own client then cannot read back (`json` is
 * not a machinery type). Strings are stored as strings here, and a `json` result written by Go
 * is read back as a `string` holding that document's JSON.
 *
 * Reading turns BSON into the wire values the rest of the code uses ({@linkcode JsonNumber} for
 * numbers, `Uint8Array` for bytes), re-encoded for the result's type the way Go would marshal the
 * value it decoded, so a float32 stored as the double 1.2799999713897705 reads back as `1.28`.
 *
 * @module
 */
import { Binary, Double, Int32, Long } from "mongodb";
import { JsonNumber, stringifyGo } from "../wire/json.ts";
import { formatGoTime } from "../wire/go_time.ts";
import type { TaskResult } from "../wire/state.ts";
import { decodeValue, formatFloatJson, toWireValue } from "../wire/types.ts";

/** A result as stored: `{type, value}`. */
export interface BsonResult {
  /** The Go type name. */
  type: string;
  /** The value as a BSON value (driver classes for int32, int64, double and binary). */
  value: unknown;
}

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT32 = -(2 ** 31);
const MAX_INT32 = 2 ** 31 - 1;

/** The BSON document Go would store for one result. Throws for a uint64 beyond int64. */
export function resultToBson(result: TaskResult): BsonResult {
  const type = result.type ?? "";
  const wire = toWireValue(type, result.value);
  if (wire === null || wire === undefined) return { type, value: null };
  let value: unknown;
  try {
    value = decodeValue(type, wire);
  } catch {
    return { type, value: genericToBson(wire) }; // not a machinery type, or a value that does not fit it
  }
  return { type, value: typedToBson(type, value) };
}

/** The stored form of a results array (null stays null). */
export function resultsToBson(results: TaskResult[] | null): BsonResult[] | null {
  return results === null ? null : results.map(resultToBson);
}

function typedToBson(type: string, value: unknown): unknown {
  if (!type.startsWith("[]")) return scalarToBson(type, value);
  const elem = type === "[]byte" ? "uint8" : type.slice(2);
  if (value instanceof Uint8Array) return new Binary(value);
  return (value as unknown[]).map((x) => scalarToBson(elem, x));
}

function scalarToBson(type: string, x: unknown): unknown {
  switch (type) {
    case "float32":
    case "float64":
      return new Double(Number(x));
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
      return new Int32(Number(x));
    case "int": {
      const n = BigInt(x as number | bigint);
      return n >= MIN_INT32 && n <= MAX_INT32 ? new Int32(Number(n)) : Long.fromBigInt(n);
    }
    case "int64":
      return Long.fromBigInt(BigInt(x as number | bigint));
    case "uint":
    case "uint32":
    case "uint64": {
      const n = BigInt(x as number | bigint);
      if (n > MAX_INT64) throw new RangeError(`${n} overflows int64`);
      return Long.fromBigInt(n);
    }
    default:
      return x; // bool, string
  }
}

function genericToBson(v: unknown): unknown {
  if (v instanceof JsonNumber) {
    if (/^-?(?:0|[1-9][0-9]*)$/.test(v.text)) {
      const n = BigInt(v.text);
      if (n >= -MAX_INT64 - 1n && n <= MAX_INT64) return Long.fromBigInt(n);
    }
    return new Double(Number(v.text));
  }
  if (typeof v === "bigint") return Long.fromBigInt(BigInt.asIntN(64, v));
  if (typeof v === "number") return new Double(v);
  if (v instanceof Uint8Array) return new Binary(v);
  if (Array.isArray(v)) return v.map(genericToBson);
  if (v !== null && typeof v === "object" && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = genericToBson(x);
    return out;
  }
  return v;
}

/**
 * A BSON value as a wire value: int32, int64 and doubles become {@linkcode JsonNumber}s (exact
 * digits; a non-finite double stays a number), binary a `Uint8Array`, a date Go's time text,
 * an ObjectId its hex, arrays and documents element by element.
 */
export function bsonToWire(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "boolean":
    case "string":
      return v;
    case "bigint":
      return new JsonNumber(v.toString());
    case "number":
      return numberToWire(v);
  }
  if (v instanceof Date) return formatGoTime(v);
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(bsonToWire);
  const tag = (v as { _bsontype?: string })._bsontype;
  switch (tag) {
    case "Long":
    case "Decimal128":
      return new JsonNumber(String(v));
    case "Int32":
    case "Double":
      return numberToWire((v as Int32 | Double).valueOf());
    case "Binary":
      return Uint8Array.from((v as Binary).value());
    case "ObjectId":
      return (v as { toHexString(): string }).toHexString();
    case undefined:
      break;
    default:
      return String(v);
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = bsonToWire(x);
  return out;
}

function numberToWire(n: number): unknown {
  if (!Number.isFinite(n)) return n;
  return new JsonNumber(
    Number.isInteger(n) && Math.abs(n) < 2 ** 53 ? String(n) : formatFloatJson(n, 64),
  );
}

/** A stored result as a {@linkcode TaskResult} (see the module notes for `json` results). */
export function resultFromBson(doc: unknown): TaskResult {
  const d = (doc ?? {}) as { type?: unknown; value?: unknown };
  const type = typeof d.type === "string" ? d.type : "";
  const raw = bsonToWire(d.value);
  if (type === "json") return { type: "string", value: stringifyGo(raw) };
  if (raw === null) return { type, value: null };
  try {
    return { type, value: toWireValue(type, decodeValue(type, raw)) };
  } catch {
    return { type, value: raw }; // left for the reader to fail on, with Go's text
  }
}
