/**
 * Lossless JSON for the machinery wire format.
 *
 * Go decodes message bodies with `UseNumber()`, so number literals survive a round trip byte for
 * byte (int64/uint64 beyond 2^53 included). {@link parseJson} keeps every number as a
 * {@link JsonNumber} holding its literal text, and {@link stringifyGo} writes values the way Go's
 * `encoding/json` does: no whitespace, Go's string escapes, `[]byte` as base64.
 *
 * @module
 */

import { formatGoTime } from "./go_time.ts";

/** A JSON number literal kept as its exact text (Go's `json.Number`). */
export class JsonNumber {
  /** Wraps a number literal; the text is trusted to be a valid JSON number. */
  constructor(readonly text: string) {}

  /** The literal as a JS number (may round beyond 2^53). */
  toNumber(): number {
    return Number(this.text);
  }

  /** The literal as a bigint; throws a RangeError when the literal is not an integer. */
  toBigInt(): bigint {
    if (!INTEGER_RE.test(this.text)) {
      throw new RangeError(`Number "${this.text}" is not an integer literal`);
    }
    return BigInt(this.text);
  }

  /** The exact literal text. */
  toString(): string {
    return this.text;
  }
}

const INTEGER_RE = /^-?(?:0|[1-9][0-9]*)$/;

/** Options for {@link parseJson}. */
export interface ParseJsonOptions {
  /** Maximum nesting of arrays and objects (default 1000). */
  maxDepth?: number;
}

/** Options for {@link stringifyGo}. */
export interface StringifyGoOptions {
  /**
   * Write object keys sorted, as Go does for maps (`map[string]interface{}`). Leave it off for
   * objects that stand for Go structs, whose keys the caller has put in declaration order.
   */
  sortKeys?: boolean;
}

/** Go's `*json.UnsupportedValueError`: NaN, ±Inf and cycles cannot be written. */
export class UnsupportedValueError extends Error {
  /** Creates the error with Go's message text. */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedValueError";
  }
}

/**
 * Go's `*json.UnsupportedTypeError`: a value of a kind JSON has no form for (a function, a
 * symbol). It extends {@linkcode UnsupportedValueError}, which this module threw for it before.
 */
export class UnsupportedTypeError extends UnsupportedValueError {
  /** Creates the error with Go's message text. */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedTypeError";
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

const DEFAULT_MAX_DEPTH = 1000;

/** Object keys seen before, by length (up to 40 characters, 8 per length): see `parseKey`. */
const KEY_CACHE: string[][] = Array.from({ length: 41 }, () => []);
const KEYS_PER_LENGTH = 8;

/**
 * Parses JSON text like `JSON.parse`, but every number becomes a {@link JsonNumber}.
 *
 * Objects are plain objects whose keys (even `"__proto__"`) are own data properties; a repeated
 * key keeps the last value, as in Go. Errors are `SyntaxError`s worded like Go's
 * (`invalid character 'x' looking for beginning of value`, `unexpected end of JSON input`).
 */
export function parseJson(text: string, options?: ParseJsonOptions): unknown {
  const parser = new Parser(text, options?.maxDepth ?? DEFAULT_MAX_DEPTH);
  return parser.parseDocument();
}

class Parser {
  pos = 0;
  depth = 0;
  constructor(readonly text: string, readonly maxDepth: number) {}

  parseDocument(): unknown {
    this.skipWs();
    const value = this.parseValue();
    this.skipWs();
    if (this.pos < this.text.length) {
      throw this.invalid("after top-level value");
    }
    return value;
  }

