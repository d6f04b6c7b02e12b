/**
 * What a Go fleet and a new user found, on the real servers: `send` with no `--arg` puts Go's
 * `"Args":null` on the queue with Go's AMQP properties,
 * `--queue` on RabbitMQ keeps its tasks to that queue, a misspelt YAML key exits 2, a waiting
 * `send` says what happens (and that no worker took the task), the worker's banner names what it
 * really uses, and the flags and errors speak our language.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, Server } from "../mod.ts";
import { MemoryBackend, MemoryBroker } from "../src/memory/mod.ts";
import { cli, ROOT, signal, start } from "./cli_support.ts";
import { describeUnless, waitFor } from "./helpers.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, withChannel } from "./integration/amqp_support.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./integration/redis_support.ts";

const TIMEOUT = 60_000;
const redisSkip = await redisSkipReason();
const amqpSkip = await amqpSkipReason();

/** A URL with a password the server does not need (Redis accepts it with a warning). */
function withPassword(url: string, password: string): string {
  return url.replace("://", `://:${password}@`);
}

describe("cli without servers", () => {
  it("-v prints the version", { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli(["-v"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);
  });

  it("a negative --delay gets our own message", { timeout: TIMEOUT }, async () => {
    const { code, stderr } = await cli(["send", "add", "--delay", "-5"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /Invalid value "-5" for --delay: expected a number of seconds/);
    assert.doesNotMatch(stderr, /ambiguous/);
  });

  it(
    "a misspelt YAML key exits 2 naming it and the closest one",
    { timeout: TIMEOUT },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "cli_fidelity_"));
      try {
        const file = join(dir, "machinery.yml");
        await writeFile(file, "borker: redis://127.0.0.1:6379\n");
        const top = await cli(["send", "add", "--config", file]);
        assert.equal(top.code, 2, top.stderr);
        assert.match(top.stderr, /Unknown key "borker".*did you mean "broker"/);
        await writeFile(file, "broker: memory://\namqp:\n  bindng_key: x\n");
        const nested = await cli(["worker", "--config", file]);
        assert.equal(nested.code, 2, nested.stderr);
        assert.match(nested.stderr, /Unknown key "amqp\.bindng_key".*"amqp\.binding_key"/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("the banner names the adapters a Server was built from", async () => {
    const lines: string[] = [];
    const keep = (line: string) => void lines.push(line);
    const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
    const server = new Server({
      broker: new MemoryBroker(),
      backend: new MemoryBackend(),
      logger,
    });
    const worker = server.newWorker("banner", 1);
    const running = worker.launch();
    await worker.quit();
    await running;
    await server.close();
    assert.ok(lines.includes("- Broker: memory://"), lines.join("\n"));
    assert.ok(lines.includes("- ResultBackend: memory://"), lines.join("\n"));
  });

  it("the examples import only the public modules", async () => {
    const publicModules = /^\.\.\/(mod\.ts|src\/(amqp|redis|memcache|mongodb|wire)\/mod\.ts)$/;
    for (const name of await readdir(join(ROOT, "examples"))) {
      const text = await readFile(join(ROOT, "examples", name), "utf8");
      for (const [, specifier] of text.matchAll(/^(?:import|export)[^;]*? from "([^"]+)"/gms)) {
        const ok = specifier.startsWith("./") || specifier.startsWith("node:") ||
          publicModules.test(specifier);
        assert.ok(ok, `examples/${name} imports ${specifier}`);
      }
    }
  });
});

describeUnless(redisSkip, "cli against Redis: bytes, progress and the banner", () => {
  const queue = uniqueName("cli_fidelity");
  const idle = `${queue}_idle`;
  const env = { RESULTS_EXPIRE_IN: "300", REDIS_DELAYED_TASKS_KEY: `${queue}_delayed` };
  const uuids: string[] = [];
  after(async () => {
    if (redisSkip) return;
    await deleteRedisKeys([...uuids, `${queue}_delayed`], [queue, idle]);
  });

  it('send with no --arg puts Go\'s "Args":null on the queue', { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli(
      ["send", "panic_task", "--broker", REDIS_URL, "--result-backend", REDIS_URL, "--queue", idle],
      env,
    );
    assert.equal(code, 0, stderr);
    uuids.push(stdout.trim());
    const redis = rawClient();
    try {
      const [body] = await redis.lrange(idle, 0, -1);
      assert.match(body, /"Name":"panic_task"/);
      assert.match(body, /"Args":null,/);
    } finally {
      redis.disconnect();
    }
  });

  it(
    "--wait with no worker says the task is PENDING, then that no worker took it",
    { timeout: TIMEOUT },
    async () => {
      const url = withPassword(REDIS_URL, "s3cret");
      const { code, stdout, stderr } = await cli(
        ["send", "add", "--broker", url, "--result-backend", REDIS_URL, "--queue", idle, "--wait"]
          .concat(["--timeout", "7"]),
        env,
      );
      const uuid = stdout.trim();
      uuids.push(uuid);
      assert.equal(code, 1, stderr);
      assert.match(uuid, /^task_[0-9a-f-]{36}$/, "stdout holds the UUID alone");
      assert.match(stderr, new RegExp(`Task ${uuid} is PENDING`));
      assert.match(
        stderr,
        new RegExp(
          `No worker has taken task ${uuid} after 5 seconds: .*queue "${idle}".*"redis://:\\*\\*\\*@`,
        ),
      );
      assert.doesNotMatch(stderr, /s3cret/);
    },
  );

  it("send's example sequence with no worker says so too", { timeout: TIMEOUT }, async () => {
    const sequence = start(
      "cli.ts",
      ["send", "--broker", REDIS_URL, "--result-backend", REDIS_URL, "--queue", idle],
      env,
      TIMEOUT,
    );
    try {
      const hint = await waitFor(
        () => /No worker has taken task (task_[0-9a-f-]{36})/.exec(sequence.stderr()),
        "the no-worker hint",
        20_000,
      );
      uuids.push(hint[1]);
      assert.match(sequence.stderr(), new RegExp(`Task ${hint[1]} is PENDING`));
      assert.equal(sequence.stdout().split("\n")[1], "Single task:");
    } finally {
      signal(sequence, "SIGINT");
      await sequence.exited;
    }
  });

  it(
    "--wait shows the states a worker goes through; the banner keeps the database",
    { timeout: TIMEOUT },
    async () => {
      const db = `${REDIS_URL.replace(/\/\d*$/, "")}/0`;
      const worker = start(
        "cli.ts",
        ["worker", "--broker", db, "--result-backend", db, "--queue", queue]
          .concat(["--long-running-seconds", "1"]),
        env,
        TIMEOUT,
      );
      try {
        await waitFor(() => worker.stderr().includes("Waiting for tasks on"), "the worker");
        assert.match(worker.stderr(), new RegExp(`- Broker: ${db.replaceAll("/", "\\/")}\\n`));
        assert.match(
          worker.stderr(),
          new RegExp(`- ResultBackend: ${db.replaceAll("/", "\\/")}\\n`),
        );
        const { code, stdout, stderr } = await cli(
          ["send", "long_running_task", "--broker", db, "--result-backend", db, "--queue", queue]
            .concat(["--wait"]),
          env,
        );
        assert.equal(code, 0, stderr);
        const [uuid, results] = stdout.trimEnd().split("\n");
        uuids.push(uuid);
        assert.equal(results, "[]");
        assert.match(stderr, new RegExp(`Task ${uuid} is STARTED`));
        assert.doesNotMatch(stderr, /No worker has taken/);
      } finally {
        signal(worker, "SIGTERM");
        await worker.exited;
      }
    },
  );
});

describeUnless(amqpSkip, "cli against RabbitMQ: properties and --queue", () => {
  const exchange = uniqueName("cli_fidelity_x");
  const queue = uniqueName("cli_fidelity_q");
  const other = `${queue}_other`;
  after(async () => {
    if (amqpSkip) return;
    await deleteAMQP([queue, other], [exchange]);
  });

  it(
    "--queue alone routes to that queue only, with Go's properties",
    { timeout: TIMEOUT },
    async () => {
      // Another queue bound with machinery's default key must not get the task.
      await withChannel(async (ch) => {
        await ch.assertExchange(exchange, "direct", { durable: true });
        await ch.assertQueue(other, { durable: true });
        await ch.bindQueue(other, exchange, "machinery_task");
      });
      const { code, stdout, stderr } = await cli(
        ["send", "panic_task", "--broker", AMQP_URL, "--result-backend", "memory://"]
          .concat(["--queue", queue]),
        { AMQP_EXCHANGE: exchange },
      );
      assert.equal(code, 0, stderr);
      const uuid = stdout.trim();
      await withChannel(async (ch) => {
        const message = await waitFor(
          async () => (await ch.get(queue, { noAck: true })) || undefined,
          "the task in its queue",
        );
        const body = message.content.toString("utf8");
        assert.match(body, new RegExp(`"UUID":"${uuid}"`));
        assert.match(body, /"Args":null,/);
        assert.equal(message.fields.routingKey, queue);
        // The headers property is the body's Headers, as Go sends it (and none when empty:
        // tests/integration/amqp_interop_test.ts).
        const headers = JSON.parse(body).Headers;
        if (headers === null || Object.keys(headers).length === 0) {
          assert.equal(message.properties.headers, undefined);
        } else {
          assert.deepEqual(message.properties.headers, headers);
        }
        assert.equal(message.properties.contentType, "application/json");
        assert.equal(message.properties.deliveryMode, 2);
        assert.equal(await ch.get(other, { noAck: true }), false);
      });
    },
  );

  it(
    "the worker says which binding key its queue gets tasks by",
    { timeout: TIMEOUT },
    async () => {
      const banner = async (args: string[], env: Record<string, string>): Promise<string> => {
        const worker = start(
          "cli.ts",
          ["worker", "--broker", AMQP_URL, "--result-backend", "memory://", ...args],
          { AMQP_EXCHANGE: exchange, ...env },
          TIMEOUT,
        );
        try {
          await waitFor(() => worker.stderr().includes("Waiting for tasks on"), "the worker");
          return worker.stderr();
        } finally {
          signal(worker, "SIGTERM");
          await worker.exited;
        }
      };
      const own = await banner(["--queue", queue], {});
      assert.match(
        own,
        new RegExp(
          `Queue "${queue}" is bound to the exchange "${exchange}" with the key "${queue}"\\n`,
        ),
      );
      const shared = await banner([], { DEFAULT_QUEUE: queue });
      assert.match(
        shared,
        new RegExp(`with the key "machinery_task": it gets every task sent with that key`),
      );
    },
  );

  it("a missing virtual host is said in words", { timeout: TIMEOUT }, async () => {
    const vhost = uniqueName("no_such_vhost");
    const url = `${AMQP_URL.replace(/\/[^/]*$/, "")}/${vhost}`;
    const { code, stderr } = await cli([
      "send",
      "add",
      "--broker",
      url,
      "--result-backend",
      "memory://",
    ]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`there is no virtual host "${vhost}"`));
    assert.doesNotMatch(stderr, /ConnectionOpenOk/);
  });
});
