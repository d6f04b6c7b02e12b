/**
 * TLS server identity on every runtime: a local CA made with `openssl` for this run signs a
 * certificate for 127.0.0.1/localhost (the right one) and one for another host (an impostor
 * the CA also trusts). Redis is a `redis-server --tls-port` of our own for each; RabbitMQ sits
 * behind a TLS-terminating proxy presenting one or the other. The CA reaches the clients through
 * the `tlsCAFile` setting (`TLS_CA_FILE` for the CLI), never `NODE_EXTRA_CA_CERTS`.
 *
 * Bun used to accept the impostor (it checks names only when given a `servername`): the task
 * landed on it. Right certificate: the task is sent; wrong one: the connection is refused with
 * an error naming the URL, and nothing reaches the impostor.
 */
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describeUnless, waitFor } from "../helpers.ts";
import { startScript } from "../faults/support.ts";
import { RedisBackend, RedisBroker, RedisConnectionError, RedisLock } from "../../src/redis/mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp/mod.ts";
import { newSignature } from "../../mod.ts";
import { REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP } from "./amqp_support.ts";
import { sparePort, startProxy, type TestProxy } from "./net_support.ts";

const TIMEOUT = 60_000;
const dir = mkdtempSync(join(tmpdir(), "machinery-tls-"));
const caFile = join(dir, "ca.pem");

/** Makes the CA, the right certificate and the impostor's, all valid for two days. */
function makeCertificates(): { right: { cert: string; key: string }; wrong: typeof right } {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=machinery test CA",
  );
  const issue = (name: string, cn: string, san: string) => {
    openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
    );
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
    return {
      cert: readFileSync(join(dir, `${name}.pem`), "utf8"),
      key: readFileSync(join(dir, `${name}.key`), "utf8"),
    };
  };
  const right = issue("right", "localhost", "IP:127.0.0.1,DNS:localhost");
  const wrong = issue("wrong", "impostor.example", "DNS:impostor.example");
  return { right, wrong };
}

/**
 * Spawns `redis-server args` and resolves once its output holds `ready`; fails with its output
 * when it exits first. Stopped by pid (the caller keeps the process).
 */
async function startRedisServer(
  args: string[],
  ready: string,
  what: string,
): Promise<ChildProcess> {
  const child = spawn("redis-server", args, { stdio: "pipe" });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  let exited = false;
  child.on("exit", () => (exited = true));
  await waitFor(
    () => {
      if (exited) throw new Error(`${what} did not start:\n${output}`);
      return output.includes(ready);
    },
    what,
    10_000,
  );
  return child;
}

