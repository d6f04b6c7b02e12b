/**
 * machinery's RabbitMQ topology as data: queue names, declare arguments (with Go's integer
 * widths) and the routing-key rules (`docs/wire.md#amqp`). Pure functions; nothing here talks to RabbitMQ.
 *
 * @module
 */

/** The parts of the configuration the topology depends on. */
export interface TopologySettings {
  /** The exchange (`machinery_exchange`). */
  exchange: string;
  /** The exchange type (`direct`). */
  exchangeType: string;
  /** The binding key of the default queue (`machinery_task`). */
  bindingKey: string;
  /** The default queue (`machinery_tasks`). */
  defaultQueue: string;
  /** QueueDeclareArgs for work and delay queues (null: none). */
  queueDeclareArgs: Record<string, unknown> | null;
  /** QueueBindingArgs for work and delay bindings (null: none). */
  queueBindingArgs: Record<string, unknown> | null;
  /** Auto-delete for delay queues. */
  autoDelete: boolean;
  /** One named delay queue with per-message TTLs (`""`: a queue per delay). */
  delayedQueue: string;
}

/** A queue declaration and the binding that goes with it. */
export interface QueuePlan {
  /** The queue name. */
  queue: string;
  /** Durable flag. */
  durable: boolean;
  /** Auto-delete flag. */
  autoDelete: boolean;
  /** Declare arguments, as an AMQP table (typed numbers use amqplib's `{"!": type}` form). */
  args: Record<string, unknown>;
  /** The exchange to bind to, or `""` for none (the default exchange routes by queue name). */
  bindExchange: string;
  /** The binding key. */
  bindingKey: string;
  /** Binding arguments. */
  bindingArgs: Record<string, unknown>;
}

/** An AMQP long (Go `int64`), written with the `l` tag as Go's client writes it. */
export function int64(value: number): { "!": "long"; value: number } {
  return { "!": "long", value };
}

/** An AMQP signed int (Go `int32`), written with the `I` tag. */
export function int32(value: number): { "!": "int"; value: number } {
  return { "!": "int", value };
}

/** Whether QueueDeclareArgs ask for quorum queues (`"x-queue-type": "quorum"`). */
export function isQuorum(s: TopologySettings): boolean {
  return s.queueDeclareArgs?.["x-queue-type"] === "quorum";
}

/**
 * The queue type our own queues (delay, requeue, dead letters) follow: with quorum work queues
 * they are quorum queues too, so a message waiting out a delay or set aside survives the loss
 * of a node as the work queue does (`docs/sizing.md`).
 */
function queueTypeArgs(s: TopologySettings): Record<string, unknown> {
  return isQuorum(s) ? { "x-queue-type": "quorum" } : {};
}

/**
 * The work queue's declare arguments. On a quorum queue with `x-delivery-limit` and no
 * dead-letter exchange of the user's, a message delivered more often than the limit (a poison
 * task that kills its worker each time) is dead-lettered through the default exchange into
 * `<queue>.dead_letters` rather than dropped, which is RabbitMQ's default.
 */
function workQueueArgs(queue: string, s: TopologySettings): Record<string, unknown> {
  const args = { ...(s.queueDeclareArgs ?? {}) };
  if (isQuorum(s) && "x-delivery-limit" in args && !("x-dead-letter-exchange" in args)) {
    args["x-dead-letter-exchange"] = "";
    args["x-dead-letter-routing-key"] = deadLetterQueueName(queue);
  }
  return args;
}

/** Whether the work queue dead-letters into `<queue>.dead_letters`, which must exist first. */
export function deadLettersOnDeliveryLimit(queue: string, s: TopologySettings): boolean {
  return workQueueArgs(queue, s)["x-dead-letter-routing-key"] === deadLetterQueueName(queue);
}

/**
 * Go's rule (`docs/wire.md#routing-key`): an empty routing key becomes the BindingKey on a direct exchange and the DefaultQueue on
 * any other type. A set routing key is kept.
 */
export function adjustedRoutingKey(routingKey: string, s: TopologySettings): string {
  if (routingKey) return routingKey;
  return s.exchangeType === "direct" ? s.bindingKey : s.defaultQueue;
}

/**
 * The queue a worker consumes: durable, QueueDeclareArgs, bound to the exchange with the
 * BindingKey and QueueBindingArgs, as Go declares it.
 *
 * One deliberate difference: on a direct exchange a custom queue (not the DefaultQueue) is bound
 * with its own name rather than the global BindingKey, so custom-queue workers stop receiving
 * copies of every default-routed task (`docs/wire.md#amqp-queue-declarations`). A Go publisher routes to a custom queue with
 * the queue's name as the routing key, which this binding matches.
 */
export function consumerQueuePlan(queue: string, s: TopologySettings): QueuePlan {
  const custom = s.exchangeType === "direct" && queue !== s.defaultQueue;
  return {
    queue,
    durable: true,
    autoDelete: false,
    args: workQueueArgs(queue, s),
    bindExchange: s.exchange,
    bindingKey: custom ? queue : s.bindingKey,
    bindingArgs: { ...(s.queueBindingArgs ?? {}) },
  };
}

/**
 * The queue a publisher makes sure exists before publishing with `routingKey` (already adjusted).
 *
 * Go declares a queue named after the routing key on a direct exchange, so with the defaults it
 * creates `machinery_task`, a queue nobody consumes that grows forever, while a task sent before
 * any worker declared `machinery_tasks` is lost to the workers (upstream issue #484; `docs/wire.md#amqp-queue-declarations`). We declare
 * the queue that is consumed instead: when the routing key is the BindingKey (or the exchange is
 * not direct) that is the DefaultQueue bound with the BindingKey, exactly as a worker declares it;
 * any other routing key names a queue, declared and bound with its own name as Go does.
 */
