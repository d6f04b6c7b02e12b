/**
 * How long a task waited for a worker: from its send time, carried in the
 * `machinery_ts_sent_at` header (see `docs/wire.md#signature-headers-we-use`), or from its ETA when that is
 * later, to its start.
 *
 * @module
 */
import { etaUnixNanos, type Signature } from "../wire/signature.ts";

/** The header that carries when a task was sent, in Unix milliseconds. */
export const SENT_AT_HEADER = "machinery_ts_sent_at";

/**
 * Seconds from the later of the send time and the ETA to now; undefined for a task sent
 * without the header (by Go machinery, say).
 */
export function waitSeconds(signature: Signature): number | undefined {
  const raw = signature.headers?.[SENT_AT_HEADER];
  if (raw === undefined) return undefined;
  // A decoded header number is a lossless wire number: `Number` reads it.
  let from = Number(raw);
  if (!Number.isFinite(from)) return undefined;
  if (signature.eta != null) {
    const eta = etaUnixNanos(signature);
    if (eta !== null) from = Math.max(from, Number(eta / 1_000_000n));
  }
  return Math.max(0, Date.now() - from) / 1000;
}
