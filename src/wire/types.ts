/**
 * Machinery's 29 argument/result type names and the codecs between wire values and JS values,
 * with Go's error texts (they end up in task states that Go clients read).
 *
 * Wire values are what {@link parseJson} returns: numbers as {@link JsonNumber}, `[]byte` as a
 * base64 string. {@link decodeValue} is Go's `tasks.ReflectValue`; {@link encodeValue} goes the
 * other way, writing numbers exactly as Go's `encoding/json` would.
 *
 * @module
 */

import { Base64Error, compareCodePoints, decodeBase64, JsonNumber } from "./json.ts";
import { UnsupportedValueError } from "./json.ts";

/** The scalar type names. */
export type ScalarTypeName =
  | "bool"
  | "int"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "float32"
  | "float64"
  | "string";

/** The slice type names (`[]byte` is Go's alias of `[]uint8`). */
export type SliceTypeName = `[]${ScalarTypeName}` | "[]byte";

/** All 29 type names machinery accepts in `Arg.Type` and `TaskResult.Type`. */
export type TypeName = ScalarTypeName | SliceTypeName;

const SCALARS: readonly ScalarTypeName[] = [
  "bool",
  "int",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "float32",
  "float64",
  "string",
];

/** The 29 type names, scalars first, in machinery's order. */
export const TYPE_NAMES: readonly TypeName[] = [
  ...SCALARS,
  ...SCALARS.map((s) => `[]${s}` as SliceTypeName).filter((s) => s !== "[]string"),
  "[]byte",
  "[]string",
];

const TYPE_SET: ReadonlySet<string> = new Set(TYPE_NAMES);

/** Whether `s` is one of the 29 machinery type names. */
export function isTypeName(s: string): s is TypeName {
  return TYPE_SET.has(s);
}

/** The integer type names. */
export type IntTypeName = Exclude<ScalarTypeName, "bool" | "float32" | "float64" | "string">;

/** The width and signedness of an integer type. */
export interface IntWidth {
  /** Bits: Go's `int` and `uint` are 64 bits wide on every platform machinery runs on. */
  bits: 8 | 16 | 32 | 64;
  /** Whether negative values exist (`int*`) or not (`uint*`). */
  signed: boolean;
}

/**
 * The one table of integer widths: the decoder wraps narrow integers with it, the encoder and
 * the `TYPE:VALUE` parser check ranges with it.
 */
export const INT_WIDTHS: Readonly<Record<IntTypeName, IntWidth>> = {
  int: { bits: 64, signed: true },
  int8: { bits: 8, signed: true },
  int16: { bits: 16, signed: true },
  int32: { bits: 32, signed: true },
  int64: { bits: 64, signed: true },
  uint: { bits: 64, signed: false },
  uint8: { bits: 8, signed: false },
  uint16: { bits: 16, signed: false },
  uint32: { bits: 32, signed: false },
  uint64: { bits: 64, signed: false },
};

/** Whether `s` names an integer type. */
export function isIntTypeName(s: string): s is IntTypeName {
  return Object.hasOwn(INT_WIDTHS, s);
}

/** Whether `n` lies in the range of the integer type `type`. */
export function fitsIntType(type: IntTypeName, n: bigint): boolean {
  return wrapInt(type, n) === n;
}

/** `n` wrapped to the integer type `type`, as Go's conversion to a narrower integer does. */
function wrapInt(type: IntTypeName, n: bigint): bigint {
  const { bits, signed } = INT_WIDTHS[type];
  // A literal width lets V8 compile asIntN/asUintN to machine arithmetic.
  switch (bits) {
    case 8:
      return signed ? BigInt.asIntN(8, n) : BigInt.asUintN(8, n);
    case 16:
      return signed ? BigInt.asIntN(16, n) : BigInt.asUintN(16, n);
    case 32:
      return signed ? BigInt.asIntN(32, n) : BigInt.asUintN(32, n);
    case 64:
      return signed ? BigInt.asIntN(64, n) : BigInt.asUintN(64, n);
  }
}

/**
 * The JS type of a decoded value: 64-bit integers are a number when safe, else a bigint;
 * `[]uint8`/`[]byte` are a `Uint8Array`; other slices are arrays.
 */
