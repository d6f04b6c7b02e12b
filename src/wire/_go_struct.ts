/**
 * A Go struct as `encoding/json` sees it, described once as a table (field names in declaration
 * order, each with its kind), from which the zero value, the encoder, the decoder and a deep copy
 * are built at module load. The tables themselves are in `signature.ts` and `state.ts`; the
 * bytes and error texts they give are described in `docs/wire.md`.
 *
 * Encoding is Go's: keys in declaration order, every key present. Decoding is Go's: keys matched
 * exactly, then case-insensitively, unknown keys ignored, the first type error kept while the
 * rest is read, a bad time aborting at once.
 *
 * @module
 */

import { JsonNumber, quoteGo, stringifyGo } from "./json.ts";
import { parseGoTime, parseGoTimeJson, ZERO_TIME } from "./go_time.ts";
import { parseGoInt64, parseGoUint64 } from "./types.ts";

/** Collects the first type error, as Go's decoder does, while the rest of the input is read. */
export class GoDecodeState {
  /** The first `json: cannot unmarshal …` text seen, or null. */
  saved: string | null = null;

  /** Records a type error unless an earlier one is already kept. */
  save(message: string): void {
    if (this.saved === null) this.saved = message;
  }
}

/**
 * How one Go field type is written and read. `V` is the TypeScript type of the field. Zero values
 * are immutable (primitives or null), so one zero object can be copied for every decode.
 */
export interface GoKind<V> {
  /** Go's zero value of the type. */
  readonly zero: V;
  /** The JSON Go writes for `value` (undefined stands for the zero value); `field` names errors. */
  encode(value: V | undefined, field: string): string;
  /**
   * The field after reading the JSON value `v` into it (`current` is its value so far: Go leaves
   * a field unchanged for null). Type errors are saved in `st` as Go's text for
   * `struct`.`base`.`field`; a time Go cannot parse throws.
   */
  decode(
    v: unknown,
    current: V,
    struct: string,
    base: readonly string[],
    field: string,
    st: GoDecodeState,
  ): V;
  /** A deep copy of a non-null value, for kinds that hold objects. */
  copy?(value: NonNullable<V>): V;
}

/**
 * One field of a struct table: its Go name, its kind and, where Go declares one, its `bson` struct
 * tag as Go writes it (`ttl,omitempty`; only the MongoDB backend reads it).
 */
export type GoField<V> = readonly [goName: string, kind: GoKind<V>, bsonTag?: string];

/**
 * A struct table: every property of `T`, in Go's declaration order, with its Go name and kind.
 * The mapped type makes the compiler refuse a table that misses a property or has a kind of the
 * wrong type.
 */
export type GoTable<T> = { readonly [K in keyof T]-?: GoField<T[K]> };

/** A struct's encoder and decoder, in one of the two forms {@link goStruct} builds. */
export interface GoCodec<T> {
  /** A fresh zero value. */
  zero(): T;
  /** The exact bytes Go writes for `value`. */
  encode(value: T): string;
  /** Reads a JSON object into a fresh zero value, as Go does (errors saved in `st`). */
  decode(obj: Record<string, unknown>, base: readonly string[], st: GoDecodeState): T;
}

/** One field of a built struct: the property, the Go name and the kind. */
export interface GoStructField<T> {
  /** The TypeScript property. */
  readonly prop: keyof T & string;
  /** The Go field name, which is also the JSON key. */
  readonly goName: string;
  /** How the field is written and read. */
  readonly kind: GoKind<unknown>;
  /** The field's `bson` struct tag (`task_name`, `ttl,omitempty`), where Go declares one. */
  readonly bsonTag?: string;
}

/** A Go struct's JSON codec, built from its table. */
export interface GoStruct<T> extends GoCodec<T> {
  /** Go's struct name, as decode errors print it (`Signature`). */
  readonly name: string;
  /** The fields in declaration order. */
  readonly fields: readonly GoStructField<T>[];
  /** Whether `zero`, `encode` and `decode` are the compiled form (else the interpreted one). */
  readonly compiled: boolean;
  /** The interpreted form: a loop over the table, the same results as the compiled one. */
  readonly interpreted: GoCodec<T>;
  /** A deep copy (properties outside the table are copied shallowly). */
  copy(value: T): T;
}

