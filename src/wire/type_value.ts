/**
 * A typed argument written as text, `TYPE:VALUE`, the way a command line takes it: `int64:5`,
 * `float64:2.5`, `bool:true`, `string:hi`, and slices as a JSON array or a comma list
 * (`[]int64:[1,2]`, `[]int64:1,2`, `[]string:["a","b"]`). Also Go's `strconv.ParseBool`, the one
 * bool parser for text (the command line and the environment).
 *
 * @example
 * ```ts
 * import { parseTypeValue } from "@machinery/machinery/wire";
 *
 * console.log(parseTypeValue("[]int64:1,2").value); // [ 1, 2 ]
 * ```
 *
 * @module
 */

import { JsonNumber, parseJson } from "./json.ts";
import type { Arg } from "./signature.ts";
import {
  decodeValue,
  fitsIntType,
  INT_WIDTHS,
  isIntTypeName,
  isTypeName,
  TYPE_NAMES,
  TypeDecodeError,
} from "./types.ts";

/** A `TYPE:VALUE` text that names no machinery type or whose value does not fit it. */
export class TypeValueError extends Error {
  /** Creates the error; the message says what is wrong with the text. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TypeValueError";
  }
}

/**
 * Go's `strconv.ParseBool`: `1 t T TRUE true True` are true, `0 f F FALSE false False` false,
 * anything else (spaces included) undefined.
 */
export function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/**
 * Parses `TYPE:VALUE` into an argument with an empty name, its value decoded for TYPE as
 * {@link decodeValue} does (so `int64:1` gives the number 1, `[]uint8:1,2` a `Uint8Array`).
 * A slice's VALUE is a JSON array (or a base64 string for `[]uint8`/`[]byte`) or a comma list
 * of scalars; `[]T:` is the empty slice. Narrow integers out of range are refused, where Go
 * would wrap them silently: written by hand, such a value is a mistake.
 *
 * @throws {TypeValueError} when the text is not `TYPE:VALUE`, TYPE is not one of the 29 type
 * names, or VALUE does not fit TYPE.
 */
export function parseTypeValue(spec: string): Arg {
  const colon = spec.indexOf(":");
  if (colon <= 0) {
    throw new TypeValueError(
      "expected TYPE:VALUE, such as int64:1, string:hello or []int64:1,2",
    );
  }
  const type = spec.slice(0, colon);
  const text = spec.slice(colon + 1);
  if (!isTypeName(type)) {
    throw new TypeValueError(`"${type}" is not one of the types ${TYPE_NAMES.join(", ")}`);
  }
  try {
    return { name: "", type, value: decodeValue(type, wireValue(type, text)) };
  } catch (error) {
    // parseJson throws a SyntaxError; decodeValue a TypeDecodeError with Go's text.
    if (error instanceof SyntaxError || error instanceof TypeDecodeError) {
      throw new TypeValueError(error.message, { cause: error });
    }
    throw error;
  }
}

/** The text as the JSON value Go would have decoded for `type`. */
function wireValue(type: string, text: string): unknown {
  if (type.startsWith("[]")) {
    const trimmed = text.trim();
    if (trimmed.startsWith("[") || trimmed.startsWith('"')) return parseJson(trimmed);
    if (trimmed === "") return [];
    return text.split(",").map((item) => scalarValue(type.slice(2), item));
  }
  return scalarValue(type, text);
}

function scalarValue(type: string, text: string): unknown {
  if (type === "string") return text;
  const trimmed = text.trim();
  if (type === "bool") {
    const value = parseGoBool(trimmed);
    if (value === undefined) throw new TypeValueError(`"${text}" is not a bool (true or false)`);
    return value;
  }
  let value: unknown;
  try {
    value = parseJson(trimmed);
  } catch {
    throw new TypeValueError(`"${text}" is not a number`);
  }
  if (!(value instanceof JsonNumber)) throw new TypeValueError(`"${text}" is not a number`);
  // Go refuses a 64-bit integer out of range (decodeValue says so in strconv's words) but wraps
  // narrower ones.
  if (isIntTypeName(type) && INT_WIDTHS[type].bits < 64 && /^-?\d+$/.test(value.text)) {
    if (!fitsIntType(type, BigInt(value.text))) {
      throw new TypeValueError(`${value.text} is out of range for ${type}`);
    }
  }
  return value;
}
