/**
 * A RabbitMQ cluster of the test's own (three nodes on this machine, or as many as start within
 * 90 s, said in the test names) with quorum queues, reached through a multi-URL broker config
 * (the nodes' URLs joined by `multipleBrokerSeparator`, tried in order):
 *
 * - the end-to-end suite on it;
 * - fault scenario: a worker process consumes while the test sends tasks, and the node both are
 *   connected to (the first URL, where the queue's leader was elected) is killed with SIGKILL.
 *   The quorum queue elects a new leader on the two nodes left; worker and sender reconnect to
 *   the next URL. A send counts as confirmed once RabbitMQ confirmed its publish (the broker
 *   publishes with confirms); every confirmed task must complete.
 *
 * The cluster is started once for the file and torn down by the fault scenario's `finally`
 * (it runs last), and killed after 10 minutes whatever happens.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { type ConfigInput, newSignature, Server, silentLogger } from "../../mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { RedisBackend } from "../../src/redis/mod.ts";
import { waitFor } from "../helpers.ts";
import { uniqueName } from "../integration/amqp_support.ts";
import { conformanceSuite } from "../conformance/suite.ts";
import { amqpBackend, amqpBroker } from "../conformance/adapters.ts";
import {
  type OwnRabbitCluster,
  ownRabbitSkipReason,
  startOwnRabbitCluster,
} from "./own_rabbitmq.ts";
import {
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  killAll,
  recordRow,
  REDIS_URL,
  redisClient,
  runCounts,
  skipReason,
  startWorker,
} from "./support.ts";

const SCENARIO = "RabbitMQ cluster node kill (quorum)";
const NODES = 3;
const SEPARATOR = " ";
const QUORUM = { "x-queue-type": "quorum" };
const CHUNK = 50;
const CHUNKS = 40;
/** The node dies once this many tasks have started. */
const KILL_AFTER_RUNS = 500;

const skip = (await skipReason("amqp")) || ownRabbitSkipReason();

let started: Promise<OwnRabbitCluster> | undefined;
/** The file's cluster, started on first use. */
function cluster(): Promise<OwnRabbitCluster> {
  started ??= startOwnRabbitCluster(NODES);
  return started;
}
const urls = async () => (await cluster()).nodes.map((n) => n.url).join(SEPARATOR);

{
  const exchange = uniqueName("cluster_conformance_exchange");
  conformanceSuite(
    `amqp broker (quorum queues) + amqp backend on a ${NODES}-node cluster`,
    async (input) => {
      const config = {
        ...input,
        resultsExpireIn: 60,
        multipleBrokerSeparator: SEPARATOR,
        amqp: {
          exchange,
          bindingKey: `${input.defaultQueue}_task`,
          prefetchCount: 10,
          queueDeclareArgs: QUORUM,
        },
      };
      // The result backend takes one URL: the first node's.
      const backendURL = (await cluster()).nodes[0].url;
      return { broker: amqpBroker(config, await urls()), backend: amqpBackend(config, backendURL) };
    },
    {
      skip,
      config: { multipleBrokerSeparator: SEPARATOR, amqp: { exchange, queueDeclareArgs: QUORUM } },
    },
  );
}

describeFault(SCENARIO, "amqp", skip, () => {
  it(`kill -9 of one of ${NODES} nodes mid-run: every confirmed send completes`, {
    timeout: 240_000,
  }, async () => {
    const queue = uniqueName("faults_rabbit_cluster");
    const exchange = `${queue}_exchange`;
    const keyPrefix = `${queue}:`;
    const runsKey = `${keyPrefix}runs`;
    const redis = redisClient();
    const children: Child[] = [];
    const uuids: string[] = [];
    const confirmed: string[] = [];
    let failedSends = 0;
    let firstError = "";
    let server: Server | undefined;
    try {
      const topology = await cluster();
      assert.equal(topology.nodes.length, NODES, `only ${topology.nodes.length} nodes started`);
      const url = await urls();
      const config: ConfigInput = {
        defaultQueue: queue,
        resultsExpireIn: 600,
        multipleBrokerSeparator: SEPARATOR,
        amqp: { exchange, bindingKey: queue, queueDeclareArgs: QUORUM },
      };
      server = new Server({
        config,
        broker: new AMQPBroker(url, { config, publishRetryMs: 60_000, logger: silentLogger }),
        backend: new RedisBackend(REDIS_URL, { config, keyPrefix, logger: silentLogger }),
        logger: silentLogger,
      });
      children.push(
        await startWorker({
          FAULT_BROKER: "amqp",
          BROKER_URL: url,
          BROKER_SEPARATOR: SEPARATOR,
          QUEUE_DECLARE_ARGS: JSON.stringify(QUORUM),
          BACKEND_URL: REDIS_URL,
          QUEUE: queue,
          KEY_PREFIX: keyPrefix,
          EXCHANGE: exchange,
          CONCURRENCY: "10",
          FAULTS_COUNTER_URL: REDIS_URL,
          FAULTS_RUNS_KEY: runsKey,
          FAULTS_TASK_MS: "10",
        }),
      );
      const sender = (async () => {
        for (let c = 0; c < CHUNKS; c++) {
          const sigs = Array.from(
            { length: CHUNK },
            // `work` counts its runs by its argument: each task has its own.
            (_, i) =>
              newSignature("work", [{ name: "", type: "string", value: `t${c * CHUNK + i}` }]),
          );
          uuids.push(...sigs.map((s) => s.uuid));
          const sent = await Promise.allSettled(sigs.map((s) => server!.sendTask(s)));
          sent.forEach((r, i) => {
            if (r.status === "fulfilled") confirmed.push(sigs[i].uuid);
            else {
              failedSends++;
              firstError ||= String(r.reason?.message ?? r.reason).slice(0, 120);
            }
          });
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await waitFor(
        async () => (await redis.hlen(runsKey)) >= KILL_AFTER_RUNS,
        `${KILL_AFTER_RUNS} tasks started`,
        60_000,
      );
      const killedAt = Date.now();
      await topology.nodes[0].kill();
      assert.throws(() => topology.ctl(topology.nodes[0].name, ["ping"], 20_000), "node 1 is down");
      await sender;
      const sendMs = Date.now() - killedAt;

      let states = new Map<string, number>();
      await waitFor(
        async () => {
          states = await countStates(redis, confirmed);
          return states.get("SUCCESS") === confirmed.length;
        },
        "every confirmed task SUCCESS",
        90_000,
      ).catch(() => {});
      const lost = confirmed.length - (states.get("SUCCESS") ?? 0);
      const runs = await runCounts(redis, runsKey);
      recordRow({
        scenario: SCENARIO,
        broker: "amqp",
        tasks: confirmed.length,
        lost,
        duplicated: runs.total - runs.distinct,
        badInputs: 0,
        peakRssMiB: children[0].peakRssMiB(),
        outcome: lost === 0
          ? `confirmed all SUCCESS on ${NODES - 1} of ${NODES} nodes; sends done ${sendMs} ms ` +
            `after the kill; ${failedSends} sends failed (${firstError})`
          : `${lost} confirmed not SUCCESS: ${JSON.stringify(Object.fromEntries(states))}`,
      });
      assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(states))}`);
      assert.equal(uuids.length, CHUNK * CHUNKS);
    } finally {
      await killAll(children);
      await server?.close().catch(() => {});
      // The queues go with the cluster.
      await (started ?? Promise.reject()).then((c) => c.stop(), () => {});
      await deleteKeys(redis, uuids);
      await deletePrefix(redis, keyPrefix);
      redis.disconnect();
    }
  });
});
