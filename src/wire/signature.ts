/**
 * The task message: machinery's `tasks.Signature` and its JSON codec, byte for byte as Go's
 * `encoding/json` writes it (PascalCase keys in declaration order, every key present, `null` for
 * nil slices and pointers) and read as Go reads it (keys matched case-insensitively, unknown keys
 * ignored, typed fields strict, number literals kept exactly).
 *
 * @module
 */

import { JsonNumber, parseJson, quoteGo, stringifyGo } from "./json.ts";
import { formatGoTime, parseGoTime, parseGoTimeJson, TimeParseError } from "./go_time.ts";
import { parseGoInt64, parseGoUint64, toWireValue } from "./types.ts";

/** One positional argument: `{"Name":"","Type":"int64","Value":1}`. */
export interface Arg {
  /** Unused by machinery; always `""` in practice. */
  name: string;
  /** One of the 29 type names (see `TYPE_NAMES`); others are carried but fail at the worker. */
  type: string;
  /** A wire value (JsonNumber, base64 string, …) or a JS value to encode for `type`. */
  value: unknown;
}

/** A task invocation, field for field Go's `tasks.Signature` (`docs/wire.md#the-signature`). */
export interface Signature {
  /** Task id (`task_<uuid>`), also the key of its state. */
  uuid: string;
  /** Registered task name. */
  name: string;
  /** Queue / routing key; the broker fills it in when publishing. */
  routingKey: string;
  /** Earliest run time, RFC 3339 text exactly as on the wire, or null. */
  eta: string | null;
  /** `group_<uuid>` for group members. */
  groupUUID: string;
  /** The group's size, for group members. */
  groupTaskCount: number;
  /** Positional arguments; null when there are none. */
  args: Arg[] | null;
  /** Tracing carrier / AMQP headers (values are wire values); `{}` on sent messages. */
  headers: Record<string, unknown> | null;
  /** AMQP priority, 0..255. */
  priority: number;
  /** When true, results are not appended to the OnSuccess callbacks' args. */
  immutable: boolean;
  /** Retries left. */
  retryCount: number;
  /** The last retry delay in seconds (Fibonacci back-off). */
  retryTimeout: number;
  /** Sent when this task succeeds. */
  onSuccess: Signature[] | null;
  /** Sent when this task finally fails. */
  onError: Signature[] | null;
  /** The chord callback, carried by every chord member. */
  chordCallback: Signature | null;
  /** SQS FIFO MessageGroupId. */
  brokerMessageGroupId: string;
  /** SQS receipt handle. */
  sqsReceiptHandle: string;
  /** SQS: leave a finally failed message in the queue. */
  stopTaskDeletionOnError: boolean;
  /** A worker without the task drops the message instead of requeueing it. */
  ignoreWhenTaskNotRegistered: boolean;
}

