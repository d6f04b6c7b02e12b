/**
 * Cancellation marks on RabbitMQ: a stream queue (`machinery_ts_cancellations`, kept 7 days)
 * that every watching worker reads from its first entry, then live. A stream keeps its entries
 * for every reader, so a worker that starts after a cancellation still learns of it; each entry
 * is `<until ms> <uuid>`, and an expired one is ignored. A reader knows it has caught up when
 * it reads back a `sync` entry of its own, written after it started reading.
 *
 * @module
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { closeQuietly, dial, type DialOptions, openChannel } from "./_connection.ts";
import { toBuffer } from "./_session.ts";
import type { AMQPURL } from "./url.ts";
import type { QueuePlan } from "./_topology.ts";

/** The default stream queue of cancellation marks. */
export const CANCEL_STREAM = "machinery_ts_cancellations";

const STREAM_ARGS = { "x-queue-type": "stream", "x-max-age": "7D" };

/** The stream's declaration: a durable stream whose entries are dropped after 7 days. */
export function cancelStreamPlan(queue: string): QueuePlan {
  return {
    queue,
    durable: true,
    autoDelete: false,
    args: STREAM_ARGS,
    bindExchange: "",
    bindingKey: "",
    bindingArgs: {},
  };
}

/** The body of a mark. */
export function cancelEntry(uuid: string, until: number): string {
  return `${until} ${uuid}`;
}

const SYNC = "sync ";
const MAX_BACKOFF_MS = 30_000;

/**
 * Reads the stream from its first entry on a connection of its own, reporting each mark; after
 * a lost connection, again from the first entry, with back-off, until `signal` aborts. Resolves
 * once the entries present at the start were reported.
 */
export async function watchCancelStream(
  stream: string,
  urls: AMQPURL[],
  dialOptions: DialOptions,
  onCancel: (uuid: string, until: number) => void,
  onError: (error: Error) => void,
  signal: AbortSignal,
): Promise<void> {
  let backoff = 0;
  const readOnce = async (): Promise<{ closed: Promise<void> }> => {
    const conn = await dial(urls, dialOptions);
    try {
      const closed = new Promise<void>((resolve) => conn.once("close", () => resolve()));
      const stop = () => closeQuietly(conn);
      signal.addEventListener("abort", stop, { once: true });
      closed.then(() => signal.removeEventListener("abort", stop));
      await readStream(conn, stream, onCancel, closed);
      backoff = 0;
      return { closed };
    } catch (error) {
      await closeQuietly(conn);
      throw error;
    }
  };
  const keepReading = async ({ closed }: { closed: Promise<void> }): Promise<void> => {
    await closed;
    while (!signal.aborted) {
      backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 1000);
      await new Promise((r) => setTimeout(r, backoff));
      if (signal.aborted) return;
      try {
        await keepReading(await readOnce());
        return;
      } catch (error) {
        onError(error instanceof Error ? error : new Error(String(error)));
      }
    }
  };
  keepReading(await readOnce());
}

/** Consumes the stream from its first entry; resolves once its own sync entry came back. */
async function readStream(
  conn: ChannelModel,
  stream: string,
  onCancel: (uuid: string, until: number) => void,
  closed: Promise<void>,
): Promise<void> {
  const channel: Channel = await openChannel(conn);
  await channel.assertQueue(stream, { durable: true, arguments: STREAM_ARGS });
  await channel.prefetch(1000); // a stream consumer must have a prefetch
  const token = crypto.randomUUID();
  let caughtUp!: () => void;
  const synced = new Promise<void>((resolve) => caughtUp = resolve);
  await channel.consume(stream, (message: ConsumeMessage | null) => {
    if (!message) return;
    const text = message.content.toString();
    channel.ack(message);
    if (text.startsWith(SYNC)) {
      if (text === SYNC + token) caughtUp();
      return;
    }
    const space = text.indexOf(" ");
    const until = Number(text.slice(0, space));
    if (space > 0 && Number.isFinite(until) && until > Date.now()) {
      onCancel(text.slice(space + 1), until);
    }
  }, { arguments: { "x-stream-offset": "first" } });
  channel.sendToQueue(stream, toBuffer(new TextEncoder().encode(SYNC + token)));
  await Promise.race([
    synced,
    closed.then(() => {
      throw new Error("The connection closed while reading the cancellation stream");
    }),
  ]);
}
