/**
 * The AMQP result backend (`docs/wire.md#amqp-result-backend`): every state update is a message in a queue named
 * after the task UUID; a group member's final state is also a message in a queue named after the
 * group UUID. The queues and messages are exactly Go's, so Go and TypeScript share them.
 *
 * Where it differs from Go, on purpose:
 * - `getState` returns the **latest** state and leaves it in the queue (older ones are consumed),
 *   so two pollers no longer steal states from each other and a poll never returns a stale one
 *   when a newer one is there (`docs/wire.md#amqp-result-backend-reads-the-latest-state`). Go returns one state per call, oldest first.
 * - `triggerChord` is atomic: it creates `<group>_chord_triggered` (the queue Go's TriggerChord
 *   looks for and never creates) holding at most one message and rejecting more; the one worker
 *   whose publish RabbitMQ confirms sends the callback. A Go worker finds the queue and does not.
 * - `groupCompleted` counts at least `groupTaskCount` messages (a redelivered member can publish
 *   its state twice); `groupTaskStates` reads them without consuming, keeps one state per task in
 *   completion order, and gives the messages back.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { StateWriter } from "../state_writer.ts";
import type { AdapterOptions } from "../adapter_options.ts";
import { type ConfigInput, resolveConfig, resultsExpireSeconds } from "../config.ts";
import { ClosedError, GroupNotFoundError, StateNotFoundError } from "../errors.ts";
import type { Signature } from "../wire/signature.ts";
import { decodeTaskState, encodeTaskState, type TaskState } from "../wire/state.ts";
import { parseAMQPURLs } from "./url.ts";
import { PublishNackedError, Session, type SessionScope } from "./_session.ts";
import { chordQueuePlan, MAX_INT32, type QueuePlan, stateQueuePlan } from "./_topology.ts";
import { dialOptions } from "./_connection.ts";

/**
 * Options for the AMQP result backend. The config gives the exchange and exchange type (its
 * `amqp` section) and `resultsExpireIn` (how long states are kept: `x-message-ttl`/`x-expires`).
 */
export interface AMQPBackendOptions extends AdapterOptions {
  /** How long an update keeps retrying while RabbitMQ is unreachable, in ms (30000). */
  retryForMs?: number;
}

const JSON_TYPE = "application/json";

/** Task states as messages in RabbitMQ queues. */
export class AMQPBackend extends StateWriter implements Backend {
  /** The backend URL, as given. */
  readonly url: string;
  readonly #session: Session;
  readonly #exchange: string;
  readonly #exchangeType: string;
  readonly #expiresMs: number;
  #closed = false;