  skipWs(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  parseValue(): unknown {
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    switch (c) {
      case 0x22: // "
        return this.parseString();
      case 0x7b: // {
        return this.parseObject();
      case 0x5b: // [
        return this.parseArray();
      case 0x74: // t
        this.literal("true");
        return true;
      case 0x66: // f
        this.literal("false");
        return false;
      case 0x6e: // n
        this.literal("null");
        return null;
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
        throw this.invalid("looking for beginning of value");
    }
  }

  enter(): void {
    if (++this.depth > this.maxDepth) {
      throw new SyntaxError("exceeded max depth");
    }
  }

  parseObject(): Record<string, unknown> {
    this.enter();
    const t = this.text;
    const obj: Record<string, unknown> = {};
    this.pos++; // {
    if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
    if (t.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      this.depth--;
      return obj;
    }
    for (;;) {
      if (t.charCodeAt(this.pos) !== 0x22) {
        throw this.invalid("looking for beginning of object key string");
      }
      const key = this.parseKey();
      if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
      if (t.charCodeAt(this.pos) !== 0x3a) throw this.invalid("after object key");
      this.pos++;
      if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
      const value = this.parseValue();
      if (key === "__proto__") {
        // An assignment would replace the prototype; keep it as plain data instead.
        Object.defineProperty(obj, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        obj[key] = value;
      }
      if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
      const c = t.charCodeAt(this.pos);
      if (c === 0x2c) {
        this.pos++;
        if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
        continue;
      }
      if (c === 0x7d) {
        this.pos++;
        this.depth--;
        return obj;
      }
      throw this.invalid("after object key:value pair");
    }
  }

  parseArray(): unknown[] {
    this.enter();
    const t = this.text;
    const arr: unknown[] = [];
    this.pos++; // [
    if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
    if (t.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      this.depth--;
      return arr;
    }
    for (;;) {
      arr.push(this.parseValue());
      if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
      const c = t.charCodeAt(this.pos);
      if (c === 0x2c) {
        this.pos++;
        if (t.charCodeAt(this.pos) <= 0x20) this.skipWs();
        continue;
      }
      if (c === 0x5d) {
        this.pos++;
        this.depth--;
        return arr;
      }
      throw this.invalid("after array element");
    }
  }

  /**
   * An object key, as {@link parseString} reads it. A plain key (no escapes) seen before comes
   * back as the same string object: engines store a property under a string they have already
   * interned much faster than under a fresh slice of the text.
   */
  parseKey(): string {
    const t = this.text;
    const start = this.pos + 1;
    const quote = t.indexOf('"', start);
    const length = quote - start;
    if (quote < 0 || length >= KEY_CACHE.length) return this.parseString();
    if (length === 0) {
      this.pos = quote + 1;
      return "";
    }
    const bucket = KEY_CACHE[length];
    const last = t.charCodeAt(quote - 1);
    for (let i = 0; i < bucket.length; i++) {
      // A cached key holds no quote, backslash or control character: matching it means the
      // text is that plain key, ending at `quote`.
      const key = bucket[i];
      if (key.charCodeAt(length - 1) === last && t.startsWith(key, start)) {
        this.pos = quote + 1;
        return key;
      }
    }
    const key = this.parseString();
    // No escapes (each one shortens the key): remember it.
    if (key.length === length && this.pos === quote + 1 && bucket.length < KEYS_PER_LENGTH) {
      bucket.push(key);
    }
    return key;
  }

  parseString(): string {
    const t = this.text;
    const start = this.pos + 1;
    let p = start;
    const n = t.length;
    // Fast path: no escapes, the common case for keys and values.
    for (;;) {
      if (p >= n) {
        this.pos = p;
        throw this.invalid("");
      }
      const c = t.charCodeAt(p);
      if (c === 0x22) {
        this.pos = p + 1;
        return t.slice(start, p);
      }
      if (c === 0x5c) break;
      if (c < 0x20) {
        this.pos = p;
        throw this.invalid("in string literal");
      }
      p++;
    }
    let out = t.slice(start, p);
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x22) {
        this.pos = p + 1;
        return out;
      }
      if (c < 0x20 || Number.isNaN(c)) {
        this.pos = p;
        throw Number.isNaN(c) ? this.invalid("") : this.invalid("in string literal");
      }
      if (c !== 0x5c) {
        // Copy a run of plain characters at once.
        let q = p + 1;
        for (;;) {
          const d = t.charCodeAt(q);
          if (d === 0x22 || d === 0x5c || d < 0x20 || Number.isNaN(d)) break;
          q++;
        }
        out += t.slice(p, q);
        p = q;
        continue;
      }
      const e = t.charCodeAt(p + 1);
      p += 2;
      switch (e) {
        case 0x22:
          out += '"';
          break;
        case 0x5c:
          out += "\\";
          break;
        case 0x2f:
          out += "/";
          break;
        case 0x62:
          out += "\b";
          break;
        case 0x66:
          out += "\f";
          break;
        case 0x6e:
          out += "\n";
          break;
        case 0x72:
          out += "\r";
          break;
        case 0x74:
          out += "\t";
          break;
        case 0x75: {
          let cu = this.hex4(p);
          p += 4;
          if (cu >= 0xd800 && cu <= 0xdfff) {
            // Go keeps a valid surrogate pair and turns anything else into U+FFFD.
            let paired = false;
            if (cu <= 0xdbff && t.charCodeAt(p) === 0x5c && t.charCodeAt(p + 1) === 0x75) {
              const lo = this.hex4Soft(p + 2);
              if (lo >= 0xdc00 && lo <= 0xdfff) {
                out += String.fromCharCode(cu, lo);
                p += 6;
                paired = true;
              }
            }
            if (!paired) cu = 0xfffd;
            else break;
          }
          out += String.fromCharCode(cu);
          break;
        }
        default:
          this.pos = p - 1;
          throw Number.isNaN(e) ? this.invalid("") : this.invalid("in string escape code");
      }
    }
  }