/** A `redis-server` of our own serving TLS only, with certificate `name`. */
async function startTLSRedis(name: string): Promise<{ port: number; process: ChildProcess }> {
  const port = await sparePort();
  const child = await startRedisServer(
    [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      join(dir, `${name}.pem`),
      "--tls-key-file",
      join(dir, `${name}.key`),
      "--tls-ca-cert-file",
      caFile,
      "--tls-auth-clients",
      "no",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    "Ready to accept connections",
    "redis-server with TLS",
  );
  return { port, process: child };
}

/**
 * A sentinel of our own serving TLS only, watching the TLS master on `masterPort` (quorum 1)
 * over TLS.
 */
async function startTLSSentinel(
  masterPort: number,
): Promise<{ port: number; process: ChildProcess }> {
  const port = await sparePort();
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      "port 0",
      `tls-port ${port}`,
      `tls-cert-file ${join(dir, "right.pem")}`,
      `tls-key-file ${join(dir, "right.key")}`,
      `tls-ca-cert-file ${caFile}`,
      "tls-auth-clients no",
      "tls-replication yes",
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${masterPort} 1`,
      "",
    ].join("\n"),
  );
  const child = await startRedisServer(
    [conf, "--sentinel"],
    "+monitor master",
    "a TLS sentinel watching the TLS master",
  );
  return { port, process: child };
}

const SENTINEL_MASTER = "machinery_tls_master";

/** Why the suite cannot run here, or false. */
async function setUp(): Promise<string | false> {
  const missing = await redisSkipReason() || await amqpSkipReason();
  if (missing) return missing;
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
  } catch {
    return "openssl is not installed";
  }
  return false;
}

const skip = await setUp();
const servers: ChildProcess[] = [];
const proxies: TestProxy[] = [];
let redisRight = 0;
let redisWrong = 0;
let sentinelRight = 0;
let amqpRight = 0;
let amqpWrong = 0;
let setupError: string | false = false;
if (!skip) {
  try {
    const { right, wrong } = makeCertificates();
    for (
      const [name, set] of [["right", (p: number) => (redisRight = p)], [
        "wrong",
        (p: number) => (redisWrong = p),
      ]] as const
    ) {
      const server = await startTLSRedis(name);
      servers.push(server.process);
      set(server.port);
    }
    const sentinel = await startTLSSentinel(redisRight);
    servers.push(sentinel.process);
    sentinelRight = sentinel.port;
    const target = {
      host: new URL(AMQP_URL).hostname,
      port: Number(new URL(AMQP_URL).port || 5672),
    };
    const good = await startProxy({ tls: right, target, mode: "forward" });
    const bad = await startProxy({ tls: wrong, target, mode: "forward" });
    proxies.push(good, bad);
    amqpRight = good.port;
    amqpWrong = bad.port;
  } catch (error) {
    // A redis-server built without TLS, for one: say so instead of failing obscurely.
    setupError = `TLS servers could not start: ${error instanceof Error ? error.message : error}`;
  }
}

after(async () => {
  for (const server of servers) server.kill("SIGKILL");
  for (const proxy of proxies) await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the CLI with `TLS_CA_FILE` set. `NODE_EXTRA_CA_CERTS` is empty unless `extraCA`: the
 * right-certificate runs prove the setting works alone; the impostor runs trust the CA both
 * ways, so that only the name check can refuse the impostor.
 */
async function cli(
  args: string[],
  extraCA = false,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { TLS_CA_FILE: caFile, NODE_EXTRA_CA_CERTS: extraCA ? caFile : "" };
  const child = startScript("cli.ts", args, env, 40_000);
  const { code } = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** The length of `queue` on our TLS Redis at `port`, read without checking its certificate. */
async function queueLength(port: number, queue: string): Promise<number> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    tls: { rejectUnauthorized: false },
    lazyConnect: true,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return await client.llen(queue);
  } finally {
    client.disconnect();
  }
}

const MISMATCH = /does not match certificate's altnames/;
const config = { tlsCAFile: caFile };

/** Sends `add(1, 2)` through the CLI on `queue` of `broker` (`extraCA`: see `cli`). */
function sendAdd(
  broker: string,
  backend: string,
  queue: string,
  extraCA = false,
): ReturnType<typeof cli> {
  const args = ["send", "add", "--arg", "int64:1", "--arg", "int64:2", "--queue", queue];
  return cli([...args, "--broker", broker, "--result-backend", backend], extraCA);
}

describeUnless(skip || setupError, "TLS server identity", () => {
  it("rediss:// with the right certificate: the task is sent", { timeout: TIMEOUT }, async () => {
    const queue = uniqueName("tls");
    for (const host of ["127.0.0.1", "localhost"]) {
      const url = `rediss://${host}:${redisRight}`;
      const run = await sendAdd(url, url, queue);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /task_[0-9a-f-]{36}/);
    }
    assert.equal(await queueLength(redisRight, queue), 2);
  });

  it("rediss:// to an impostor's certificate is refused, naming the URL", {
    timeout: TIMEOUT,
  }, async () => {
    const queue = uniqueName("tls");
    for (const host of ["127.0.0.1", "localhost"]) {
      const url = `rediss://:secret@${host}:${redisWrong}`;
      const run = await sendAdd(url, REDIS_URL, queue, true);
      assert.equal(run.code, 1, run.stderr);
      assert.ok(run.stderr.includes(`rediss://:***@${host}:${redisWrong}`), run.stderr);
      assert.match(run.stderr, MISMATCH);
    }
    assert.equal(await queueLength(redisWrong, queue), 0, "nothing reached the impostor");
  });

  it(
    "every Redis adapter checks the identity and takes the CA file",
    { timeout: TIMEOUT },
    async () => {
      const adapters = (url: string, cfg: object) => [
        new RedisBroker(url, { config: cfg, onError: () => {} }),
        new RedisBackend(url, { config: cfg, onError: () => {} }),
        new RedisLock(url, { config: cfg }),
      ];
      for (const adapter of adapters(`rediss://127.0.0.1:${redisRight}`, config)) {
        await adapter.connect();
        await adapter.close();
      }
      const refusals: [string, object, RegExp][] = [
        [`rediss://127.0.0.1:${redisWrong}`, config, MISMATCH],
        [`rediss://localhost:${redisWrong}`, config, MISMATCH],
        // Without the CA file the right server is not trusted either: the option is what works.
        [`rediss://127.0.0.1:${redisRight}`, {}, /self[- ]signed|certificate/i],
      ];
      for (const [url, cfg, reason] of refusals) {
        for (const adapter of adapters(url, cfg)) {
          await assert.rejects(adapter.connect(), (error: Error) => {
            assert.ok(error instanceof RedisConnectionError, String(error));
            assert.ok(error.message.includes(url), error.message);
            assert.match(error.message, reason);
            return true;
          });
          await adapter.close();
        }
      }
    },
  );

  it("rediss:// with Sentinel speaks TLS to the sentinel and to the master it names", {
    timeout: TIMEOUT,
  }, async () => {
    // Both listen for TLS only: a plaintext dial to either fails, and the task never lands.
    const queue = uniqueName("tls_sentinel");
    const sentinelConfig = {
      ...config,
      defaultQueue: queue,
      redis: { masterName: SENTINEL_MASTER, connectTimeout: 5 },
    };
    const broker = new RedisBroker(`rediss://127.0.0.1:${sentinelRight}`, {
      config: sentinelConfig,
      onError: () => {},
    });
    try {
      await broker.connect();
      const sig = newSignature("add", [{ name: "", type: "int64", value: 1 }]);
      sig.routingKey = queue;
      await broker.publish(sig);
      assert.equal(await queueLength(redisRight, queue), 1);
    } finally {
      await broker.close();
    }
  });

  it("amqps:// with the right certificate: the task is sent", { timeout: TIMEOUT }, async () => {
    const queue = uniqueName("tls");
    try {
      for (const host of ["127.0.0.1", "localhost"]) {
        const url = `amqps://guest:guest@${host}:${amqpRight}/`;
        const run = await sendAdd(url, REDIS_URL, queue);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /task_[0-9a-f-]{36}/);
      }
      const broker = new AMQPBroker(AMQP_URL);
      try {
        assert.equal((await broker.getPendingTasks(queue)).length, 2);
      } finally {
        await broker.close();
      }
    } finally {
      await deleteAMQP([queue]).catch(() => {});
    }
  });

  it("amqps:// to an impostor's certificate is refused, naming the URL", {
    timeout: TIMEOUT,
  }, async () => {
    // The impostor forwards to the real RabbitMQ: a task it let through would land there.
    const queue = uniqueName("tls");
    try {
      for (const host of ["127.0.0.1", "localhost"]) {
        // The right password: only the certificate check stands between the task and RabbitMQ.
        const url = `amqps://guest:guest@${host}:${amqpWrong}/`;
        const run = await sendAdd(url, REDIS_URL, queue, true);
        assert.equal(run.code, 1, run.stderr);
        assert.ok(run.stderr.includes(`amqps://guest:***@${host}:${amqpWrong}/`), run.stderr);
        assert.match(run.stderr, MISMATCH);
      }
    } finally {
      await deleteAMQP([queue]).catch(() => {});
    }
  });

  it(
    "the AMQP adapters check the identity and take the CA file",
    { timeout: TIMEOUT },
    async () => {
      const adapters = (url: string, cfg: object) => [
        new AMQPBroker(url, { config: cfg }),
        new AMQPBackend(url, { config: cfg }),
      ];
      for (const adapter of adapters(`amqps://guest:guest@127.0.0.1:${amqpRight}/`, config)) {
        await adapter.connect();
        await adapter.close();
      }
      for (
        const url of [
          `amqps://guest:guest@127.0.0.1:${amqpWrong}/`,
          `amqps://guest:guest@localhost:${amqpWrong}/`,
        ]
      ) {
        for (const adapter of adapters(url, config)) {
          await assert.rejects(adapter.connect(), MISMATCH);
          await adapter.close();
        }
      }
    },
  );
});
