/**
 * Helpers for the tests that need RabbitMQ: whether it answers (skip visibly, or fail under
 * `REQUIRE_SERVICES=1`), unique names per run, and deleting what a test declared.
 */
import { connect } from "amqplib";
import { env } from "../helpers.ts";

/** The RabbitMQ URL under test (`AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672/`). */
export const AMQP_URL: string = env("AMQP_URL") || "amqp://guest:guest@127.0.0.1:5672/";

/** Whether missing services fail the tests instead of skipping them. */
export const REQUIRE_SERVICES: boolean = env("REQUIRE_SERVICES") === "1";

/**
 * `false` when RabbitMQ answers; otherwise the skip reason (printed, so the skip is visible).
 * With `REQUIRE_SERVICES=1` it returns `false` anyway, so the tests run and fail.
 */
export async function amqpSkipReason(): Promise<string | false> {
  try {
    const conn = await connect(AMQP_URL, { timeout: 2000 });
    conn.on("error", () => {});
    await conn.close();
    return false;
  } catch (error) {
    const reason = `RabbitMQ is not reachable at ${AMQP_URL.replace(/\/\/[^@]*@/, "//")}: ${
      error instanceof Error ? error.message : String(error)
    }`;
    if (REQUIRE_SERVICES) return false;
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
}

/** A name unique to this run, e.g. `test_amqp_1a2b3c4d`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Deletes queues and exchanges (missing ones are fine). */
export async function deleteAMQP(queues: string[], exchanges: string[] = []): Promise<void> {
  const conn = await connect(AMQP_URL);
  conn.on("error", () => {});
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    for (const q of queues) await ch.deleteQueue(q);
    for (const x of exchanges) await ch.deleteExchange(x);
    await ch.close();
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Runs `fn` with a plain channel on a fresh connection, then closes it. */
export async function withChannel<T>(
  fn: (ch: import("amqplib").Channel) => Promise<T>,
): Promise<T> {
  const conn = await connect(AMQP_URL);
  conn.on("error", () => {});
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    const out = await fn(ch);
    await ch.close().catch(() => {});
    return out;
  } finally {
    await conn.close().catch(() => {});
  }
}
