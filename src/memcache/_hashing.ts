/**
 * Which memcached server holds a key: the rule of Go's memcache client (gomemcache's
 * `ServerList.PickServer`, which machinery uses), so TS and Go workers given the same server list
 * in the same order put every key on the same server.
 *
 * The rule: CRC-32 (IEEE, as Go's `crc32.ChecksumIEEE`) of the key's UTF-8 bytes (at most the
 * first 256), modulo the number of servers, indexes the list as written in the URL
 * (`memcache://a:11211,b:11211`: index 0 is `a`). One server takes every key. The mapping depends
 * only on the key and the list, never on which servers answer, so no client moves a key elsewhere
 * when a server is down (the request fails instead).
 *
 * @module
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 with the IEEE polynomial (Go's `crc32.ChecksumIEEE`), as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const utf8 = new TextEncoder();

/** Go copies the key into a 256-byte buffer before hashing it. */
const HASHED_KEY_BYTES = 256;

/** The index of the server in a list of `serverCount` that holds `key` (gomemcache's rule). */
export function pickServer(key: string, serverCount: number): number {
  if (!Number.isInteger(serverCount) || serverCount < 1) {
    throw new RangeError(`Server count ${serverCount} is not a positive integer`);
  }
  if (serverCount === 1) return 0;
  const bytes = utf8.encode(key).subarray(0, HASHED_KEY_BYTES);
  return crc32(bytes) % serverCount;
}
