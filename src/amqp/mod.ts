/**
 * The `./amqp` entry: the RabbitMQ broker and result backend, wire-compatible with Go
 * machinery. Importing it loads amqplib; `mod.ts` does not.
 *
 * @example
 * ```ts
 * import { Server } from "@machinery/machinery";
 * import { AMQPBackend, AMQPBroker } from "@machinery/machinery/amqp";
 *
 * const url = "amqp://guest:guest@127.0.0.1:5672/";
 * const server = new Server({
 *   broker: new AMQPBroker(url),
 *   backend: new AMQPBackend(url),
 * });
 * ```
 *
 * @module
 */
import type { AdapterOptions } from "../adapter_options.ts";
import type { Backend } from "../backend.ts";
import type { Broker } from "../broker.ts";
import { connected } from "../connected.ts";
import { AMQPBroker, type AMQPBrokerOptions } from "./broker.ts";
import { AMQPBackend, type AMQPBackendOptions } from "./backend.ts";
import { AMQPError } from "./_connection.ts";
import type { Inspector } from "../inspector.ts";
import { AMQPInspector } from "./inspector.ts";

export {
  AMQPBackend,
  type AMQPBackendOptions,
  AMQPBroker,
  type AMQPBrokerOptions,
  AMQPError,
  AMQPInspector,
};

/**
 * The AMQP broker for `amqp://` and `amqps://` URLs; several URLs joined by
 * `config.multipleBrokerSeparator` are tried in order. Connects before it resolves, so an
 * unreachable RabbitMQ fails here, at once, with an error naming the URLs (passwords hidden).
 */
export async function createBroker(url: string, options: AdapterOptions): Promise<Broker> {
  return await connected(new AMQPBroker(url, options));
}

/** The AMQP result backend for an `amqp://` or `amqps://` URL; connects before it resolves. */
export async function createBackend(url: string, options: AdapterOptions): Promise<Backend> {
  return await connected(new AMQPBackend(url, options));
}

/** The AMQP inspector for an `amqp://` or `amqps://` broker URL; connects before it resolves. */
export async function createInspector(url: string, options: AdapterOptions): Promise<Inspector> {
  return await connected(new AMQPInspector(url, options));
}