/**
 * Builds the codec of the Go struct `name` from its table.
 *
 * The codec runs for every task a worker takes and every state it writes. A loop over the table
 * was 10-25% slower than hand-written code at decoding a Signature and 35-50% at encoding one
 * (`deno task bench:wire`): each field a megamorphic keyed property access and an indirect call.
 * So the table is compiled, once, into the functions one would write by hand: named property
 * accesses, the key texts as literals, one call site per field.
 * The generated text holds only this module's constants (names, key texts, zero values), never
 * input. Where code generation from strings is refused (a Content Security Policy without
 * `unsafe-eval`) the interpreted loop is used instead; it gives the same results.
 */
export function goStruct<T>(name: string, table: GoTable<T>): GoStruct<T> {
  const fields: GoStructField<T>[] = (Object.keys(table) as (keyof T & string)[]).map((prop) => {
    const [goName, kind, bsonTag] = table[prop] as GoField<unknown>;
    return { prop, goName, kind, bsonTag };
  });
  const interpreted = interpret(name, fields);
  let codec = interpreted;
  let compiled = false;
  try {
    codec = compile(name, fields);
    compiled = true;
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
  }
  const deep = fields.filter((f) => f.kind.copy !== undefined);
  const copy = (value: T): T => {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const f of deep) {
      const v = out[f.prop];
      out[f.prop] = v == null ? null : f.kind.copy!(v);
    }
    return out as T;
  };
  return {
    name,
    fields,
    compiled,
    interpreted,
    zero: codec.zero,
    encode: codec.encode,
    decode: codec.decode,
    copy,
  };
}

/** The JSON key text before each field: `{"UUID":`, then `,"Name":` and so on. */
function keyText(i: number, goName: string): string {
  return (i === 0 ? "{" : ",") + quoteGo(goName) + ":";
}

/** The field index for a JSON key: the exact name, else Go's case folding; -1 for none. */
function fieldIndex<T>(fields: readonly GoStructField<T>[]): (key: string) => number {
  const exact = new Map(fields.map((f, i) => [f.goName, i]));
  const folded = new Map(fields.map((f, i) => [f.goName.toLowerCase(), i]));
  return (key) =>
    exact.get(key) ??
      // Go's fold also maps the Kelvin sign to k (toLowerCase does) and the long s to s.
      folded.get(key.toLowerCase().replace(/\u017f/g, "s")) ?? -1;
}

function interpret<T>(name: string, fields: readonly GoStructField<T>[]): GoCodec<T> {
  const zeroObject: Record<string, unknown> = {};
  for (const f of fields) zeroObject[f.prop] = f.kind.zero;
  const keys = fields.map((f, i) => keyText(i, f.goName));
  const index = fieldIndex(fields);
  return {
    zero: () => ({ ...zeroObject }) as T,
    encode(value) {
      const v = value as Record<string, unknown>;
      let out = "";
      for (let i = 0; i < fields.length; i++) {
        out += keys[i] + fields[i].kind.encode(v[fields[i].prop], fields[i].goName);
      }
      return out + "}";
    },
    decode(obj, base, st) {
      const out = { ...zeroObject };
      for (const key in obj) {
        const i = index(key);
        if (i < 0) continue;
        const f = fields[i];
        out[f.prop] = f.kind.decode(obj[key], out[f.prop], name, base, f.goName, st);
      }
      return out as T;
    },
  };
}

function compile<T>(name: string, fields: readonly GoStructField<T>[]): GoCodec<T> {
  const lit = JSON.stringify;
  // `v["uuid"]`: a constant key, which engines treat as a named property access.
  const at = (obj: string, f: GoStructField<T>) => obj + "[" + lit(f.prop) + "]";
  const zero = "({" +
    fields.map((f) => {
      const z = f.kind.zero;
      if (z !== null && typeof z !== "string" && typeof z !== "number" && typeof z !== "boolean") {
        throw new TypeError(`The zero value of ${name}.${f.goName} is not a primitive`);
      }
      return lit(f.prop) + ":" + lit(z);
    }).join(",") + "})";
  // Strings and bools, most of the fields, are written and read inline. The other kinds are
  // called, each field's function from its own call site (e3, d3), so every call is monomorphic.
  const write = (f: GoStructField<T>, i: number) =>
    f.kind === goString
      ? "q(" + at("v", f) + '??"")'
      : f.kind === goBool
      ? "(" + at("v", f) + '===true?"true":"false")'
      : "e" + i + "(" + at("v", f) + "," + lit(f.goName) + ")";
  const read = (f: GoStructField<T>, i: number) => {
    const call = "d" + i + "(x," + at("o", f) + "," + lit(name) + ",base," + lit(f.goName) + ",st)";
    if (f.kind === goString) return 'typeof x==="string"?x:' + call;
    if (f.kind === goBool) return 'typeof x==="boolean"?x:' + call;
    return call;
  };
  const source = '"use strict";return{zero:()=>' + zero +
    ",encode(v){return " +
    fields.map((f, i) => lit(keyText(i, f.goName)) + "+" + write(f, i)).join("+") + '+"}"},' +
    "decode(b,base,st){const o=" + zero +
    ";for(const k in b){const i=index(k);if(i<0)continue;const x=b[k];switch(i){" +
    fields.map((f, i) => "case " + i + ":" + at("o", f) + "=" + read(f, i) + ";break;").join("") +
    "}}return o}};";
  const build = new Function(
    "q",
    "index",
    ...fields.map((_, i) => "e" + i),
    ...fields.map((_, i) => "d" + i),
    source,
  );
  return build(
    quoteGo,
    fieldIndex(fields),
    ...fields.map((f) => f.kind.encode),
    ...fields.map((f) => f.kind.decode),
  ) as GoCodec<T>;
}

