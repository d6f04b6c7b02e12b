/**
 * The `./wire` entry: Go machinery's byte contract. Encoders and decoders for the Signature,
 * TaskState and GroupMeta JSON, machinery's 29 argument types, Go's time format and the lossless
 * JSON they rest on. An application rarely needs it; tools that read or write machinery's
 * messages directly do (see `docs/wire.md`).
 *
 * @example
 * ```ts
 * import { decodeSignature, encodeSignature } from "@machinery/machinery/wire";
 *
 * const body = '{"UUID":"task_1","Name":"add","Args":[{"Name":"","Type":"int64","Value":1}]}';
 * const sig = decodeSignature(body);
 * console.log(sig.name, sig.args?.[0].type); // add int64
 * console.log(encodeSignature(sig).startsWith('{"UUID":"task_1","Name":"add"')); // true
 * ```
 *
 * @module
 */
export {
  decodeSignature,
  encodeSignature,
  etaUnixNanos,
  SignatureDecodeError,
} from "./signature.ts";
export {
  decodeGroupMeta,
  decodeTaskState,
  encodeGroupMeta,
  encodeTaskState,
  StateDecodeError,
} from "./state.ts";
export {
  decodeValue,
  encodeValue,
  humanReadable,
  inferType,
  TYPE_NAMES,
  TypeDecodeError,
} from "./types.ts";
export { parseTypeValue, TypeValueError } from "./type_value.ts";
export {
  JsonNumber,
  parseJson,
  type ParseJsonOptions,
  stringifyGo,
  type StringifyGoOptions,
  UnsupportedTypeError,
  UnsupportedValueError,
} from "./json.ts";
export { formatGoTime, type GoTime, parseGoTime, TimeParseError, ZERO_TIME } from "./go_time.ts";
