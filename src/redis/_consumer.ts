/**
 * One consumer of one queue: the at-least-once fetch loop of the Redis broker.
 *
 * It takes messages with an atomic move (a Lua `LPOP n` + `HSET` batch) from the queue into a
 * processing hash of its own, where each gets a sequence number, renews a lease while it
 * lives, and settles each delivery by its number: an ack is a plain `HDEL` of a few bytes, and
 * requeue and reject are scripts that remove the entry and put the message elsewhere in the
 * same step. When the queue is empty it waits in `BLMOVE`, which moves one message into a
 * landing list of its own; the next fetch numbers it. A message is therefore always in exactly
 * one of: the queue, a landing list, a processing hash, the delayed/requeued sets, the
 * dead-letter list.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { Delivery } from "../broker.ts";
import type { BrokerKeys } from "./_keys.ts";
import { Batcher } from "./_batcher.ts";
import { PRIORITY_PASS_LIMIT, PRIORITY_PICK } from "./_priority.ts";
import {
  BEAT,
  FETCH,
  REJECT,
  RELEASE,
  REQUEUE,
  REQUEUE_LATER,
  requeuedMember,
  RETIRE,
  runScript,
} from "./_broker_scripts.ts";

/** What a consumer needs from its broker. */
export interface ConsumerOptions {
  /** The broker's command client (scripts, auto-pipelined). */
  commands: Redis;
  /** This consumer's own client for BLMOVE. */
  blocking: Redis;
  /**
   * True on a Redis Cluster: the BLMOVE waits with its reply on (a cluster client has one
   * connection per node, so no raw `CLIENT REPLY SKIP` write), and a wait is never cut short
   * (`CLIENT UNBLOCK` needs the node's connection id): it ends within `blockSeconds`.
   */
  cluster?: boolean;
  /** The broker's keys. */
  keys: BrokerKeys;
  /** The consumer id (unique). */
  id: string;
  /** The queue. */
  queue: string;
  /** The most unsettled deliveries. */
  capacity: number;
  /** The BLMOVE wait in seconds. */
  blockSeconds: number;
  /** The lease length in ms (checked on each heartbeat, used when retiring). */
  leaseMs: number;
  /** Heartbeat period in ms. */
  heartbeatMs: number;
  /** The most entries kept in a dead-letter list. */
  deadLetterLimit: number;
  /** The most bytes kept in a dead-letter list. */
  deadLetterMaxBytes: number;
  /** The most bytes of a body a dead letter keeps. */
  deadLetterBodyBytes: number;
  /** Bodies longer than this (UTF-8 bytes) are set aside in Redis, never read whole (0: any). */
  maxMessageBytes: number;
  /** Reports errors that do not stop the loop (heartbeats, settles). */
  onError: (error: Error) => void;
  /** Told whether both connections are up, so the worker's `/readyz` can say so. */
  onConsuming?: (consuming: boolean) => void;
  /**
   * The queue's priority lists (level 1 first) and pass counts, when `redis.priorityQueues` is
   * on: each fetch is preceded by a pick from them (`_priority.ts`).
   */
  priority?: { levels: string[]; passes: string };
}

const MAX_BATCH = 500;

