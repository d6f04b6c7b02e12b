/**
 * The task message: machinery's `tasks.Signature` and its JSON codec, byte for byte as Go's
 * `encoding/json` writes it (PascalCase keys in declaration order, every key present, `null` for
 * nil slices and pointers) and read as Go reads it (keys matched case-insensitively, unknown keys
 * ignored, typed fields strict, number literals kept exactly).
 *
 * @module
 */

import { JsonNumber, parseJson, quoteGo, stringifyGo } from "./json.ts";
import { formatGoTime, parseGoTime, TimeParseError } from "./go_time.ts";
import { toWireValue } from "./types.ts";
import {
  decodeGoSlice,
  decodeGoString,
  encodeGoSlice,
  goBool,
  GoDecodeState,
  goInt,
  type GoKind,
  goString,
  type GoStruct,
  goStruct,
  goTimePointer,
  goUint8,
  isJsonObject,
  jsonKind,
  unmarshalTypeText,
} from "./_go_struct.ts";

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
  return { ...SIGNATURE_STRUCT.zero(), uuid: newTaskUUID(), name, args: args ?? null, ...fields };
}

// ---------------------------------------------------------------------------------------------
// The struct

const SORTED = { sortKeys: true } as const;

/** One `tasks.Arg`: `{"Name":…,"Type":…,"Value":…}`, the value encoded for its type. */
function encodeArg(a: Arg): string {
  return '{"Name":' + quoteGo(a.name ?? "") + ',"Type":' + quoteGo(a.type ?? "") + ',"Value":' +
    stringifyGo(toWireValue(a.type, a.value), SORTED) + "}";
}

/** Go's `[]tasks.Arg`. */
const goArgs: GoKind<Arg[] | null> = {
  zero: null,
  encode: (args) => encodeGoSlice(args, encodeArg),
  decode(v, _current, struct, base, field, st) {
    return decodeGoSlice(v, "[]tasks.Arg", struct, base, field, st, (item, path) => {
      const arg: Arg = { name: "", type: "", value: null }; // a null element is a zero Arg
      if (isJsonObject(item)) {
        for (const key in item) {
          const name = ARG_FIELDS.get(key) ?? ARG_FIELDS.get(key.toLowerCase());
          if (name === undefined) continue;
          const x = item[key];
          if (name === "Value") arg.value = x;
          else if (name === "Name") arg.name = decodeGoString(x, "Arg", path, name, st) ?? arg.name;
          else arg.type = decodeGoString(x, "Arg", path, name, st) ?? arg.type;
        }
      } else if (item !== null) {
        st.save(unmarshalTypeText(jsonKind(item), struct, path, "tasks.Arg"));
      }
      return arg;
    }) ?? null;
  },
  copy: (args) => args.map((a) => ({ ...a, value: copyValue(a.value) })),
};

/** `tasks.Arg`'s fields by exact and by lower-case name (none of them folds further). */
const ARG_FIELDS = new Map(
  ["Name", "Type", "Value"].flatMap((n) => [[n, n], [n.toLowerCase(), n]] as const),
);

/** Go's `tasks.Headers` (a `map[string]interface{}`: keys sorted on the wire). */
const goHeaders: GoKind<Record<string, unknown> | null> = {
  zero: null,
  encode: (headers) => headers == null ? "null" : stringifyGo(headers, SORTED),
  decode(v, current, struct, base, field, st) {
    if (v === null) return null;
    if (isJsonObject(v)) return v;
    st.save(unmarshalTypeText(jsonKind(v), struct, [...base, field], "tasks.Headers"));
    return current;
  },
  copy: (headers) => copyValue(headers) as Record<string, unknown>,
};

/** Go's `[]*Signature`. A null element (a nil pointer, which crashes a Go worker) is dropped. */
const goSignatures: GoKind<Signature[] | null> = {
  zero: null,
  encode: (list) => encodeGoSlice(list, SIGNATURE_STRUCT.encode),
  decode(v, _current, struct, base, field, st) {
    return decodeGoSlice(v, "[]*tasks.Signature", struct, base, field, st, (item, path) => {
      if (isJsonObject(item)) return SIGNATURE_STRUCT.decode(item, path, st);
      if (item !== null) {
        st.save(unmarshalTypeText(jsonKind(item), struct, path, "tasks.Signature"));
      }
      return undefined;
    }) ?? null;
  },
  copy: (list) => list.map((s) => SIGNATURE_STRUCT.copy(s)),
};

/** Go's `*Signature`. */
const goSignaturePointer: GoKind<Signature | null> = {
  zero: null,
  encode: (sig) => sig == null ? "null" : SIGNATURE_STRUCT.encode(sig),
  decode(v, current, struct, base, field, st) {
    if (v === null) return null;
    if (isJsonObject(v)) return SIGNATURE_STRUCT.decode(v, [...base, field], st);
    st.save(unmarshalTypeText(jsonKind(v), struct, [...base, field], "tasks.Signature"));
    return current;
  },
  copy: (sig) => SIGNATURE_STRUCT.copy(sig),
};

/**
 * Go's `tasks.Signature`, field by field in declaration order: the one list that the zero value,
 * the encoder, the decoder and the copy are built from (see `docs/wire.md`).
 */
export const SIGNATURE_STRUCT: GoStruct<Signature> = goStruct<Signature>("Signature", {
  uuid: ["UUID", goString],
  name: ["Name", goString],
  routingKey: ["RoutingKey", goString],
  eta: ["ETA", goTimePointer],
  groupUUID: ["GroupUUID", goString],
  groupTaskCount: ["GroupTaskCount", goInt],
  args: ["Args", goArgs],
  headers: ["Headers", goHeaders],
  priority: ["Priority", goUint8],
  immutable: ["Immutable", goBool],
  retryCount: ["RetryCount", goInt],
  retryTimeout: ["RetryTimeout", goInt],
  onSuccess: ["OnSuccess", goSignatures],
  onError: ["OnError", goSignatures],
  chordCallback: ["ChordCallback", goSignaturePointer],
  brokerMessageGroupId: ["BrokerMessageGroupId", goString],
  sqsReceiptHandle: ["SQSReceiptHandle", goString],
  stopTaskDeletionOnError: ["StopTaskDeletionOnError", goBool],
  ignoreWhenTaskNotRegistered: ["IgnoreWhenTaskNotRegistered", goBool],
});

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
  return SIGNATURE_STRUCT.encode(sig);
}

// ---------------------------------------------------------------------------------------------
// Decoding

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

const NO_PATH: readonly string[] = [];

/** {@link decodeSignature} for a value already parsed with `parseJson`. */
export function decodeSignatureValue(obj: unknown): Signature {
  const st = new GoDecodeState();
  let sig: Signature;
  try {
    if (obj === null || obj === undefined) {
      sig = SIGNATURE_STRUCT.zero(); // Go leaves the struct at its zero value
    } else if (!isJsonObject(obj)) {
      throw new SignatureDecodeError(
        `json: cannot unmarshal ${jsonKind(obj)} into Go value of type tasks.Signature`,
      );
    } else {
      sig = SIGNATURE_STRUCT.decode(obj, NO_PATH, st);
    }
  } catch (e) {
    if (e instanceof TimeParseError) throw new SignatureDecodeError(e.message, { cause: e });
    throw e;
  }
  if (st.saved !== null) throw new SignatureDecodeError(st.saved);
  return sig;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A deep copy of a signature (nested callbacks, args and headers included; the ETA is kept). */
export function copySignature(sig: Signature): Signature {
  return SIGNATURE_STRUCT.copy(sig);
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