  /**
   * Makes a backend for `url` (one URL: machinery does not split it); nothing connects until
   * `connect` or the first call.
   */
  constructor(url = "amqp://guest:guest@localhost:5672/", options: AMQPBackendOptions = {}) {
    super();
    this.url = url;
    const config = resolveConfig(options.config);
    const urls = parseAMQPURLs(url, "");
    this.#session = new Session(urls, {
      ...dialOptions(config),
      retryForMs: options.retryForMs ?? 30_000,
    });
    this.#exchange = config.amqp.exchange;
    this.#exchangeType = config.amqp.exchangeType || "direct";
    this.#expiresMs = Math.min(MAX_INT32, resultsExpireSeconds(config) * 1000);
  }

  /** Builds one from a config (its `resultBackend` URL, `amqp` section and `resultsExpireIn`). */
  static fromConfig(config: ConfigInput, options: AMQPBackendOptions = {}): AMQPBackend {
    return new AMQPBackend(config.resultBackend, { ...options, config });
  }

  /**
   * Connects now, so that an unreachable RabbitMQ is reported at start: dials once and rejects
   * with an `AMQPError` naming the URL (password hidden). Idempotent. A connection lost later is
   * reopened with back-off by the next call.
   */
  async connect(): Promise<void> {
    this.#checkOpen();
    await this.#session.connect();
  }

  #plan(name: string): QueuePlan {
    return stateQueuePlan(name, this.#exchange, this.#expiresMs);
  }

  /**
   * Declares a state queue. A queue with `x-expires` disappears once unused for that long, and a
   * publish does not count as use, so a declaration is trusted for half the expiry only.
   */
  async #declare(s: SessionScope, plan: QueuePlan): Promise<void> {
    await s.declareExchange(this.#exchange, this.#exchangeType);
    await s.declareQueue(plan, this.#expiresMs / 2);
  }

  /** Publishes a state to the task's queue, and a final one to its group's queue too. */
  protected async writeState(signature: Signature, state: TaskState): Promise<void> {
    this.#checkOpen();
    const body = encodeTaskState(state);
    const targets = [this.#plan(signature.uuid)];
    const final = state.state === "SUCCESS" || state.state === "FAILURE";
    if (final && signature.groupUUID && signature.groupTaskCount) {
      targets.push(this.#plan(signature.groupUUID));
    }
    await this.#session.run(async (s) => {
      for (const plan of targets) {
        await this.#declare(s, plan);
        await s.publish(this.#exchange, plan.queue, body, {
          contentType: JSON_TYPE,
          persistent: true,
        });
      }
    });
  }

  /** Does nothing: the group queue is made by its members' final states (as in machinery). */
  initGroup(_groupUUID: string, _taskUUIDs: string[]): Promise<void> {
    return Promise.resolve();
  }

  /** True when the group queue holds at least `groupTaskCount` final states. */
  async groupCompleted(groupUUID: string, groupTaskCount: number): Promise<boolean> {
    this.#checkOpen();
    const count = await this.#session.run(async (s) => {
      await s.declareExchange(this.#exchange, this.#exchangeType);
      const ch = await s.channel();
      const plan = this.#plan(groupUUID);
      // A declaration (not a passive check, which would close the channel on a missing queue)
      // answers with the number of ready messages.
      const reply = await ch.assertQueue(plan.queue, {
        durable: plan.durable,
        autoDelete: plan.autoDelete,
        arguments: plan.args,
      });
      return reply.messageCount;
    });
    return count >= groupTaskCount;
  }

  /**
   * The members' final states in completion order, one per task. The messages are read and given
   * back, so the states stay until they expire.
   */
  async groupTaskStates(groupUUID: string, groupTaskCount: number): Promise<TaskState[]> {
    this.#checkOpen();
    const states = await this.#session.run(async (s) => {
      await this.#declare(s, this.#plan(groupUUID));
      const ch = await s.channel();
      const messages: Exclude<Awaited<ReturnType<typeof ch.get>>, false>[] = [];
      try {
        for (;;) {
          const message = await ch.get(groupUUID, { noAck: false });
          if (message === false) break;
          messages.push(message);
        }
      } finally {
        try {
          // One by one: other reads share this channel, and nackAll would take theirs too.
          for (const message of messages) ch.nack(message, false, true);
        } catch {
          // The channel is gone: RabbitMQ gives the messages back anyway.
        }
      }
      return messages.map((m) => m.content.toString("utf8"));
    });
    const byTask = new Map<string, TaskState>();
    for (const body of states) {
      const state = decodeTaskState(body);
      byTask.delete(state.taskUUID);
      byTask.set(state.taskUUID, state);
    }
    if (byTask.size < groupTaskCount) {
      throw new GroupNotFoundError(
        groupUUID,
        `Group ${groupUUID} has ${byTask.size} of ${groupTaskCount} final states`,
      );
    }
    return [...byTask.values()];
  }

  /**
   * True for exactly one caller per group: the first publish into `<group>_chord_triggered`
   * (a queue of at most one message that rejects further publishes) is confirmed, later ones are
   * refused. If a retry after a lost connection is refused, the marker is read to see whether
   * the first try won after all.
   */
  async triggerChord(groupUUID: string): Promise<boolean> {
    this.#checkOpen();
    const plan = chordQueuePlan(groupUUID, this.#expiresMs);
    const token = crypto.randomUUID();
    const body = token;
    return await this.#session.run(async (s, attempt) => {
      await s.declareQueue(plan, this.#expiresMs / 2);
      try {
        await s.publish("", plan.queue, body, { contentType: "text/plain", persistent: true });
        return true;
      } catch (error) {
        if (!(error instanceof PublishNackedError)) throw error;
        if (attempt === 1) return false;
        const ch = await s.channel();
        const marker = await ch.get(plan.queue, { noAck: false });
        if (marker === false) return false;
        ch.nack(marker, false, true);
        return marker.content.toString("utf8") === token;
      }
    });
  }

  /**
   * The latest state of a task. Older states in its queue are consumed; the latest is given
   * back, so it stays for the next reader. Rejects with `StateNotFoundError` (`No state ready`)
   * when the queue is empty.
   */
  async getState(taskUUID: string): Promise<TaskState> {
    this.#checkOpen();
    const body = await this.#session.run(async (s) => {
      await this.#declare(s, this.#plan(taskUUID));
      const ch = await s.channel();
      let latest: Awaited<ReturnType<typeof ch.get>> = false;
      try {
        for (;;) {
          const message = await ch.get(taskUUID, { noAck: false });
          if (message === false) break;
          if (latest) ch.ack(latest);
          latest = message;
        }
      } catch (error) {
        if (latest) {
          try {
            ch.nack(latest, false, true);
          } catch {
            // The channel is gone: RabbitMQ gives the message back anyway.
          }
        }
        throw error;
      }
      if (!latest) return undefined;
      ch.nack(latest, false, true);
      return latest.content.toString("utf8");
    });
    if (body === undefined) throw new StateNotFoundError("No state ready");
    return decodeTaskState(body);
  }

  /** Deletes the task's state queue. */
  async purgeState(taskUUID: string): Promise<void> {
    this.#checkOpen();
    await this.#deleteQueues([taskUUID]);
  }

  /** Deletes the group's queues: `<group>_chord_triggered` and `<group>`. */
  async purgeGroupMeta(groupUUID: string): Promise<void> {
    this.#checkOpen();
    await this.#deleteQueues([`${groupUUID}_chord_triggered`, groupUUID]);
  }

  async #deleteQueues(names: string[]): Promise<void> {
    await this.#session.run(async (s) => {
      const ch = await s.channel();
      for (const name of names) {
        await ch.deleteQueue(name);
        s.forget(name);
      }
    });
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#session.close();
  }

  /** Closes the backend at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError("The AMQP result backend is closed");
  }
}