  hex4(p: number): number {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const d = hexDigit(this.text.charCodeAt(p + i));
      if (d < 0) {
        this.pos = p + i;
        throw this.invalid("in \\u hexadecimal character escape");
      }
      v = (v << 4) | d;
    }
    return v;
  }

  /** Like hex4 but returns -1 instead of throwing (the second half of a pair is optional). */
  hex4Soft(p: number): number {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const d = hexDigit(this.text.charCodeAt(p + i));
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  parseNumber(): JsonNumber {
    const t = this.text;
    const start = this.pos;
    let p = start;
    if (t.charCodeAt(p) === 0x2d) p++;
    let c = t.charCodeAt(p);
    if (c === 0x30) {
      p++;
    } else if (c >= 0x31 && c <= 0x39) {
      p++;
      while (isDigit(t.charCodeAt(p))) p++;
    } else {
      this.pos = p;
      throw this.invalid("in numeric literal");
    }
    c = t.charCodeAt(p);
    if (c === 0x2e) {
      p++;
      if (!isDigit(t.charCodeAt(p))) {
        this.pos = p;
        throw this.invalid("after decimal point in numeric literal");
      }
      while (isDigit(t.charCodeAt(p))) p++;
      c = t.charCodeAt(p);
    }
    if (c === 0x65 || c === 0x45) {
      p++;
      c = t.charCodeAt(p);
      if (c === 0x2b || c === 0x2d) p++;
      if (!isDigit(t.charCodeAt(p))) {
        this.pos = p;
        throw this.invalid("in exponent of numeric literal");
      }
      while (isDigit(t.charCodeAt(p))) p++;
    }
    this.pos = p;
    return new JsonNumber(t.slice(start, p));
  }

  literal(word: string): void {
    const t = this.text;
    for (let i = 1; i < word.length; i++) {
      if (t.charCodeAt(this.pos + i) !== word.charCodeAt(i)) {
        this.pos += i;
        throw this.invalid(`in literal ${word} (expecting ${quoteChar(word[i])})`);
      }
    }
    this.pos += word.length;
  }

  /** Go's scanner error for the character at `pos`, or the end-of-input error. */
  invalid(context: string): SyntaxError {
    if (this.pos >= this.text.length) {
      return new SyntaxError("unexpected end of JSON input");
    }
    const cp = this.text.codePointAt(this.pos) as number;
    return new SyntaxError(
      `invalid character ${quoteChar(String.fromCodePoint(cp))} ${context}`,
    );
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Go's `quoteChar`: the offending character in single quotes, escaped like strconv.Quote. */
function quoteChar(ch: string): string {
  if (ch === "'") return "'\\''";
  if (ch === '"') return "'\"'";
  const q = JSON.stringify(ch);
  return "'" + q.slice(1, -1) + "'";
}

// ---------------------------------------------------------------------------------------------
// Writing

// Characters Go's encoder escapes (HTML-safe mode) plus surrogates, which need a pairing check.
// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;
const HEX = "0123456789abcdef";

/** Quotes a string exactly as Go's `encoding/json` does (with HTML escaping on, its default). */
export function quoteGo(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c < 0x20) {
      if (c === 0x0a) esc = "\\n";
      else if (c === 0x0d) esc = "\\r";
      else if (c === 0x09) esc = "\\t";
      else esc = "\\u00" + HEX[c >> 4] + HEX[c & 15];
    } else if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = "\\\\";
    else if (c === 0x3c) esc = "\\u003c";
    else if (c === 0x3e) esc = "\\u003e";
    else if (c === 0x26) esc = "\\u0026";
    else if (c === 0x2028) esc = "\\u2028";
    else if (c === 0x2029) esc = "\\u2029";
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair is copied as is
        continue;
      }
      // A lone surrogate cannot be UTF-8; Go writes invalid UTF-8 as an escaped U+FFFD.
      esc = "\\ufffd";
    }
    if (esc !== null) {
      out += s.slice(run, i) + esc;
      run = i + 1;
    }
  }
  return out + s.slice(run) + '"';
}

/**
 * Writes a value as Go's `encoding/json` would: no whitespace, Go's string escapes, object keys
 * in insertion order (or sorted with `sortKeys`, for Go maps).
 *
 * {@link JsonNumber} is written verbatim, bigint as its digits, a finite number in JS's shortest
 * form (which equals Go's float64 format; `-0` becomes `0`), `Uint8Array` as standard base64 (Go's
 * `[]byte`), `Date` as Go's RFC 3339 time text, null and undefined as `null`. NaN and ±Inf throw
 * {@link UnsupportedValueError} with Go's message, such as `json: unsupported value: NaN`.
 */