export function publishQueuePlan(routingKey: string, s: TopologySettings): QueuePlan {
  if (s.exchangeType !== "direct" || routingKey === s.bindingKey) {
    return consumerQueuePlan(s.defaultQueue, s);
  }
  return {
    queue: routingKey,
    durable: true,
    autoDelete: false,
    args: workQueueArgs(routingKey, s),
    bindExchange: s.exchange,
    bindingKey: routingKey,
    bindingArgs: { ...(s.queueBindingArgs ?? {}) },
  };
}

/** `delay.<ms>.<exchange>.<routingKey>`: machinery's per-delay queue name. */
export function delayQueueName(delayMs: number, exchange: string, routingKey: string): string {
  return `delay.${delayMs}.${exchange}.${routingKey}`;
}

/**
 * The delay queue for an ETA `delayMs` ahead (`docs/wire.md#amqp-delay-queues`): with no DelayedQueue, a queue per delay with
 * a queue TTL that dead-letters back to the exchange with the task's routing key and expires
 * after twice the delay (int64 arguments, as Go writes them); with DelayedQueue, that one queue,
 * dead-lettering the same way, with the TTL set per message. With quorum work queues it is a
 * quorum queue, never auto-delete (quorum queues refuse it; `x-expires` still removes it).
 */
export function delayQueuePlan(
  delayMs: number,
  routingKey: string,
  s: TopologySettings,
): QueuePlan {
  const queue = s.delayedQueue || delayQueueName(delayMs, s.exchange, routingKey);
  const args: Record<string, unknown> = {
    "x-dead-letter-exchange": s.exchange,
    "x-dead-letter-routing-key": routingKey,
    ...queueTypeArgs(s),
  };
  if (!s.delayedQueue) {
    args["x-message-ttl"] = int64(delayMs);
    args["x-expires"] = int64(delayMs * 2);
  }
  return {
    queue,
    durable: true,
    autoDelete: s.autoDelete && !isQuorum(s),
    args,
    bindExchange: s.exchange,
    bindingKey: queue,
    bindingArgs: { ...(s.queueBindingArgs ?? {}) },
  };
}

/**
 * The queue that holds a message a worker gave back with a delay (an unregistered task, a
 * backend outage): `requeue.<ms>.<queue>`. It dead-letters through the default exchange straight
 * into `queue`, so the message returns to that queue only, never to others bound with the same
 * key. Not a machinery name: Go requeues at once, a hot loop (`docs/wire.md#unregistered-tasks-back-off`).
 * Of the work queue's type (`s`: quorum when it is).
 */
export function requeueQueuePlan(
  delayMs: number,
  queue: string,
  s?: TopologySettings,
): QueuePlan {
  return {
    queue: `requeue.${delayMs}.${queue}`,
    durable: true,
    autoDelete: false,
    args: {
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": queue,
      "x-message-ttl": int64(delayMs),
      "x-expires": int64(delayMs * 2 + 60_000),
      ...(s ? queueTypeArgs(s) : {}),
    },
    bindExchange: "",
    bindingKey: "",
    bindingArgs: {},
  };
}

/**
 * Where a worker sets aside a message it cannot run (undecodable, too large): a durable queue
 * `<queue>.dead_letters`, reached through the default exchange. Messages carry the reason in the
 * `x-machinery-reason` header and are kept until someone looks at them. Of the work queue's
 * type (`s`: quorum when it is).
 */
export function deadLetterQueuePlan(queue: string, s?: TopologySettings): QueuePlan {
  return {
    queue: deadLetterQueueName(queue),
    durable: true,
    autoDelete: false,
    args: s ? queueTypeArgs(s) : {},
    bindExchange: "",
    bindingKey: "",
    bindingArgs: {},
  };
}

/** `<queue>.dead_letters`. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead_letters`;
}

/**
 * The AMQP result backend's queue for a task or a group (`docs/wire.md#amqp-result-backend`): named after the UUID, not
 * durable, auto-delete, with int32 `x-message-ttl` and `x-expires` of ResultsExpireIn, bound to
 * the exchange with the UUID.
 */
export function stateQueuePlan(name: string, exchange: string, expiresMs: number): QueuePlan {
  return {
    queue: name,
    durable: false,
    autoDelete: true,
    args: { "x-message-ttl": int32(expiresMs), "x-expires": int32(expiresMs) },
    bindExchange: exchange,
    bindingKey: name,
    bindingArgs: {},
  };
}

/**
 * `<groupUUID>_chord_triggered`: the queue Go's TriggerChord looks for (and never creates). We
 * create it holding at most one message, rejecting further publishes, so the one publish RabbitMQ
 * confirms wins the chord; a Go worker that finds the queue does not trigger either.
 */
export function chordQueuePlan(groupUUID: string, expiresMs: number): QueuePlan {
  return {
    queue: `${groupUUID}_chord_triggered`,
    durable: false,
    autoDelete: false,
    args: {
      "x-max-length": int32(1),
      "x-overflow": "reject-publish",
      "x-expires": int32(expiresMs),
    },
    bindExchange: "",
    bindingKey: "",
    bindingArgs: {},
  };
}

/** The AMQP int32 limit for `x-expires` and `x-message-ttl` in the result backend. */
export const MAX_INT32 = 2_147_483_647;