/** Fetches from one queue into its processing hash and hands out deliveries. */
export class QueueConsumer {
  readonly #o: ConsumerOptions;
  readonly #proc: string;
  readonly #landing: string;
  /** The sequence number the next fetched message gets in the processing hash. */
  #nextSeq = 1;
  /** Sequence numbers handed out and not yet settled (or whose ack is on its way). */
  readonly #held = new Set<number>();
  #slotWaiters: (() => void)[] = [];
  #needsReconcile = false;
  /**
   * Deliveries numbered below this were given back when the lease lapsed (another worker takes
   * them): they are dropped, not run or settled.
   */
  #lostBelow = 0;
  /** When (`performance.now()`) the last heartbeat that renewed the lease was sent. */
  #renewedAt = 0;
  /** The heartbeat on its way, if any (a lease check waits for it rather than sending another). */
  #beating?: Promise<void>;
  #heartbeat?: ReturnType<typeof setInterval>;
  #blockingId?: number;
  #blocked = false;
  /** A priority task arrived since the last pick: the next wait must not block. */
  #woken = false;
  #loopDone = false;
  #retired?: Promise<void>;
  readonly #acks: Batcher<number>;
  /**
   * Acks queued and not yet answered, by sequence number (deliveries of one batch share its
   * promise): still held (for reconcile), no longer counted against the capacity; retiring
   * waits for them.
   */
  readonly #pendingAcks = new Map<number, Promise<unknown>>();
  #readyListener = () => {
    this.#needsReconcile = true;
    this.#refreshBlockingId();
    const { commands, blocking } = this.#o;
    if (commands.status === "ready" && blocking.status === "ready") this.#o.onConsuming?.(true);
  };
  #lostListener = () => this.#o.onConsuming?.(false);

  /** Makes a consumer; `run` starts it. */
  constructor(options: ConsumerOptions) {
    this.#o = options;
    this.#proc = options.keys.processing(options.id);
    this.#landing = options.keys.landing(options.id);
    this.#acks = new Batcher((seqs) => options.commands.hdel(this.#proc, ...seqs.map(String)));
  }

  /** The queue it consumes. */
  get queue(): string {
    return this.#o.queue;
  }

  /** The processing hash's key. */
  get processingKey(): string {
    return this.#proc;
  }

  /** Deliveries handed out and not settled (an ack on its way counts as settled). */
  get unsettled(): number {
    return this.#held.size - this.#pendingAcks.size;
  }

  /** True once the consumer released everything and stopped its heartbeat. */
  get retired(): boolean {
    return this.#retired !== undefined;
  }

  /**
   * Takes the lease, then fetches and delivers until `signal` aborts. Rejects when Redis fails;
   * deliveries already handed out stay valid either way.
   */
  async run(signal: AbortSignal, handler: (delivery: Delivery) => void): Promise<void> {
    const { commands, blocking, keys, id, queue } = this.#o;
    const onAbort = () => this.#unblock();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      this.#renewedAt = performance.now();
      await runScript(commands, BEAT, this.#beatKeys(), [id, 0]);
      this.#heartbeat = setInterval(() => {
        this.#beat().catch((e) => this.#o.onError(e));
      }, this.#o.heartbeatMs);
      commands.on("ready", this.#readyListener);
      blocking.on("ready", this.#readyListener);
      commands.on("close", this.#lostListener);
      blocking.on("close", this.#lostListener);
      await this.#refreshBlockingId();
      this.#o.onConsuming?.(true);
      while (!signal.aborted) {
        if (this.#needsReconcile) {
          this.#needsReconcile = false;
          await this.#reconcile();
        }
        const free = this.#o.capacity - this.unsettled;
        if (free <= 0) {
          await this.#waitForSlot(signal);
          continue;
        }
        const want = Math.min(free, MAX_BATCH);
        const first = this.#nextSeq;
        // Numbers are never reused, even when the reply is lost (reconcile finds those).
        this.#nextSeq += want;
        // Sent without waiting: the fetch goes behind it on the same connection.
        const picked = this.#o.priority ? this.#pick(want) : undefined;
        picked?.catch(() => {}); // Reported by the await below, unless the fetch fails first.
        const items = await runScript<(string | [number, string][])[]>(commands, FETCH, [
          queue,
          this.#proc,
          this.#landing,
          keys.dead(queue),
          keys.deadBytes(queue),
        ], [
          want,
          first,
          this.#o.maxMessageBytes,
          this.#o.deadLetterLimit,
          this.#o.deadLetterMaxBytes,
          this.#o.deadLetterBodyBytes,
          queue,
        ]);
        if (picked) await picked;
        const aside = typeof items.at(-1) === "object" ? items.pop() as [number, string][] : [];
        for (const [size, start] of aside) this.#deliverOversize(size, start, handler);
        if (items.length === 0 && aside.length === 0 && !signal.aborted) {
          // The next fetch numbers what landed (and takes what came behind it).
          await this.#waitForMessage();
          continue;
        }
        if (signal.aborted) {
          // Taken while stopping: give them straight back, to the head of the queue.
          if (items.length > 0) {
            await this.#release(items.map((_, i) => first + i));
          }
          break;
        }
        for (let i = 0; i < items.length; i++) {
          this.#deliver(first + i, items[i] as string, handler);
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#loopDone = true;
      this.#wakeSlots();
      if (this.unsettled === 0) await this.retire().catch((e) => this.#o.onError(e));
    }
  }

  /**
   * Gives back whatever is still in the processing hash or the landing list (unsettled
   * deliveries of an abrupt stop, or messages moved for us whose reply was lost) to the head of
   * the queue, once the acks on their way have landed; stops the heartbeat and closes the
   * blocking client. Idempotent.
   */
  retire(): Promise<void> {
    this.#retired ??= (async () => {
      clearInterval(this.#heartbeat);
      const { commands, blocking, keys, id, queue, leaseMs } = this.#o;
      commands.off("ready", this.#readyListener);
      blocking.off("ready", this.#readyListener);
      commands.off("close", this.#lostListener);
      blocking.off("close", this.#lostListener);
      try {
        // An ack still on its way would otherwise find its message moved back to the queue.
        await Promise.allSettled(this.#pendingAcks.values());
        await runScript(commands, RETIRE, [
          keys.consumers,
          keys.consumerQueues,
          this.#proc,
          this.#landing,
          queue,
        ], [id, leaseMs]);
      } finally {
        blocking.disconnect();
      }
    })();
    return this.#retired;
  }

  /**
   * A priority task was queued for this queue: an idle consumer stops waiting on Go's list and
   * picks again.
   */
  wake(): void {
    this.#woken = true;
    if (this.#blocked) this.#unblock();
  }

  /** Moves a pick of the priority lists' heads into the landing list, for the fetch behind it. */
  #pick(want: number): Promise<unknown> {
    const { commands, queue, priority } = this.#o;
    this.#woken = false;
    return runScript(commands, PRIORITY_PICK, [
      queue,
      this.#landing,
      priority!.passes,
      ...priority!.levels,
    ], [want, PRIORITY_PASS_LIMIT]);
  }

  #beatKeys(): string[] {
    const { keys, queue } = this.#o;
    return [keys.consumers, keys.consumerQueues, this.#proc, this.#landing, queue];
  }

  /**
   * Renews the lease. When it had lapsed (the process was paused, say), Redis gave back what
   * this consumer held, so every delivery fetched before this beat is dropped here.
   */
  #beat(): Promise<void> {
    this.#beating ??= (async () => {
      const sentAt = performance.now();
      // Fetches sent before this beat usually ran before it (one connection), but not always:
      // a cluster client resends a dead node's commands each on its own timer. So a lapse also
      // reconciles, which gives back a fetch that landed after the beat (see `#deliver`).
      const fetchedBefore = this.#nextSeq;
      try {
        const lapsed = await runScript<number>(this.#o.commands, BEAT, this.#beatKeys(), [
          this.#o.id,
          this.#o.leaseMs,
        ]);
        this.#renewedAt = Math.max(this.#renewedAt, sentAt);
        if (lapsed === 1) this.#lapsed(fetchedBefore);
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  #lapsed(fetchedBefore: number): void {
    this.#lostBelow = Math.max(this.#lostBelow, fetchedBefore);
    this.#needsReconcile = true;
    let dropped = 0;
    for (const seq of this.#held) {
      // An ack on its way keeps its place until it lands (it is a no-op now).
      if (seq < fetchedBefore && !this.#pendingAcks.has(seq)) {
        this.#held.delete(seq);
        dropped++;
      }
    }
    this.#wakeSlots();
    this.#o.onError(
      new Error(
        `The lease of Redis consumer "${this.#o.id}" lapsed: the ${dropped} messages it held were given back, and it drops its copies`,
      ),
    );
  }

  /**
   * Waits up to `blockSeconds` for the queue to receive a message, which a `BLMOVE` moves into
   * the landing list. The BLMOVE's reply is switched off (`CLIENT REPLY SKIP`, written straight
   * to the socket because ioredis would wait for a reply that never comes): it would carry the
   * message, and a body of any size must reach this process only through the fetch script,
   * which measures it first. The PING behind it answers once the BLMOVE returned.
   */
  async #waitForMessage(): Promise<void> {
    const { blocking, queue, blockSeconds } = this.#o;
    const socket =
      (blocking as unknown as { stream?: { writable?: boolean; write(s: string): boolean } })
        .stream;
    if (this.#woken) return;
    if (this.#o.cluster) {
      this.#blocked = true;
      try {
        await blocking.blmove(queue, this.#landing, "LEFT", "RIGHT", blockSeconds);
      } finally {
        this.#blocked = false;
      }
      return;
    }
    if (blocking.status !== "ready" || !socket?.writable) {
      await blocking.ping();
      return;
    }
    this.#blocked = true;
    try {
      socket.write(
        respCommand(["CLIENT", "REPLY", "SKIP"]) +
          respCommand(["BLMOVE", queue, this.#landing, "LEFT", "RIGHT", String(blockSeconds)]),
      );
      await blocking.ping();
    } finally {
      this.#blocked = false;
    }
  }

  /**
   * Whether delivery `seq` is still this consumer's. Answered at once while the lease was renewed
   * within half its length; otherwise (the process may have been paused past it) it renews the
   * lease first, which tells whether it lapsed. When Redis cannot answer, it is assumed held.
   */
  #stillHeld(seq: number): Promise<boolean> {
    if (seq < this.#lostBelow) return Promise.resolve(false);
    if (performance.now() - this.#renewedAt < this.#o.leaseMs / 2) return Promise.resolve(true);
    return this.#beat().then(() => seq >= this.#lostBelow, (error) => {
      this.#o.onError(error instanceof Error ? error : new Error(String(error)));
      return seq >= this.#lostBelow;
    });
  }

  async #refreshBlockingId(): Promise<void> {
    if (this.#o.cluster) return;
    try {
      this.#blockingId = Number(await this.#o.blocking.call("CLIENT", "ID"));
    } catch {
      this.#blockingId = undefined;
    }
  }

  /** Wakes a BLMOVE in progress (it returns nothing, or the message it just moved). */
  #unblock(): void {
    this.#wakeSlots();
    if (!this.#blocked || this.#o.cluster) return;
    if (this.#blockingId === undefined) {
      this.#o.blocking.disconnect();
      return;
    }
    this.#o.commands.call("CLIENT", "UNBLOCK", this.#blockingId).catch(() =>
      this.#o.blocking.disconnect()
    );
  }

  /** Compares the processing hash with what this process holds; the extra goes back. */
  async #reconcile(): Promise<void> {
    const seqs = await this.#o.commands.hkeys(this.#proc);
    const extra = seqs.map(Number).filter((seq) => !this.#held.has(seq)).sort((a, b) => a - b);
    if (extra.length > 0) await this.#release(extra);
  }

  /** Gives entries back to the head of the queue, in order. */
  #release(seqs: number[]): Promise<unknown> {
    return runScript(this.#o.commands, RELEASE, [this.#proc, this.#o.queue], seqs);
  }

  #waitForSlot(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.#slotWaiters.push(resolve));
  }

  #wakeSlots(): void {
    const waiters = this.#slotWaiters;
    this.#slotWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Hands over a message the fetch script set aside for its size (already a dead letter): the
   * worker sees its size and first bytes, to log it and record a FAILURE under its UUID;
   * settling it changes nothing in Redis.
   */
  #deliverOversize(size: number, start: string, handler: (delivery: Delivery) => void): void {
    const done = (): Promise<void> => Promise.resolve();
    try {
      handler({
        body: start,
        redelivered: false,
        oversizeBytes: size,
        ack: done,
        requeue: done,
        reject: done,
      });
    } catch (error) {
      this.#o.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #deliver(seq: number, body: string, handler: (delivery: Delivery) => void): void {
    // Numbered before a heartbeat that found the lease lapsed: that beat gave it back, unless
    // the fetch ran after the beat; then it is still in the processing hash, not held, and the
    // reconcile pass the lapse asked for gives it back.
    if (seq < this.#lostBelow) {
      this.#needsReconcile = true;
      return;
    }
    this.#held.add(seq);
    let settled = false;
    const { commands, keys, queue } = this.#o;
    const proc = this.#proc;
    /**
     * Runs the settling script. An ack frees the capacity slot as soon as it is queued, so the
     * next fetch can travel with it; the message stays counted as held until the ack lands, so a
     * reconcile pass never gives back a message whose ack is on its way.
     */
    const settle = async (op: () => Promise<unknown>, freeEarly = false): Promise<void> => {
      if (settled) throw new Error("The delivery was already settled");
      settled = true;
      let landed: Promise<unknown>;
      try {
        landed = op();
      } catch (error) {
        landed = Promise.reject(error);
      }
      if (freeEarly) {
        this.#pendingAcks.set(seq, landed);
        this.#wakeSlots();
      }
      try {
        await landed;
      } catch (error) {
        // Maybe done, maybe not: the reconcile pass (or retiring) gives it back if it is
        // still in the processing hash, so it is redelivered rather than lost.
        this.#needsReconcile = true;
        throw error;
      } finally {
        this.#pendingAcks.delete(seq);
        this.#held.delete(seq);
        this.#wakeSlots();
        if (this.#loopDone && this.unsettled === 0) {
          this.retire().catch((e) => this.#o.onError(e));
        }
      }
    };
    const delivery: Delivery = {
      body,
      redelivered: false,
      ack: () => settle(() => this.#acks.add(seq), true),
      requeue: (delayMs, replacement = body) =>
        settle(() =>
          delayMs > 0
            ? runScript(commands, REQUEUE_LATER, [proc, keys.requeued], [
              seq,
              Math.round(delayMs),
              requeuedMember(queue, replacement),
              keys.channel,
            ])
            : runScript(commands, REQUEUE, [proc, queue], [seq, replacement])
        ),
      reject: (reason) =>
        settle(() =>
          runScript(commands, REJECT, [proc, keys.dead(queue), keys.deadBytes(queue)], [
            seq,
            deadLetterEntry(queue, reason, body, this.#o.deadLetterBodyBytes),
            this.#o.deadLetterLimit,
            this.#o.deadLetterMaxBytes,
          ])
        ),
      stillHeld: () => this.#stillHeld(seq),
    };
    try {
      handler(delivery);
    } catch (error) {
      this.#o.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** A command in RESP (an array of bulk strings), as a client writes it. */
function respCommand(args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${UTF8.encode(arg).length}\r\n${arg}\r\n`;
  return out;
}

const UTF8 = new TextEncoder();

/**
 * A dead-letter entry: JSON `{queue, reason, rejectedAt, body, bytes, truncated}`, the body cut
 * to its first `keepBytes` bytes so that one huge message cannot fill the store.
 */
export function deadLetterEntry(
  queue: string,
  reason: string,
  body: string,
  keepBytes: number,
): string {
  const encoded = UTF8.encode(body);
  const truncated = encoded.length > keepBytes;
  const kept = truncated ? new TextDecoder().decode(encoded.subarray(0, keepBytes)) : body;
  const rejectedAt = new Date().toISOString();
  return JSON.stringify({
    queue,
    reason,
    rejectedAt,
    body: kept,
    bytes: encoded.length,
    truncated,
  });
}