// ---------------------------------------------------------------------------------------------
// Error texts and helpers

/** How Go names a JSON value in `cannot unmarshal <kind>` texts. */
export function jsonKind(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (v instanceof JsonNumber || typeof v === "number" || typeof v === "bigint") return "number";
  if (Array.isArray(v)) return "array";
  return "object";
}

/** Go's `UnmarshalTypeError` text for a struct field. */
export function unmarshalTypeText(
  kind: string,
  struct: string,
  path: readonly string[],
  goType: string,
): string {
  return `json: cannot unmarshal ${kind} into Go struct field ${struct}.${
    path.join(".")
  } of type ${goType}`;
}

/** Whether a decoded value is a JSON object (not null, not an array, not a number). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof JsonNumber);
}

/** Decodes a Go `string` (null leaves it unset: undefined). */
export function decodeGoString(
  v: unknown,
  struct: string,
  base: readonly string[],
  field: string,
  st: GoDecodeState,
): string | undefined {
  if (typeof v === "string") return v;
  if (v !== null && v !== undefined) {
    st.save(unmarshalTypeText(jsonKind(v), struct, [...base, field], "string"));
  }
  return undefined;
}

function numberText(v: unknown): string | null {
  if (v instanceof JsonNumber) return v.text;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  return null;
}

/**
 * Decodes a Go `int`/`int64`/`uint8` (`base` + `field` is Go's error path). Returns undefined
 * (leaving the zero value) after recording a type error, or for null. Values beyond 2^53 are
 * refused rather than rounded.
 */
function decodeGoInt(
  v: unknown,
  goType: "int" | "int64" | "uint8",
  struct: string,
  base: readonly string[],
  field: string,
  st: GoDecodeState,
): number | undefined {
  if (v === null || v === undefined) return undefined;
  const text = numberText(v);
  if (text === null) {
    st.save(unmarshalTypeText(jsonKind(v), struct, [...base, field], goType));
    return undefined;
  }
  // Fast path for the usual small literal (plain digits, at most 15 of them, so exact as a
  // number): the same value the bigint path below gives, without making bigints.
  const small = smallIntText(text, goType !== "uint8");
  if (small !== undefined && (goType !== "uint8" || small <= 255)) return small;
  let n: bigint;
  try {
    n = goType === "uint8" ? parseGoUint64(text) : parseGoInt64(text);
  } catch {
    st.save(unmarshalTypeText("number " + text, struct, [...base, field], goType));
    return undefined;
  }
  const max = goType === "uint8" ? 255n : 9007199254740991n;
  if (n > max || n < -9007199254740991n) {
    st.save(unmarshalTypeText("number " + text, struct, [...base, field], goType));
    return undefined;
  }
  return Number(n);
}

/**
 * The value of `text` when it is an optional `-` (if `signed`) then 1 to 15 ASCII digits, which
 * Go's ParseInt and ParseUint read as that exact integer; otherwise undefined. `-0` gives 0.
 */
function smallIntText(text: string, signed: boolean): number | undefined {
  const n = text.length;
  let i = 0;
  if (signed && n > 1 && text.charCodeAt(0) === 0x2d) i = 1;
  if (n - i < 1 || n - i > 15) return undefined;
  for (let j = i; j < n; j++) {
    const c = text.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return Number(text) + 0;
}

/**
 * Validates a Go `time.Time` value: a string that Go's UnmarshalJSON accepts, kept as its text.
 * null gives null. Anything else throws at once (Go aborts on an UnmarshalJSON error).
 */
function decodeGoTime(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") {
    parseGoTime(v);
    return v;
  }
  // Go hands the raw JSON of a non-string to time.Parse, which fails on it.
  parseGoTimeJson(stringifyGo(v));
  return null;
}

