/**
 * memcached's key rule, checked before a request is sent (Go's memcache client checks the same
 * and fails with `ErrMalformedKey`): at most 250 bytes, no spaces, no control characters.
 *
 * @module
 */
import { BackendError } from "../errors.ts";

const utf8 = new TextEncoder();

/** The longest key memcached accepts, in bytes. */
export const MAX_KEY_BYTES = 250;

/** Whether memcached accepts `key`. */
export function isValidKey(key: string): boolean {
  const bytes = utf8.encode(key);
  if (bytes.length === 0 || bytes.length > MAX_KEY_BYTES) return false;
  for (const b of bytes) if (b <= 0x20 || b === 0x7f) return false;
  return true;
}

/** Throws a {@linkcode BackendError} when memcached would not accept `key`. */
export function checkKey(key: string): void {
  if (!isValidKey(key)) {
    throw new BackendError(
      `Memcache key "${key}" is malformed: it is empty, longer than ${MAX_KEY_BYTES} bytes, or has spaces or control characters`,
    );
  }
}