export type ValueOf<T extends TypeName> = T extends "bool" ? boolean
  : T extends "string" ? string
  : T extends "int" | "int64" | "uint" | "uint64" ? number | bigint
  : T extends "int8" | "int16" | "int32" | "uint8" | "uint16" | "uint32" | "float32" | "float64"
    ? number
  : T extends "[]uint8" | "[]byte" ? Uint8Array
  : T extends `[]${infer E extends ScalarTypeName}` ? ValueOf<E>[]
  : never;

/** A value that does not fit its machinery type; the message is Go's (`abc is not int64`). */
export class TypeDecodeError extends Error {
  /** Creates the error with Go's message text. */
  constructor(message: string) {
    super(message);
    this.name = "TypeDecodeError";
  }
}

function unsupported(type: string): TypeDecodeError {
  return new TypeDecodeError(`${type} is not one of supported types`);
}

function notType(value: unknown, goType: string): TypeDecodeError {
  return new TypeDecodeError(`${formatGoValue(value)} is not ${goType}`);
}

// ---------------------------------------------------------------------------------------------
// Integers: Go's strconv.ParseInt / ParseUint (base 10, 64 bits) with their error texts

const MAX_UINT64 = (1n << 64n) - 1n;
const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);
const UINT64_CUTOFF = MAX_UINT64 / 10n + 1n;

function numError(fn: string, text: string, err: string): TypeDecodeError {
  return new TypeDecodeError(`strconv.${fn}: parsing ${JSON.stringify(text)}: ${err}`);
}

// Go checks digits and overflow in one pass, so "99999999999999999999.5" is a range error.
function parseUintBody(s: string, fn: string, whole: string): bigint {
  if (s === "") throw numError(fn, whole, "invalid syntax");
  if (s.length <= 15 && /^[0-9]+$/.test(s)) return BigInt(s);
  let n = 0n;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) throw numError(fn, whole, "invalid syntax");
    if (n >= UINT64_CUTOFF) throw numError(fn, whole, "value out of range");
    n = n * 10n + BigInt(c - 48);
    if (n > MAX_UINT64) throw numError(fn, whole, "value out of range");
  }
  return n;
}

/** Go's `strconv.ParseInt(s, 10, 64)`; throws {@link TypeDecodeError} with Go's text. */
export function parseGoInt64(s: string): bigint {
  let body = s;
  let neg = false;
  if (s[0] === "+" || s[0] === "-") {
    neg = s[0] === "-";
    body = s.slice(1);
  }
  const un = parseUintBody(body, "ParseInt", s);
  if (!neg && un > MAX_INT64) throw numError("ParseInt", s, "value out of range");
  if (neg && un > -MIN_INT64) throw numError("ParseInt", s, "value out of range");
  return neg ? -un : un;
}

/** Go's `strconv.ParseUint(s, 10, 64)`; throws {@link TypeDecodeError} with Go's text. */
export function parseGoUint64(s: string): bigint {
  return parseUintBody(s, "ParseUint", s);
}

function intResult(n: bigint): number | bigint {
  return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
}

// ---------------------------------------------------------------------------------------------
// Decoding (Go's ReflectValue)

/**
 * Go's `tasks.ReflectValue(type, value)`: checks a wire value against a type name and returns
 * the JS value ({@link ValueOf}). Also accepts plain JS numbers, bigints and `Uint8Array`s built
 * in memory; throws {@link TypeDecodeError} with Go's texts: `abc is not int64`,
 * `strconv.ParseInt: parsing "1.5": invalid syntax`, `map is not one of supported types`.
 * Narrow integers wrap silently as in Go; a slice given an object, a bool or a number is an error
 * (Go panics there).
 */
export function decodeValue(type: string, wire: unknown): unknown {
  if (type.startsWith("[]")) return decodeSlice(type, wire);
  if (!TYPE_SET.has(type)) throw unsupported(type);
  return decodeScalar(type as ScalarTypeName, wire);
}

