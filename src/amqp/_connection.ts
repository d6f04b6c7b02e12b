/**
 * Connecting to RabbitMQ: dialing a list of broker URLs in order (machinery's failover), with an
 * `error` listener on every connection and channel, and telling a lost connection from a bad
 * request.
 *
 * @module
 */
import { connect } from "amqplib";
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { commandTimeoutMs, type Config, connectTimeoutMs } from "../config.ts";
import { tlsOptions } from "../net/tls.ts";
import type { AMQPURL } from "./url.ts";
import { redactPassword } from "../urls.ts";

/** A RabbitMQ operation failed; `cause` holds the client's error. */
export class AMQPError extends Error {
  /** The AMQP reply code when RabbitMQ sent one (404, 406, 320 …). */
  readonly code: number | undefined;
  /** Creates the error. */
  constructor(message: string, options?: { cause?: unknown; code?: number }) {
    super(message, options);
    this.name = "AMQPError";
    this.code = options?.code ?? replyCode(options?.cause);
  }
}

/** How connections are made. */
export interface DialOptions {
  /** Heartbeat in seconds (default 10), so a silent network failure is noticed. */
  heartbeatSeconds?: number;
  /**
   * Milliseconds to wait for the TCP/TLS connect and the AMQP handshake, without a byte from
   * the server (default 5000).
   */
  connectTimeoutMs?: number;
  /** A PEM file of CAs to trust for `amqps://`, besides the system's (default none). */
  tlsCAFile?: string;
}

/**
 * The dial options of a configuration: `connectTimeout`, `tlsCAFile`, and a heartbeat of half
 * the `commandTimeout`, so a connection that stops answering is closed (and its operations
 * failed or retried) within about `commandTimeout` (RabbitMQ gives up after two missed beats).
 */
export function dialOptions(config: Config): DialOptions {
  return {
    connectTimeoutMs: connectTimeoutMs(config),
    heartbeatSeconds: Math.max(1, Math.ceil(commandTimeoutMs(config) / 2000)),
    tlsCAFile: config.tlsCAFile,
  };
}

/** The AMQP reply code carried by an amqplib error, if any. */
export function replyCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/**
 * Codes that mean the request itself is wrong (a declaration that does not match the existing
 * queue, a missing queue, no access): retrying cannot help.
 */
const PERMANENT_CODES = new Set([403, 404, 405, 406, 530, 540]);

/** True when an error means the connection or channel went away, so trying again may work. */
export function isTransient(error: unknown): boolean {
  const code = replyCode(error) ??
    (error instanceof AMQPError ? error.code : undefined);
  if (code !== undefined && PERMANENT_CODES.has(code)) return false;
  if (error instanceof AMQPError && error.cause !== undefined) return isTransient(error.cause);
  return true;
}

/** A short text for an unknown thrown value. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens a connection to the first of `urls` that accepts one, trying each once, in order. The
 * connection has an `error` listener attached before anything else can happen on it; its `close`
 * event is the one to watch. When none answers, the error names every URL (passwords hidden)
 * with the reason it failed.
 */
export async function dial(urls: AMQPURL[], options: DialOptions = {}): Promise<ChannelModel> {
  const failures: { url: AMQPURL; error: unknown }[] = [];
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  for (const url of urls) {
    try {
      const conn = await connect(
        {
          protocol: url.tls ? "amqps" : "amqp",
          hostname: url.host,
          port: url.port,
          username: url.username,
          password: url.password,
          vhost: url.vhost,
          heartbeat: options.heartbeatSeconds ?? 10,
        },
        {
          timeout: timeoutMs,
          ...(url.tls ? tlsOptions(url.host, options.tlsCAFile ?? "") : {}),
        },
      );
      conn.on("error", () => {
        // Reported through `close`, which always follows.
      });
      return conn;
    } catch (error) {
      // amqplib's own timeout says "connect ETIMEDOUT" even when the TCP connect succeeded
      // and the server then said nothing: say what happened.
      const silent = error instanceof Error && error.message === "connect ETIMEDOUT";
      failures.push({
        url,
        error: silent
          ? new Error(`no reply within ${timeoutMs / 1000} s`, { cause: error })
          : refusedVhost(error, url) ?? error,
      });
    }
  }
  const last = failures[failures.length - 1]?.error;
  const where = failures.length === 1
    ? `${redactPassword(failures[0].url.url)}: ${describeError(last)}`
    : failures.map((f) => `${redactPassword(f.url.url)} (${describeError(f.error)})`).join(", ");
  throw new AMQPError(`Could not connect to RabbitMQ at ${where}`, { cause: last });
}

/**
 * RabbitMQ answers `connection.open` with `connection.close` when the virtual host does not
 * exist or the user may not use it; amqplib then says only "Expected ConnectionOpenOk; got
 * <ConnectionClose channel:0>". Says it in words, naming the virtual host and the user.
 */
function refusedVhost(error: unknown, url: AMQPURL): Error | undefined {
  if (
    !(error instanceof Error) ||
    !/^Expected ConnectionOpenOk; got <ConnectionClose/.test(error.message)
  ) {
    return undefined;
  }
  return new Error(
    `there is no virtual host "${url.vhost}", or the user "${url.username}" may not use it`,
    { cause: error },
  );
}

/** Opens a channel with an `error` listener (channel errors are followed by `close`). */
export async function openChannel(conn: ChannelModel): Promise<Channel> {
  const channel = await conn.createChannel();
  channel.on("error", () => {});
  return channel;
}

/** Confirm channels that have closed (see {@linkcode confirmChannelClosed}). */
const closedConfirmChannels = new WeakSet<ConfirmChannel>();

/** Opens a channel in confirm mode with an `error` listener. */
export async function openConfirmChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  const channel = await conn.createConfirmChannel();
  channel.on("error", () => {});
  // amqplib fails the unconfirmed publishes from a "close" listener of its own, registered
  // before this one: prepended, this one marks the channel first.
  channel.prependListener("close", () => closedConfirmChannels.add(channel));
  return channel;
}

/**
 * True once `channel` closed. amqplib fails a publish's confirm callback for two reasons only,
 * a nack or the channel closing, both with a bare `Error`: on a channel still open it is a nack.
 */
export function confirmChannelClosed(channel: ConfirmChannel): boolean {
  return closedConfirmChannels.has(channel);
}

/** Closes a connection, ignoring the errors of one already gone. */
export async function closeQuietly(conn: ChannelModel | undefined): Promise<void> {
  if (!conn) return;
  try {
    await conn.close();
  } catch {
    // Already closed.
  }
}
