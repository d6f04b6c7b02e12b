/**
 * Connections that go wrong, through the command line and the adapters: an address that
 * accepts TCP and never answers (send must fail within about 10 s, naming the URL with its
 * password hidden), a Redis database the server does not have (ioredis alone carries on in
 * database 0), and URLs written without `//` that still must not print their password.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeUnless } from "../helpers.ts";
import { startScript } from "../faults/support.ts";
import { RedisBackend, RedisBroker, RedisConnectionError, RedisLock } from "../../src/redis/mod.ts";
import { REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";
import { amqpSkipReason } from "./amqp_support.ts";
import { startProxy } from "./net_support.ts";

const TIMEOUT = 60_000;
const SEND_ADD = ["send", "add", "--arg", "int64:1", "--arg", "int64:2"];
/** The bound for a one-shot command against a silent endpoint. */
const SILENT_BOUND_MS = 15_000;

/** Runs the CLI with the runtime running this test; resolves with its exit and output. */
async function cli(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = startScript("cli.ts", args, {}, 40_000);
  const { code } = await child.exited;
  return { code, stderr: child.stderr(), ms: Date.now() - started };
}

/** `REDIS_URL` with database `db`. */
function redisDB(db: number): string {
  const url = new URL(REDIS_URL);
  url.pathname = `/${db}`;
  return url.href;
}

const skip = await redisSkipReason() || await amqpSkipReason();

describeUnless(skip, "connections that go wrong", () => {
  it(
    "send against a silent broker or backend exits non-zero within 15 s, naming the URL",
    { timeout: TIMEOUT },
    async () => {
      const silent = await startProxy();
      const at = `127.0.0.1:${silent.port}`;
      const queue = uniqueName("silent");
      const cases = [
        { broker: `redis://:secret@${at}`, backend: REDIS_URL, shown: `redis://:***@${at}` },
        {
          broker: `amqp://guest:secret@${at}/`,
          backend: REDIS_URL,
          shown: `amqp://guest:***@${at}`,
        },
        { broker: REDIS_URL, backend: `redis://:secret@${at}/2`, shown: `redis://:***@${at}/2` },
        { broker: REDIS_URL, backend: `amqp://u:secret@${at}/`, shown: `amqp://u:***@${at}` },
      ];
      try {
        // Two at a time: each waits out its own connect timeout, and four runtimes starting
        // at once on a small machine would eat into the margin being measured.
        const runs = [];
        for (let i = 0; i < cases.length; i += 2) {
          runs.push(
            ...await Promise.all(
              cases.slice(i, i + 2).map((c) =>
                cli([
                  ...SEND_ADD,
                  "--queue",
                  queue,
                  "--broker",
                  c.broker,
                  "--result-backend",
                  c.backend,
                ])
              ),
            ),
          );
        }
        runs.forEach((run, i) => {
          const { shown } = cases[i];
          assert.notEqual(run.code, 0, run.stderr);
          assert.ok(run.ms < SILENT_BOUND_MS, `${shown}: exited after ${run.ms} ms`);
          assert.ok(run.stderr.includes(shown), `${shown} not in: ${run.stderr}`);
          assert.match(run.stderr, /no reply within 10 s/);
          assert.doesNotMatch(run.stderr, /secret/);
        });
        assert.ok(silent.accepted() >= cases.length, "every client reached the silent port");
      } finally {
        await silent.close();
      }
    },
  );

  it(
    "a connect timeout of the config bounds an adapter's connect",
    { timeout: TIMEOUT },
    async () => {
      const silent = await startProxy();
      const url = `redis://127.0.0.1:${silent.port}`;
      const config = { connectTimeout: 1 };
      try {
        for (
          const adapter of [
            new RedisBroker(url, { config, onError: () => {} }),
            new RedisBackend(url, { config, onError: () => {} }),
            new RedisLock(url, { config }),
          ]
        ) {
          const started = Date.now();
          await assert.rejects(adapter.connect(), (error: Error) => {
            assert.ok(error instanceof RedisConnectionError, String(error));
            assert.match(error.message, /no reply within 1 s/);
            return true;
          });
          assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
          await adapter.close();
        }
      } finally {
        await silent.close();
      }
    },
  );

  it("a Redis database the server does not have is refused", { timeout: TIMEOUT }, async () => {
    const url = redisDB(99);
    for (
      const adapter of [
        new RedisBroker(url, { onError: () => {} }),
        new RedisBackend(url, { onError: () => {} }),
        new RedisLock(url),
      ]
    ) {
      await assert.rejects(adapter.connect(), (error: Error) => {
        assert.ok(error instanceof RedisConnectionError, String(error));
        assert.match(error.message, /refused database 99/);
        assert.ok(error.message.includes(url.replace(/\/$/, "")), error.message);
        return true;
      });
      await adapter.close();
    }
    const run = await cli(["send", "add", "--broker", url, "--result-backend", REDIS_URL]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /database 99/);
  });

  it("an existing database other than 0 is used", { timeout: TIMEOUT }, async () => {
    const broker = new RedisBroker(redisDB(1), { onError: () => {} });
    try {
      await broker.connect();
    } finally {
      await broker.close();
    }
  });

  it("a URL without // is printed without its password", { timeout: TIMEOUT }, async () => {
    for (const url of ["redis:/:secret@127.0.0.1:6379", "amqp:guest:secret@127.0.0.1"]) {
      const run = await cli(["send", "add", "--broker", url, "--result-backend", url]);
      assert.notEqual(run.code, 0, run.stderr);
      assert.match(run.stderr, /:\*\*\*@127\.0\.0\.1/);
      assert.doesNotMatch(run.stderr, /secret/);
    }
  });
});