function decodeScalar(type: ScalarTypeName, v: unknown): unknown {
  switch (type) {
    case "bool":
      if (typeof v !== "boolean") throw notType(v, type);
      return v;
    case "string":
      if (typeof v !== "string") throw notType(v, type);
      return v;
    case "int":
    case "int64":
      return intResult(toInt64(v, type));
    case "int8":
    case "int16":
    case "int32":
      return Number(wrapInt(type, toInt64(v, type)));
    case "uint":
    case "uint64":
      return intResult(toUint64(v, type));
    case "uint8":
    case "uint16":
    case "uint32":
      return Number(wrapInt(type, toUint64(v, type)));
    case "float64":
      return toFloat64(v, type);
    case "float32":
      return Math.fround(toFloat64(v, type));
  }
}

function toInt64(v: unknown, goType: string): bigint {
  if (v instanceof JsonNumber) return parseGoInt64(v.text);
  if (typeof v === "number" && Number.isInteger(v)) return parseGoInt64(BigInt(v).toString());
  if (typeof v === "bigint") return parseGoInt64(v.toString());
  throw notType(v, goType);
}

function toUint64(v: unknown, goType: string): bigint {
  if (v instanceof JsonNumber) return parseGoUint64(v.text);
  if (typeof v === "number" && Number.isInteger(v)) return parseGoUint64(BigInt(v).toString());
  if (typeof v === "bigint") return parseGoUint64(v.toString());
  throw notType(v, goType);
}

function toFloat64(v: unknown, goType: string): number {
  if (v instanceof JsonNumber) {
    const f = Number(v.text);
    // ParseFloat overflows to ±Inf with ErrRange; underflow to 0 is not an error.
    if (!Number.isFinite(f)) throw numError("ParseFloat", v.text, "value out of range");
    return f;
  }
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw notType(v, goType);
}

const utf8 = new TextEncoder();

function decodeSlice(type: string, v: unknown): unknown {
  if (!TYPE_SET.has(type)) throw unsupported(type);
  const elem = (type === "[]byte" ? "uint8" : type.slice(2)) as ScalarTypeName;
  const bytes = elem === "uint8";
  if (v === null || v === undefined) return bytes ? new Uint8Array(0) : [];
  if (typeof v === "string") {
    if (elem.startsWith("uint")) {
      // Go's []byte JSON form; machinery's prefix test applies it to every []uint*.
      let raw: Uint8Array;
      try {
        raw = decodeBase64(v);
      } catch (e) {
        if (e instanceof Base64Error) throw new TypeDecodeError(e.message);
        throw e;
      }
      return bytes ? raw : Array.from(raw);
    }
    // Go's reflection indexes a string as its UTF-8 bytes, which fail the element check.
    if (v === "") return [];
    throw notType(utf8.encode(v)[0], elem);
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const src = v as ArrayLike<unknown>;
    if (bytes) {
      const out = new Uint8Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = decodeScalar(elem, src[i]) as number;
      return out;
    }
    const out = new Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = decodeScalar(elem, src[i]);
    return out;
  }
  throw notType(v, type === "[]byte" ? "[]uint8" : type);
}

// ---------------------------------------------------------------------------------------------
// Encoding (JS value → wire value)

/**
 * Turns a JS value into the wire value Go would write for `type` (for {@link stringifyGo}).
 * Integers become a {@link JsonNumber} of exact digits (the value must be an integer in the
 * type's range), float64 JS's shortest form, float32 the shortest form that round-trips at 32 bits
 * (`1.28`), `[]uint8`/`[]byte` a `Uint8Array` (written as base64; a number[] is accepted, and a
 * string is taken as base64 already). Other slices map each element; null stays null. A
 * {@link JsonNumber} passes through unchanged, as does any value of an unknown type name.
 * NaN and ±Inf throw {@link UnsupportedValueError} (`json: unsupported value: NaN`) as Go's
 * marshalling does; other mismatches throw a TypeError or RangeError.
 */
export function encodeValue(type: string, value: unknown): unknown {
  if (value instanceof JsonNumber) return value;
  if (!TYPE_SET.has(type)) return value;
  if (type.startsWith("[]")) return encodeSlice(type, value);
  return encodeScalar(type as ScalarTypeName, value);
}

function describe(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return String(value);
}