export function stringifyGo(value: unknown, options?: StringifyGoOptions): string {
  return write(value, options?.sortKeys === true, []);
}

const CYCLE_CHECK_DEPTH = 1000;

function write(v: unknown, sortKeys: boolean, stack: object[]): string {
  switch (typeof v) {
    case "string":
      return quoteGo(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return formatNumber(v);
    case "bigint":
      return v.toString();
    case "undefined":
      return "null";
    case "object":
      break;
    default:
      throw new UnsupportedTypeError(`json: unsupported type: ${typeof v}`);
  }
  if (v === null) return "null";
  if (v instanceof JsonNumber) return v.text;
  if (v instanceof Uint8Array) return '"' + encodeBase64(v) + '"';
  if (v instanceof Date) return quoteGo(formatGoTime(v));
  // Go only looks for cycles once nesting is deep; doing the same keeps the common path cheap.
  if (stack.length >= CYCLE_CHECK_DEPTH && stack.includes(v)) {
    throw new UnsupportedValueError("json: unsupported value: encountered a cycle");
  }
  stack.push(v);
  let out: string;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const arr = v as ArrayLike<unknown>;
    out = "[";
    for (let i = 0; i < arr.length; i++) {
      if (i > 0) out += ",";
      out += write(arr[i], sortKeys, stack);
    }
    out += "]";
  } else {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (sortKeys) keys.sort(compareCodePoints);
    out = "{";
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) out += ",";
      out += quoteGo(keys[i]) + ":" + write(obj[keys[i]], sortKeys, stack);
    }
    out += "}";
  }
  stack.pop();
  return out;
}

function formatNumber(n: number): string {
  if (Number.isFinite(n)) return n === 0 ? "0" : String(n);
  throw new UnsupportedValueError(
    `json: unsupported value: ${Number.isNaN(n) ? "NaN" : n > 0 ? "+Inf" : "-Inf"}`,
  );
}

/** Orders strings by Unicode code point, which is Go's byte order of their UTF-8 form. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // UTF-16 order differs from code point order only where surrogates meet U+E000..U+FFFF.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// Base64 (standard alphabet, padded), as Go writes and reads []byte

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) table[B64.charCodeAt(i)] = i;
  return table;
})();

/** Standard base64 with padding (Go's `base64.StdEncoding`). */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63];
  }
  if (i < n) {
    const v = (bytes[i] << 16) | (i + 1 < n ? bytes[i + 1] << 8 : 0);
    out += B64[v >> 18] + B64[(v >> 12) & 63] + (i + 1 < n ? B64[(v >> 6) & 63] : "=") + "=";
  }
  return out;
}

/** Thrown by {@link decodeBase64} with Go's `illegal base64 data at input byte N` text. */
export class Base64Error extends Error {
  /** Creates the error for the offending input offset. */
  constructor(readonly offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
    this.name = "Base64Error";
  }
}

/**
 * Decodes standard padded base64 like Go's `base64.StdEncoding.DecodeString`: `\r` and `\n` are
 * skipped, padding is required, trailing bits are ignored, anything malformed throws
 * {@link Base64Error} with Go's offset.
 */
export function decodeBase64(text: string): Uint8Array {
  const n = text.length;
  const out = new Uint8Array(Math.floor((n * 3) / 4) + 3);
  let len = 0;
  let si = 0;
  const quad = [0, 0, 0, 0];
  for (;;) {
    let j = 0;
    let done = false;
    while (j < 4) {
      if (si === n) {
        if (j === 0) return out.subarray(0, len);
        throw new Base64Error(si - j); // a quantum cut short without padding
      }
      const c = text.charCodeAt(si++);
      if (c === 0x0a || c === 0x0d) continue;
      if (c === 0x3d) {
        if (j < 2) throw new Base64Error(si - 1);
        if (j === 2) {
          // "==" is expected: the first "=" is consumed.
          while (si < n && isNewline(text.charCodeAt(si))) si++;
          if (si === n) throw new Base64Error(n);
          if (text.charCodeAt(si) !== 0x3d) throw new Base64Error(si - 1);
          si++;
        }
        while (si < n && isNewline(text.charCodeAt(si))) si++;
        if (si < n) throw new Base64Error(si); // trailing garbage
        done = true;
        break;
      }
      const d = c < 128 ? B64_INDEX[c] : -1;
      if (d < 0) throw new Base64Error(si - 1);
      quad[j++] = d;
    }
    const v = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6) | quad[3];
    out[len++] = v >> 16;
    if (j > 2) out[len++] = (v >> 8) & 255;
    if (j > 3) out[len++] = v & 255;
    if (done) return out.subarray(0, len);
    quad[0] =
      quad[1] =
      quad[2] =
      quad[3] =
        0;
  }
}

function isNewline(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}