/** A message that Go's decoder would reject; the message is Go's error text. */
export class SignatureDecodeError extends Error {
  /** Creates the error; `cause` keeps the underlying error, when there is one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SignatureDecodeError";
  }
}

/** A new task UUID: `task_` + a random UUIDv4. */
export function newTaskUUID(): string {
  return "task_" + crypto.randomUUID();
}

/** A new group UUID: `group_` + a random UUIDv4. */
export function newGroupUUID(): string {
  return "group_" + crypto.randomUUID();
}

/** A new chord callback UUID: `chord_` + a random UUIDv4. */
export function newChordUUID(): string {
  return "chord_" + crypto.randomUUID();
}

/** An argument with an empty name, as machinery senders write them. */
export function newArg(type: string, value: unknown): Arg {
  return { name: "", type, value };
}

/**
 * A signature with Go's zero values, a fresh task UUID and the given args (null when none),
 * then `fields` laid over it.
 */
export function newSignature(
  name: string,
  args?: Arg[] | null,
  fields?: Partial<Signature>,
): Signature {
  return { ...zeroSignature(), uuid: newTaskUUID(), name, args: args ?? null, ...fields };
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * The exact bytes Go writes for a signature: keys in declaration order, all present, `null` for
 * absent lists and pointers. Arg values already in wire form (as decoded) are written verbatim;
 * JS values are encoded for their type (`encodeValue`). Headers are a Go map, so their keys are
 * sorted. Throws for an ETA that is not RFC 3339, a non-integer count or a priority outside
 * 0..255, and for values Go cannot marshal (NaN).
 */
export function encodeSignature(sig: Signature): string {
  const eta = sig.eta ?? null;
  if (eta !== null) parseGoTime(eta); // reject what no Go consumer could read
  let out = '{"UUID":' + quoteGo(sig.uuid ?? "") +
    ',"Name":' + quoteGo(sig.name ?? "") +
    ',"RoutingKey":' + quoteGo(sig.routingKey ?? "") +
    ',"ETA":' + (eta === null ? "null" : quoteGo(eta)) +
    ',"GroupUUID":' + quoteGo(sig.groupUUID ?? "") +
    ',"GroupTaskCount":' + intText(sig.groupTaskCount, "GroupTaskCount") +
    ',"Args":';
  const args = sig.args ?? null;
  if (args === null) out += "null";
  else {
    out += "[";
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (i > 0) out += ",";
      out += '{"Name":' + quoteGo(a.name ?? "") + ',"Type":' + quoteGo(a.type ?? "") +
        ',"Value":' + stringifyGo(toWireValue(a.type, a.value), SORTED) + "}";
    }
    out += "]";
  }
  const priority = sig.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > 255) {
    throw new RangeError(`Priority ${priority} is not an integer in 0..255`);
  }
  out += ',"Headers":' + (sig.headers == null ? "null" : stringifyGo(sig.headers, SORTED)) +
    ',"Priority":' + priority +
    ',"Immutable":' + (sig.immutable === true) +
    ',"RetryCount":' + intText(sig.retryCount, "RetryCount") +
    ',"RetryTimeout":' + intText(sig.retryTimeout, "RetryTimeout") +
    ',"OnSuccess":' + sigList(sig.onSuccess) +
    ',"OnError":' + sigList(sig.onError) +
    ',"ChordCallback":' +
    (sig.chordCallback == null ? "null" : encodeSignature(sig.chordCallback)) +
    ',"BrokerMessageGroupId":' + quoteGo(sig.brokerMessageGroupId ?? "") +
    ',"SQSReceiptHandle":' + quoteGo(sig.sqsReceiptHandle ?? "") +
    ',"StopTaskDeletionOnError":' + (sig.stopTaskDeletionOnError === true) +
    ',"IgnoreWhenTaskNotRegistered":' + (sig.ignoreWhenTaskNotRegistered === true) + "}";
  return out;
}

const SORTED = { sortKeys: true } as const;

function sigList(list: Signature[] | null | undefined): string {
  if (list == null) return "null";
  let out = "[";
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += ",";
    out += encodeSignature(list[i]);
  }
  return out + "]";
}