// ---------------------------------------------------------------------------------------------
// The scalar kinds

/** Go's `string`. */
export const goString: GoKind<string> = {
  zero: "",
  encode: (value) => quoteGo(value ?? ""),
  decode: (v, current, struct, base, field, st) =>
    decodeGoString(v, struct, base, field, st) ?? current,
};

/** Go's `bool`. */
export const goBool: GoKind<boolean> = {
  zero: false,
  encode: (value) => value === true ? "true" : "false",
  decode(v, current, struct, base, field, st) {
    if (typeof v === "boolean") return v;
    if (v !== null && v !== undefined) {
      st.save(unmarshalTypeText(jsonKind(v), struct, [...base, field], "bool"));
    }
    return current;
  },
};

function intKind(goType: "int" | "int64"): GoKind<number> {
  return {
    zero: 0,
    encode(value, field) {
      const v = value ?? 0;
      if (!Number.isSafeInteger(v)) throw new RangeError(`${field} ${v} is not a safe integer`);
      return String(v);
    },
    decode: (v, current, struct, base, field, st) =>
      decodeGoInt(v, goType, struct, base, field, st) ?? current,
  };
}

/** Go's `int` (64 bits on machinery's platforms; refused beyond 2^53). */
export const goInt: GoKind<number> = intKind("int");

/** Go's `int64` (refused beyond 2^53). */
export const goInt64: GoKind<number> = intKind("int64");

/** Go's `uint8`. */
export const goUint8: GoKind<number> = {
  zero: 0,
  encode(value, field) {
    const v = value ?? 0;
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new RangeError(`${field} ${v} is not an integer in 0..255`);
    }
    return String(v);
  },
  decode: (v, current, struct, base, field, st) =>
    decodeGoInt(v, "uint8", struct, base, field, st) ?? current,
};

/** Go's `time.Time`, kept as its text: the zero time when unset; null leaves it unchanged. */
export const goTime: GoKind<string> = {
  zero: ZERO_TIME,
  encode(value) {
    if (!value) return quoteGo(ZERO_TIME);
    parseGoTime(value); // Go can only have written a valid time
    return quoteGo(value);
  },
  decode: (v, current) => decodeGoTime(v) ?? current,
};

/** Go's `*time.Time`, kept as its text: null when unset. */
export const goTimePointer: GoKind<string | null> = {
  zero: null,
  encode(value) {
    if (value == null) return "null";
    parseGoTime(value); // reject what no Go consumer could read
    return quoteGo(value);
  },
  decode: (v) => decodeGoTime(v),
};

/** The JSON of a Go slice: `null` for nil, else each element written by `element`. */
export function encodeGoSlice<E>(
  list: readonly E[] | null | undefined,
  element: (e: E) => string,
): string {
  if (list == null) return "null";
  let out = "[";
  for (let i = 0; i < list.length; i++) out += (i > 0 ? "," : "") + element(list[i]);
  return out + "]";
}

/**
 * Reads a Go slice of type `goType` (`[]string`): null gives null, a non-array saves Go's error
 * and gives undefined (the caller decides what the field keeps), and each element is read by
 * `element` with the slice's error path (undefined drops the element).
 */
export function decodeGoSlice<E>(
  v: unknown,
  goType: string,
  struct: string,
  base: readonly string[],
  field: string,
  st: GoDecodeState,
  element: (item: unknown, path: readonly string[]) => E | undefined,
): E[] | null | undefined {
  if (v === null || v === undefined) return null;
  const path = [...base, field];
  if (!Array.isArray(v)) {
    st.save(unmarshalTypeText(jsonKind(v), struct, path, goType));
    return undefined;
  }
  const out: E[] = [];
  for (const item of v) {
    const e = element(item, path);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/** Go's `[]string`. */
export const goStrings: GoKind<string[] | null> = {
  zero: null,
  encode: (value) => encodeGoSlice(value, quoteGo),
  decode(v, current, struct, base, field, st) {
    const list = decodeGoSlice(
      v,
      "[]string",
      struct,
      base,
      field,
      st,
      (x) => decodeGoString(x, struct, base, field, st) ?? "",
    );
    return list === undefined ? current : list;
  },
  copy: (value) => value.slice(),
};