function encodeScalar(type: ScalarTypeName, value: unknown): unknown {
  switch (type) {
    case "bool":
      if (typeof value !== "boolean") {
        throw new TypeError(`Value ${describe(value)} is not a boolean for type "bool"`);
      }
      return value;
    case "string":
      if (typeof value !== "string") {
        throw new TypeError(`Value ${describe(value)} is not a string for type "string"`);
      }
      return value;
    case "float64":
    case "float32": {
      let f: number;
      if (typeof value === "number") f = value;
      else if (typeof value === "bigint") f = Number(value);
      else throw new TypeError(`Value ${describe(value)} is not a number for type "${type}"`);
      return new JsonNumber(type === "float32" ? formatFloatJson(f, 32) : formatFloatJson(f, 64));
    }
    default: {
      let n: bigint;
      if (typeof value === "bigint") n = value;
      else if (typeof value === "number" && Number.isInteger(value)) n = BigInt(value);
      else {
        throw new TypeError(`Value ${describe(value)} is not an integer for type "${type}"`);
      }
      if (!fitsIntType(type, n)) {
        throw new RangeError(`Value ${n} is out of range for type "${type}"`);
      }
      return new JsonNumber(n.toString());
    }
  }
}

function encodeSlice(type: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const elem = (type === "[]byte" ? "uint8" : type.slice(2)) as ScalarTypeName;
  if (typeof value === "string" && elem.startsWith("uint")) return value; // base64 already
  if (elem === "uint8") {
    if (value instanceof Uint8Array) return value;
    if (Array.isArray(value) && !value.some((x) => x instanceof JsonNumber)) {
      const out = new Uint8Array(value.length);
      for (let i = 0; i < value.length; i++) {
        out[i] = Number((encodeScalar("uint8", value[i]) as JsonNumber).text);
      }
      return out;
    }
  }
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const src = value as ArrayLike<unknown>;
    const out = new Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const x = src[i];
      out[i] = x instanceof JsonNumber ? x : encodeScalar(elem, x);
    }
    return out;
  }
  throw new TypeError(`Value ${describe(value)} is not an array for type "${type}"`);
}

/**
 * Whether a value is already in wire form (what {@link parseJson} produces: null, strings,
 * booleans, {@link JsonNumber}s, and arrays or plain objects of those). Codecs pass such values
 * through untouched, as Go re-marshals a decoded `json.Number` or string verbatim.
 */
export function isWireValue(v: unknown): boolean {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v !== "object") return false;
  if (v instanceof JsonNumber) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isWireValue(v[i])) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) if (!isWireValue((v as Record<string, unknown>)[k])) return false;
  return true;
}

/**
 * The value to write for an arg or result: wire values pass through (a decoded message
 * re-encodes byte for byte, even when its values do not fit their type), JS values go through
 * {@link encodeValue}.
 */
export function toWireValue(type: string, value: unknown): unknown {
  return isWireValue(value) ? value : encodeValue(type, value);
}

// ---------------------------------------------------------------------------------------------
// Go float formatting

/** Decimal digits of a positive float: value = 0.digits × 10^dp (Go's `decimalSlice`). */
interface Digits {
  digits: string;
  dp: number;
}