function intText(n: number | undefined, field: string): string {
  const v = n ?? 0;
  if (!Number.isSafeInteger(v)) throw new RangeError(`${field} ${v} is not a safe integer`);
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// Go struct decoding helpers (shared with state.ts)

/** Collects the first type error, as Go's decoder does, while the rest of the input is read. */
export class GoDecodeState {
  /** The first `json: cannot unmarshal …` text seen, or null. */
  saved: string | null = null;

  /** Records a type error unless an earlier one is already kept. */
  save(message: string): void {
    if (this.saved === null) this.saved = message;
  }
}

/** The field names of a Go struct, matched as Go does: exact first, then case-insensitively. */
export class GoFields {
  readonly #exact: Set<string>;
  readonly #folded: Map<string, string>;

  /** Builds the lookup for the given Go field names. */
  constructor(names: readonly string[]) {
    this.#exact = new Set(names);
    this.#folded = new Map(names.map((n) => [n.toLowerCase(), n]));
  }

  /** The field a JSON key sets, or undefined for an unknown key (which Go ignores). */
  match(key: string): string | undefined {
    if (this.#exact.has(key)) return key;
    // Go's fold also maps the Kelvin sign to k (toLowerCase does) and the long s to s.
    return this.#folded.get(key.toLowerCase().replace(/\u017f/g, "s"));
  }
}

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

function numberText(v: unknown): string | null {
  if (v instanceof JsonNumber) return v.text;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  return null;
}

/**
 * Decodes a Go `int`/`int64`/`uint8` field (`base` + `field` is Go's error path). Returns undefined (leaving the zero value) after
 * recording a type error, or for null. Values beyond 2^53 are refused rather than rounded.
 */
export function decodeGoInt(
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

/** Decodes a Go `string` field (null leaves it unset). */
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

/** Decodes a Go `bool` field (null leaves it unset). */
export function decodeGoBool(
  v: unknown,
  struct: string,
  base: readonly string[],
  field: string,
  st: GoDecodeState,
): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (v !== null && v !== undefined) {
    st.save(unmarshalTypeText(jsonKind(v), struct, [...base, field], "bool"));
  }
  return undefined;
}

/**
 * Validates a Go `time.Time` value: a string that Go's UnmarshalJSON accepts, kept as its text.
 * null gives null. Anything else throws at once (Go aborts on an UnmarshalJSON error).
 */
export function decodeGoTime(v: unknown): string | null {
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
// Decoding

const SIGNATURE_FIELDS = new GoFields([
  "UUID",
  "Name",
  "RoutingKey",
  "ETA",
  "GroupUUID",
  "GroupTaskCount",
  "Args",
  "Headers",
  "Priority",
  "Immutable",
  "RetryCount",
  "RetryTimeout",
  "OnSuccess",
  "OnError",
  "ChordCallback",
  "BrokerMessageGroupId",
  "SQSReceiptHandle",
  "StopTaskDeletionOnError",
  "IgnoreWhenTaskNotRegistered",
]);

const ARG_FIELDS = new GoFields(["Name", "Type", "Value"]);

/**
 * Parses a message body as Go's `json.Decoder` with `UseNumber()` decodes it into a
 * `tasks.Signature`. Throws {@link SignatureDecodeError} with Go's text, e.g.
 * `json: cannot unmarshal number 300 into Go struct field Signature.Priority of type uint8`.
 * Arg values stay wire values ({@link JsonNumber}, base64 strings, …).
 */
export function decodeSignature(text: string): Signature {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (e) {
    throw new SignatureDecodeError((e as Error).message, { cause: e });
  }
  return decodeSignatureValue(value);
}

/** {@link decodeSignature} for a value already parsed with `parseJson`. */
export function decodeSignatureValue(obj: unknown): Signature {
  const st = new GoDecodeState();
  let sig: Signature;
  try {
    if (obj === null || obj === undefined) {
      sig = zeroSignature(); // Go leaves the struct at its zero value
    } else if (!isJsonObject(obj)) {
      throw new SignatureDecodeError(
        `json: cannot unmarshal ${jsonKind(obj)} into Go value of type tasks.Signature`,
      );
    } else {
      sig = decodeSig(obj, [], st);
    }
  } catch (e) {
    if (e instanceof TimeParseError) throw new SignatureDecodeError(e.message, { cause: e });
    throw e;
  }
  if (st.saved !== null) throw new SignatureDecodeError(st.saved);
  return sig;
}

/** Go's zero `Signature`: every string empty, every list and pointer null. */
function zeroSignature(): Signature {
  return {
    uuid: "",
    name: "",
    routingKey: "",
    eta: null,
    groupUUID: "",
    groupTaskCount: 0,
    args: null,
    headers: null,
    priority: 0,
    immutable: false,
    retryCount: 0,
    retryTimeout: 0,
    onSuccess: null,
    onError: null,
    chordCallback: null,
    brokerMessageGroupId: "",
    sqsReceiptHandle: "",
    stopTaskDeletionOnError: false,
    ignoreWhenTaskNotRegistered: false,
  };
}

function decodeSig(
  obj: Record<string, unknown>,
  base: readonly string[],
  st: GoDecodeState,
): Signature {
  const sig = zeroSignature();
  for (const key in obj) {
    const field = SIGNATURE_FIELDS.match(key);
    if (field === undefined) continue;
    const v = obj[key];
    switch (field) {
      case "UUID":
        sig.uuid = decodeGoString(v, "Signature", base, field, st) ?? sig.uuid;
        break;
      case "Name":
        sig.name = decodeGoString(v, "Signature", base, field, st) ?? sig.name;
        break;
      case "RoutingKey":
        sig.routingKey = decodeGoString(v, "Signature", base, field, st) ?? sig.routingKey;
        break;
      case "ETA":
        sig.eta = decodeGoTime(v);
        break;
      case "GroupUUID":
        sig.groupUUID = decodeGoString(v, "Signature", base, field, st) ?? sig.groupUUID;
        break;
      case "GroupTaskCount":
        sig.groupTaskCount = decodeGoInt(v, "int", "Signature", base, field, st) ??
          sig.groupTaskCount;
        break;
      case "Args":
        sig.args = decodeArgs(v, [...base, field], st);
        break;
      case "Headers":
        if (v === null) sig.headers = null;
        else if (isJsonObject(v)) sig.headers = v;
        else {st.save(
            unmarshalTypeText(jsonKind(v), "Signature", [...base, field], "tasks.Headers"),
          );}
        break;
      case "Priority":
        sig.priority = decodeGoInt(v, "uint8", "Signature", base, field, st) ?? sig.priority;
        break;
      case "Immutable":
        sig.immutable = decodeGoBool(v, "Signature", base, field, st) ?? sig.immutable;
        break;
      case "RetryCount":
        sig.retryCount = decodeGoInt(v, "int", "Signature", base, field, st) ?? sig.retryCount;
        break;
      case "RetryTimeout":
        sig.retryTimeout = decodeGoInt(v, "int", "Signature", base, field, st) ?? sig.retryTimeout;
        break;
      case "OnSuccess":
        sig.onSuccess = decodeSigList(v, [...base, field], st);
        break;
      case "OnError":
        sig.onError = decodeSigList(v, [...base, field], st);
        break;
      case "ChordCallback":
        if (v === null) sig.chordCallback = null;
        else if (isJsonObject(v)) sig.chordCallback = decodeSig(v, [...base, field], st);
        else {
          st.save(unmarshalTypeText(jsonKind(v), "Signature", [...base, field], "tasks.Signature"));
        }
        break;
      case "BrokerMessageGroupId":
        sig.brokerMessageGroupId = decodeGoString(v, "Signature", base, field, st) ??
          sig.brokerMessageGroupId;
        break;
      case "SQSReceiptHandle":
        sig.sqsReceiptHandle = decodeGoString(v, "Signature", base, field, st) ??
          sig.sqsReceiptHandle;
        break;
      case "StopTaskDeletionOnError":
        sig.stopTaskDeletionOnError = decodeGoBool(v, "Signature", base, field, st) ??
          sig.stopTaskDeletionOnError;
        break;
      case "IgnoreWhenTaskNotRegistered":
        sig.ignoreWhenTaskNotRegistered = decodeGoBool(v, "Signature", base, field, st) ??
          sig.ignoreWhenTaskNotRegistered;
        break;
    }
  }
  return sig;
}

function decodeArgs(v: unknown, path: string[], st: GoDecodeState): Arg[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) {
    st.save(unmarshalTypeText(jsonKind(v), "Signature", path, "[]tasks.Arg"));
    return null;
  }
  const args: Arg[] = [];
  for (const item of v) {
    const arg: Arg = { name: "", type: "", value: null };
    if (isJsonObject(item)) {
      for (const key in item) {
        const field = ARG_FIELDS.match(key);
        if (field === undefined) continue;
        const x = item[key];
        if (field === "Value") arg.value = x;
        else if (field === "Name") {
          arg.name = decodeGoString(x, "Arg", path, field, st) ?? arg.name;
        } else arg.type = decodeGoString(x, "Arg", path, field, st) ?? arg.type;
      }
    } else if (item !== null) {
      st.save(unmarshalTypeText(jsonKind(item), "Signature", path, "tasks.Arg"));
    }
    args.push(arg); // a null element is a zero Arg in Go
  }
  return args;
}

// A null element would be a nil *Signature in Go (which crashes its worker); it is dropped here.
function decodeSigList(v: unknown, path: string[], st: GoDecodeState): Signature[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) {
    st.save(unmarshalTypeText(jsonKind(v), "Signature", path, "[]*tasks.Signature"));
    return null;
  }
  const list: Signature[] = [];
  for (const item of v) {
    if (isJsonObject(item)) list.push(decodeSig(item, path, st));
    else if (item !== null) {
      st.save(unmarshalTypeText(jsonKind(item), "Signature", path, "tasks.Signature"));
    }
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A deep copy of a signature (nested callbacks, args and headers included; the ETA is kept). */
export function copySignature(sig: Signature): Signature {
  return {
    ...sig,
    args: sig.args == null ? null : sig.args.map((a) => ({ ...a, value: copyValue(a.value) })),
    headers: sig.headers == null ? null : copyValue(sig.headers) as Record<string, unknown>,
    onSuccess: sig.onSuccess == null ? null : sig.onSuccess.map(copySignature),
    onError: sig.onError == null ? null : sig.onError.map(copySignature),
    chordCallback: sig.chordCallback == null ? null : copySignature(sig.chordCallback),
  };
}

function copyValue(v: unknown): unknown {
  if (typeof v !== "object" || v === null || v instanceof JsonNumber) return v;
  if (Array.isArray(v)) return v.map(copyValue);
  if (v instanceof Uint8Array) return v.slice();
  if (v instanceof Date) return new Date(v.getTime());
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    Object.defineProperty(out, k, {
      value: copyValue((v as Record<string, unknown>)[k]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** The ETA text for a `Date` (Go's RFC3339Nano in UTC). */
export function etaFromDate(date: Date): string {
  return formatGoTime(date);
}

/** The signature's ETA in Unix nanoseconds (the Redis delayed-set score), or null. */
export function etaUnixNanos(sig: Signature): bigint | null {
  return sig.eta == null ? null : parseGoTime(sig.eta).unixNanos;
}
