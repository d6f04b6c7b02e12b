/**
 * Cancellation marks on Redis: a sorted set of cancelled task UUIDs scored by when each mark
 * expires, and a pub/sub channel that tells every worker at once. A worker loads the live marks
 * when it starts (and after a reconnect, for marks sent while it was away) and then listens, so
 * it checks a task against memory alone before starting it.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { BrokerKeys } from "./_keys.ts";

/** Records the mark, drops expired ones, and announces it, in one transaction. */
export async function markCancelled(
  client: Redis,
  keys: BrokerKeys,
  uuid: string,
  until: number,
): Promise<void> {
  const replies = await client.multi()
    .zadd(keys.cancelled, until, uuid)
    .zremrangebyscore(keys.cancelled, "-inf", Date.now())
    .publish(keys.cancelChannel, `${until} ${uuid}`)
    .exec();
  const failed = replies?.find(([error]) => error)?.[0];
  if (failed) throw failed;
}

/**
 * Subscribes `subscriber` (a connection of its own) to the announcements, then reports the live
 * marks read with `commands`; again after each reconnect.
 */
export async function watchCancelled(
  subscriber: Redis,
  commands: Redis,
  keys: BrokerKeys,
  onCancel: (uuid: string, until: number) => void,
  onError: (error: Error) => void,
): Promise<void> {
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== keys.cancelChannel) return;
    const space = message.indexOf(" ");
    const until = Number(message.slice(0, space));
    if (space > 0 && Number.isFinite(until)) onCancel(message.slice(space + 1), until);
  });
  await subscriber.subscribe(keys.cancelChannel);
  const load = async () => {
    const flat = await commands.zrangebyscore(keys.cancelled, Date.now(), "+inf", "WITHSCORES");
    for (let i = 0; i + 1 < flat.length; i += 2) onCancel(flat[i], Number(flat[i + 1]));
  };
  await load();
  subscriber.on("ready", () => load().catch(onError));
}