function digits64(x: number): Digits {
  // toExponential() without an argument gives the shortest round-tripping digits.
  const s = x.toExponential();
  const e = s.indexOf("e");
  const mant = s.slice(0, e).replace(".", "");
  return { digits: mant, dp: Number(s.slice(e + 1)) + 1 };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// Compare D×10^k with B×2^q exactly; the sign of the difference, scaled by a positive factor.
function diff(d: bigint, k: number, b: bigint, q: number): bigint {
  let l = d;
  let r = b;
  if (k >= 0) l *= 10n ** BigInt(k);
  else r *= 10n ** BigInt(-k);
  if (q >= 0) r *= 2n ** BigInt(q);
  else l *= 2n ** BigInt(-q);
  return l - r;
}

/**
 * The shortest decimal that reads back as the same float32 (what Go's `FormatFloat(x, …, -1,
 * 32)` writes); among equally short ones, the closest, ties to even.
 */
function digits32(x: number): Digits {
  f32[0] = x;
  const bits = u32[0];
  const be = (bits >>> 23) & 0xff;
  const bm = bits & 0x7fffff;
  const m = BigInt(be === 0 ? bm : bm | 0x800000);
  const q = (be === 0 ? -149 : be - 150) - 2; // bounds are in units of 2^q
  const mid = 4n * m;
  const hi = mid + 2n;
  const lo = bm === 0 && be > 1 ? mid - 1n : mid - 2n; // the gap below a power of two is half
  const inclusive = (m & 1n) === 0n; // round-half-even reads a midpoint back as the even value
  for (let p = 1; p <= 9; p++) {
    const s = x.toExponential(p - 1);
    const e = s.indexOf("e");
    const d = BigInt(s.slice(0, e).replace(".", ""));
    const k = Number(s.slice(e + 1)) - (p - 1);
    let best: bigint | null = null;
    let bestDist = 0n;
    for (const c of [d, d - 1n, d + 1n]) {
      if (c <= 0n) continue;
      const dl = diff(c, k, lo, q);
      const dh = diff(c, k, hi, q);
      const inside = inclusive ? dl >= 0n && dh <= 0n : dl > 0n && dh < 0n;
      if (!inside) continue;
      let dist = diff(c, k, mid, q);
      if (dist < 0n) dist = -dist;
      if (best === null || dist < bestDist || (dist === bestDist && (c & 1n) === 0n)) {
        best = c;
        bestDist = dist;
      }
    }
    if (best !== null) {
      const ds = best.toString();
      let end = ds.length;
      while (end > 1 && ds.charCodeAt(end - 1) === 48) end--;
      return { digits: ds.slice(0, end), dp: ds.length + k };
    }
  }
  // Nine significant digits always round-trip a float32; not reached.
  return digits64(x);
}

function fmtE(neg: boolean, d: Digits): string {
  const exp = d.dp - 1;
  const a = Math.abs(exp);
  return (neg ? "-" : "") + d.digits[0] + (d.digits.length > 1 ? "." + d.digits.slice(1) : "") +
    "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" + a : String(a));
}

function fmtF(neg: boolean, d: Digits): string {
  const { digits, dp } = d;
  let s: string;
  if (dp <= 0) s = "0." + "0".repeat(-dp) + digits;
  else if (dp >= digits.length) s = digits + "0".repeat(dp - digits.length);
  else s = digits.slice(0, dp) + "." + digits.slice(dp);
  return (neg ? "-" : "") + s;
}

const F32_1E_6 = Math.fround(1e-6);
const F32_1E21 = Math.fround(1e21);

/**
 * A float as Go's `encoding/json` writes it at 64 or 32 bits: shortest round-trip digits, an
 * exponent below 1e-6 and from 1e21 (`1e-7`, `1e+21`). `-0` is written `0`. NaN and ±Inf throw
 * {@link UnsupportedValueError} with Go's text.
 */
export function formatFloatJson(x: number, bits: 32 | 64): string {
  const v = bits === 32 ? Math.fround(x) : x;
  if (!Number.isFinite(v)) {
    throw new UnsupportedValueError(
      `json: unsupported value: ${Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"}`,
    );
  }
  if (v === 0) return "0";
  if (bits === 64) return String(v); // JS's Number::toString is Go's float64 JSON form
  const abs = Math.abs(v);
  const d = digits32(abs);
  if (abs < F32_1E_6 || abs >= F32_1E21) {
    // Go trims a leading zero from a negative exponent: e-07 → e-7.
    return fmtE(v < 0, d).replace(/e-0(\d)$/, "e-$1");
  }
  return fmtF(v < 0, d);
}

/** A float as Go's `%v` (`strconv 'g'`, shortest) prints it: `200`, `4.2`, `1e+06`, `1e+21`. */
export function formatFloatV(x: number, bits: 32 | 64): string {
  const v = bits === 32 ? Math.fround(x) : x;
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const abs = Math.abs(v);
  const d = bits === 32 ? digits32(abs) : digits64(abs);
  const exp = d.dp - 1;
  return exp < -4 || exp >= 6 ? fmtE(v < 0, d) : fmtF(v < 0, d);
}

// ---------------------------------------------------------------------------------------------
// Go's %v, HumanReadableResults

/**
 * Prints a value the way Go's `%v` prints the corresponding Go value. With a type name, numbers
 * follow it (float64 200 → `200`, 1e6 → `1e+06`; ints as digits). Without one, a safe integer
 * prints as digits and any other number as a float64. Strings print raw, null as `<nil>`,
 * slices as `[a b]`, objects as Go maps `map[k:v]` with sorted keys.
 */
