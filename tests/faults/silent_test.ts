/**
 * Fault scenario: a silent endpoint. The worker's broker address accepts TCP and never answers
 * (a proxy of this test holding every connection); 20 tasks wait in the real queue. The worker
 * must not hang: each connect attempt gives up after `connectTimeout` (1 s here), is logged
 * with the URL (password hidden), and is retried with back-off. Once the address answers (the
 * proxy starts forwarding to the real server), the worker connects and every task completes.
 * The worker runs in this process (its logger is read directly), so the peak RSS reported is
 * this process's.
 */
import { it } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { type Broker, type Logger, newSignature, Server, type Signature } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP } from "../integration/amqp_support.ts";
import { startProxy } from "../integration/net_support.ts";
import {
  AMQP_URL,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  faultRig,
  recordRow,
  REDIS_URL,
  skipReason,
} from "./support.ts";

const SCENARIO = "silent endpoint";
const TASKS = 20;
/** Failed attempts to see logged before the endpoint starts answering. */
const ATTEMPTS = 2;

/** A logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    verbose: false,
    debug: () => {},
    info: (m) => lines.push(`INFO: ${m}`),
    warn: (m) => lines.push(`WARNING: ${m}`),
    error: (m) => lines.push(`ERROR: ${m}`),
  };
}

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it(`a worker retries a silent ${kind} broker with logged attempts, then loses nothing`, {
      timeout: 90_000,
    }, async () => {
      const { queue, exchange, keyPrefix, config, server, redis } = faultRig(kind, "silent");
      const real = new URL(kind === "redis" ? REDIS_URL : AMQP_URL);
      const proxy = await startProxy({
        target: {
          host: real.hostname,
          port: Number(real.port || (kind === "redis" ? 6379 : 5672)),
        },
      });
      const proxied = new URL(real.href);
      proxied.hostname = "127.0.0.1";
      proxied.port = String(proxy.port);
      if (kind === "amqp") proxied.password = "guest"; // a password to see hidden in the logs
      const workerConfig = { ...config, connectTimeout: 1 };
      const broker: Broker = kind === "redis"
        ? new RedisBroker(proxied.href, { config: workerConfig, keyPrefix, onError: () => {} })
        : new AMQPBroker(proxied.href, { config: workerConfig });
      const logger = recordingLogger();
      const workerServer = new Server({
        config: workerConfig,
        broker,
        backend: new RedisBackend(REDIS_URL, { config: workerConfig, keyPrefix }),
        logger,
      });
      const runs = new Map<string, number>();
      workerServer.registerTask("work", (s: string) => {
        runs.set(s, (runs.get(s) ?? 0) + 1);
        return s;
      });
      const worker = workerServer.newWorker(`faults_silent_${kind}`, 5);
      const sigs: Signature[] = Array.from(
        { length: TASKS },
        (_, i) => newSignature("work", [{ name: "", type: "string", value: `t${i}` }]),
      );
      const uuids = sigs.map((s) => s.uuid);
      let running: Promise<void> | undefined;
      let peakRss = 0;
      const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
      try {
        for (const sig of sigs) await server.sendTask(sig);
        running = worker.launch();
        const retries = () => logger.lines.filter((l) => /Retrying in \d+ seconds/.test(l));
        await waitFor(
          () => sampleRss() && retries().length >= ATTEMPTS,
          `${ATTEMPTS} logged retries`,
          30_000,
        );
        const failures = logger.lines.filter((l) => l.includes("Broker failed with error"));
        assert.ok(failures.length >= ATTEMPTS, logger.lines.join("\n"));
        for (const line of failures) {
          assert.match(line, /no reply within 1 s/);
          assert.ok(line.includes(`127.0.0.1:${proxy.port}`), line);
          assert.doesNotMatch(line, /guest:guest/);
        }
        assert.equal(runs.size, 0, "nothing ran while the broker was silent");

        proxy.setMode("forward");
        let states = new Map<string, number>();
        await waitFor(
          async () => {
            sampleRss();
            states = await countStates(redis, uuids);
            return states.get("SUCCESS") === TASKS;
          },
          "every task SUCCESS",
          40_000,
        ).catch(() => {});
        const lost = TASKS - (states.get("SUCCESS") ?? 0);
        const duplicated = [...runs.values()].reduce((a, n) => a + n - 1, 0);
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: TASKS,
          lost,
          duplicated,
          badInputs: 0,
          peakRssMiB: Math.round(peakRss / 1048576),
          outcome: lost === 0
            ? `${retries().length} connect attempts timed out and were logged, then all SUCCESS`
            : `${lost} not SUCCESS: ${JSON.stringify(Object.fromEntries(states))}`,
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(states))}`);
      } finally {
        await worker.quit();
        await running?.catch(() => {});
        await workerServer.close();
        await server.close();
        await proxy.close();
        await deleteKeys(redis, [...uuids, queue]);
        await deletePrefix(redis, keyPrefix);
        redis.disconnect();
        if (kind === "amqp") {
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
      }
    });
  });
}
