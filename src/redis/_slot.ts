/**
 * Redis Cluster slots: which slot a key hashes to, and a hash tag that puts a key of ours in the
 * slot of a queue (or of any key of Go's). Loads no driver.
 *
 * Redis hashes the whole key, unless it holds a `{` followed later by a `}` with at least one
 * character between them: then only those characters count (the first `{` and the first `}`
 * after it). Our keys put a tag right after their prefix, `machinery:ts:{<tag>}…`, where `<tag>`
 * is the queue's own effective hash string, so a queue named `jobs` gets `{jobs}` and a queue
 * named `a{b}c` gets `{b}`. A hash string that holds a `}` (or is empty) cannot sit inside braces;
 * it is replaced by a short stand-in that hashes to the same slot.
 *
 * @module
 */

/** The number of slots of a Redis Cluster. */
export const SLOTS = 16384;

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

const UTF8 = new TextEncoder();

/** CRC16-XMODEM of a string's UTF-8 bytes, as Redis Cluster computes it. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of UTF8.encode(text)) {
    crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]) & 0xffff;
  }
  return crc;
}

/** The part of a key Redis hashes: the content of its first non-empty `{…}`, else the key. */
export function hashString(key: string): string {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/** The cluster slot of a key. */
export function keySlot(key: string): number {
  return crc16(hashString(key)) % SLOTS;
}

/** Stand-ins by slot, filled on first need (about 16k CRCs once, a few ms). */
let standIns: string[] | undefined;

/**
 * A tag (the text inside `{…}`) that hashes to the slot of `key`: the key's own hash string
 * when it can sit inside braces, else a stand-in `slot:<n>` chosen for that slot.
 */
export function slotTag(key: string): string {
  const own = hashString(key);
  if (own !== "" && !own.includes("}")) return own;
  if (!standIns) {
    const found: string[] = new Array(SLOTS);
    let left = SLOTS;
    for (let n = 0; left > 0; n++) {
      const candidate = `slot:${n}`;
      const slot = crc16(candidate) % SLOTS;
      if (found[slot] === undefined) {
        found[slot] = candidate;
        left--;
      }
    }
    standIns = found;
  }
  return standIns[keySlot(key)];
}