export function formatGoValue(value: unknown, type?: string): string {
  const scalar = type === undefined
    ? undefined
    : type.startsWith("[]")
    ? (type === "[]byte" ? "uint8" : type.slice(2))
    : type;
  if (value === null || value === undefined) return "<nil>";
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "number":
      if (scalar === "float32") return formatFloatV(value, 32);
      if (scalar === "float64") return formatFloatV(value, 64);
      if (scalar !== undefined && isIntTypeName(scalar) && Number.isInteger(value)) {
        return BigInt(value).toString();
      }
      return Number.isSafeInteger(value) ? String(value) : formatFloatV(value, 64);
  }
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const arr = value as ArrayLike<unknown>;
    const parts: string[] = new Array(arr.length);
    for (let i = 0; i < arr.length; i++) parts[i] = formatGoValue(arr[i], scalar);
    return "[" + parts.join(" ") + "]";
  }
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort(compareCodePoints);
    return "map[" + keys.map((k) => k + ":" + formatGoValue(obj[k])).join(" ") + "]";
  }
  return String(value);
}

/**
 * Go's `tasks.HumanReadableResults`: one value prints as `%v`; otherwise `[` + the values'
 * `%v` joined with `, ` + `]` (`[]` for none). Pass the result type names to print floats
 * exactly as Go does (without them, a whole number prints as an integer).
 */
export function humanReadable(values: readonly unknown[], types?: readonly string[]): string {
  if (values.length === 1) return formatGoValue(values[0], types?.[0]);
  const parts = values.map((v, i) => formatGoValue(v, types?.[i]));
  return "[" + parts.join(", ") + "]";
}

// ---------------------------------------------------------------------------------------------
// Inference

const TWO_63 = 2 ** 63;

function isInt64Number(v: number): boolean {
  return Number.isInteger(v) && v >= -TWO_63 && v < TWO_63;
}

/**
 * The Go type name for a JS value, for args and results given without one: an integer number →
 * `int64` (other numbers → `float64`), bigint → `int64` (`uint64` above 2^63-1), string →
 * `string`, boolean → `bool`, `Uint8Array` → `[]uint8`, a {@link JsonNumber} → `int64`/`uint64`
 * for an integer literal else `float64`. Arrays: string[] → `[]string`, boolean[] → `[]bool`,
 * whole numbers and bigints → `[]int64` (`[]uint64` when a bigint needs it), other number[] →
 * `[]float64`; an empty array → `[]int64` (Go accepts `[]` for any slice type). Anything else
 * (objects, null, undefined, mixed arrays) throws a TypeError.
 */
export function inferType(value: unknown): TypeName {
  switch (typeof value) {
    case "number":
      return isInt64Number(value) ? "int64" : "float64";
    case "bigint":
      return bigintType(value);
    case "string":
      return "string";
    case "boolean":
      return "bool";
  }
  if (value instanceof Uint8Array) return "[]uint8";
  if (value instanceof JsonNumber) {
    if (!/^-?[0-9]+$/.test(value.text)) return "float64";
    return bigintType(BigInt(value.text));
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]int64";
    if (value.every((x) => typeof x === "string")) return "[]string";
    if (value.every((x) => typeof x === "boolean")) return "[]bool";
    if (value.every((x) => typeof x === "number" || typeof x === "bigint")) {
      if (value.every((x) => typeof x === "bigint" || isInt64Number(x))) {
        if (!value.some((x) => typeof x === "bigint" && x > MAX_INT64)) return "[]int64";
        if (!value.some((x) => x < 0)) return "[]uint64";
      }
      if (value.every((x) => typeof x === "number")) return "[]float64";
    }
  }
  throw new TypeError(
    `Cannot infer a machinery type for ${describe(value)}: use a number, bigint, string, ` +
      "boolean, Uint8Array, or an array of numbers, bigints, strings or booleans",
  );
}

function bigintType(v: bigint): TypeName {
  if (v >= MIN_INT64 && v <= MAX_INT64) return "int64";
  if (v > 0n && v <= MAX_UINT64) return "uint64";
  throw new RangeError(`Value ${v} does not fit in int64 or uint64`);
}
