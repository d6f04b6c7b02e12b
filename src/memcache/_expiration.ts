/**
 * The expiration memcached is given for a result: ResultsExpireIn seconds from now.
 *
 * memcached reads an expiration of at most 30 days (2,592,000 s) as seconds from now, and a larger
 * one as an absolute Unix time. Go machinery always sends the absolute time `now + ttl`, which
 * depends on the client's and the server's clocks agreeing. Up to 30 days we send the relative
 * form, which expires at the same moment without trusting the clocks; beyond that only the
 * absolute form can say it, so we send `now + ttl` as Go does.
 *
 * @module
 */

/** The largest expiration memcached reads as relative seconds (30 days). */
export const MAX_RELATIVE_EXPIRATION = 60 * 60 * 24 * 30;

/**
 * The expiration field for an item that should live `ttlSeconds` (a positive integer): the
 * seconds themselves up to 30 days, else the Unix time `now + ttlSeconds`.
 */
export function memcacheExpiration(ttlSeconds: number, nowMs: number = Date.now()): number {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new RangeError(`ResultsExpireIn ${ttlSeconds} is not a positive whole number of seconds`);
  }
  if (ttlSeconds <= MAX_RELATIVE_EXPIRATION) return ttlSeconds;
  const absolute = Math.floor(nowMs / 1000) + ttlSeconds;
  if (absolute > 0xffffffff) {
    throw new RangeError(`ResultsExpireIn ${ttlSeconds} reaches past what memcached can store`);
  }
  return absolute;
}
