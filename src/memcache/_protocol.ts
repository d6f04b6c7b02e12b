/**
 * The few requests of memcached's binary protocol this backend sends, framed by hand so that a
 * store can carry a CAS value (memjs has no compare-and-swap call). The transport, routing,
 * timeouts and response parsing stay memjs's (see `_client.ts`).
 *
 * A request is a 24-byte header (magic `0x80`, opcode, key length, extras length, body length,
 * opaque, CAS), then the extras, the key and the value.
 *
 * @module
 */

/** Request opcodes. */
export const Opcode = {
  /** Read an item; the response header carries its CAS value. */
  get: 0x00,
  /** Store an item; with a CAS value, only if the item is unchanged since it was read. */
  set: 0x01,
  /** Store an item only if the key is free. */
  add: 0x02,
  /** Delete an item. */
  delete: 0x04,
  /** The server's version (a cheap round trip). */
  version: 0x0b,
} as const;

/** Response status codes. */
export const Status = {
  /** Done. */
  ok: 0x0000,
  /** No such key (a miss; a CAS store on a missing item). */
  keyNotFound: 0x0001,
  /** The key exists (an `add` on a taken key; a CAS store that lost the race). */
  keyExists: 0x0002,
  /** The item was not stored. */
  notStored: 0x0005,
} as const;

const STATUS_TEXT: Record<number, string> = {
  0x0001: "key not found",
  0x0002: "key exists",
  0x0003: "value too large",
  0x0004: "invalid arguments",
  0x0005: "item not stored",
  0x0006: "incr/decr on a non-numeric value",
  0x0007: "the vbucket belongs to another server",
  0x0008: "authentication error",
  0x0009: "authentication continue",
  0x0081: "unknown command",
  0x0082: "out of memory",
  0x0083: "not supported",
  0x0084: "internal error",
  0x0085: "busy",
  0x0086: "temporary failure",
};

/** A readable text for a response status, e.g. `value too large`. */
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? `status 0x${status.toString(16).padStart(4, "0")}`;
}

/** One request to frame. */
export interface Request {
  /** The opcode ({@linkcode Opcode}). */
  opcode: number;
  /** The key (UTF-8), `""` for none. */
  key?: string;
  /** The value (UTF-8 text or bytes). */
  value?: string | Uint8Array;
  /** The extras (for stores: flags and expiration, see {@linkcode storeExtras}). */
  extras?: Uint8Array;
  /** The opaque value the response echoes (memjs matches responses by it). */
  opaque: number;
  /** The CAS value to compare with (8 bytes; none or all zeros: no comparison). */
  cas?: Uint8Array;
}

const utf8 = new TextEncoder();

/** The extras of a store: flags (4 bytes) then expiration (4 bytes), big-endian. */
export function storeExtras(flags: number, expiration: number): Uint8Array {
  const extras = new Uint8Array(8);
  const view = new DataView(extras.buffer);
  view.setUint32(0, flags >>> 0);
  view.setUint32(4, expiration >>> 0);
  return extras;
}

/** The bytes of a request. */
export function encodeRequest(request: Request): Uint8Array {
  const key = utf8.encode(request.key ?? "");
  const value = typeof request.value === "string"
    ? utf8.encode(request.value)
    : request.value ?? new Uint8Array(0);
  const extras = request.extras ?? new Uint8Array(0);
  if (key.length > 0xffff) throw new RangeError("Memcache key is too long");
  if (extras.length > 0xff) throw new RangeError("Memcache extras are too long");
  const body = extras.length + key.length + value.length;
  const out = new Uint8Array(24 + body);
  const view = new DataView(out.buffer);
  view.setUint8(0, 0x80);
  view.setUint8(1, request.opcode);
  view.setUint16(2, key.length);
  view.setUint8(4, extras.length);
  view.setUint32(8, body);
  view.setUint32(12, request.opaque >>> 0);
  if (request.cas) {
    if (request.cas.length !== 8) throw new RangeError("A CAS value has 8 bytes");
    out.set(request.cas, 16);
  }
  out.set(extras, 24);
  out.set(key, 24 + extras.length);
  out.set(value, 24 + extras.length + key.length);
  return out;
}
