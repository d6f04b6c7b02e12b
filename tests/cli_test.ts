/**
 * The command line, run as a child process with the runtime running this test (Deno or Bun):
 * the lines of machinery's example `send` in the demo, usage errors, `send` on the memory broker, help, the worker's signal
 * handling and `--tasks`, and the HelloWorld example.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./helpers.ts";
import { type Child, cli, ROOT, signal, start, startWorker, stopWorker } from "./cli_support.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./integration/redis_support.ts";
import { encodeSignature, newSignature } from "../src/wire/signature.ts";

const TIMEOUT = 60_000;

/** Every command with a golden help file in `tests/fixtures/cli_help/`. */
const COMMANDS = [
  "demo",
  "worker",
  "send",
  "state",
  "queues",
  "pending",
  "delayed",
  "inspect",
  "dead",
  "purge",
  "workers",
  "stats",
  "cancel",
  "dashboard",
];

const MEMORY = ["--broker", "memory://", "--result-backend", "memory://"];

const EXPECTED_DEMO_LINES = [
  /^Starting batch: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  "Single task:",
  "1 + 1 = 2",
  "sum([1, 2]) = 3",
  "sum([1.5, 2.7]) = 4.2",
  'concat(["foo", "bar"]) = foobar',
  'split(["foo"]) = [f o o]',
  "Group of tasks (parallel execution):",
  "1 + 1 = 2",
  "2 + 2 = 4",
  "5 + 6 = 11",
  "Group of tasks with a callback (chord):",
  "(1 + 1) * (2 + 2) * (5 + 6) = 88",
  "Chain of tasks:",
  "(((1 + 1) + (2 + 2)) + (5 + 6)) * 4 = 68",
  "Task panicked and returned error = oops",
  "Long running task returned = []",
];

describe("cli", () => {
  it(
    "demo prints the lines of machinery's example send in order and exits 0",
    { timeout: TIMEOUT },
    async () => {
      const { code, stdout, stderr } = await cli(["demo", "--long-running-seconds", "1"]);
      assert.equal(code, 0, stderr);
      const lines = stdout.trimEnd().split("\n");
      assert.equal(lines.length, EXPECTED_DEMO_LINES.length, stdout);
      EXPECTED_DEMO_LINES.forEach((expected, i) => {
        if (typeof expected === "string") assert.equal(lines[i], expected);
        else assert.match(lines[i], expected);
      });
      // The worker's handlers log to stderr, as machinery's example worker does.
      assert.match(stderr, /I am a start of task handler for: add/);
      assert.match(stderr, /I am an end of task handler for: long_running_task/);
      assert.match(stderr, /I am an error handler: oops/);
      assert.match(stderr, /Long running task finished/);
    },
  );

  it("prints help and the version", { timeout: TIMEOUT }, async () => {
    const top = await cli(["--help"]);
    assert.equal(top.code, 0, top.stderr);
    for (const word of ["Usage:", "demo", "worker", "send", "state", "--result-backend"]) {
      assert.ok(top.stdout.includes(word), `--help mentions ${word}`);
    }
    const send = await cli(["send", "--help"]);
    assert.equal(send.code, 0, send.stderr);
    assert.match(send.stdout, /--arg TYPE:VALUE/);
    const viaHelp = await cli(["help", "worker"]);
    assert.equal(viaHelp.code, 0, viaHelp.stderr);
    assert.match(viaHelp.stdout, /--tasks MODULE/);
    const version = await cli(["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
  });

  it("prints exactly the documented help, however asked", { timeout: TIMEOUT }, async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    const golden = async (name: string) =>
      (await readFile(join(ROOT, "tests/fixtures/cli_help", `${name}.txt`), "utf8"))
        .replace("machinery VERSION:", `machinery ${version}:`);
    const top = await golden("machinery");
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, top, `machinery ${args.join(" ")}`);
    }
    const bare = await cli([]);
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, "");
    assert.equal(bare.stderr, top);
    for (const command of COMMANDS) {
      const text = await golden(command);
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const { code, stdout, stderr } = await cli(args);
        assert.equal(code, 0, stderr);
        assert.equal(stdout, text, `machinery ${args.join(" ")}`);
      }
    }
  });

  it("exits 2 with a clear message for usage errors", { timeout: TIMEOUT }, async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage:/],
      [["bogus"], /Unknown command "bogus"/],
      [["toString"], /Unknown command "toString"/],
      [["help", "bogus"], /Unknown command "bogus"/],
      [["help", "constructor"], /Unknown command "constructor"/],
      [["--bogus"], /Expected a command before "--bogus"/],
      [["demo", "--bogus"], /Unknown option '--bogus'/],
      [["demo", "--broker", "memory://"], /Unknown option '--broker'/],
      [["demo", "extra"], /Unexpected argument "extra" for demo/],
      [["demo", "--concurrency", "1.5"], /Invalid value "1\.5" for --concurrency/],
      [
        ["demo", "--long-running-seconds", "soon"],
        /Invalid value "soon" for --long-running-seconds/,
      ],
      [["worker", "--concurrency", "-1"], /--concurrency|Invalid value/],
      [["worker", "--prefetch", "x"], /Invalid value "x" for --prefetch/],
      [["send", "add", "--arg", "nope"], /expected TYPE:VALUE/],
      [["send", "add", "--arg", "int65:1"], /"int65" is not one of the types/],
      [["send", "add", "--arg", "int64:1.5"], /Invalid --arg "int64:1.5"/],
      [["send", "add", "--arg", "bool:maybe"], /Invalid --arg "bool:maybe"/],
      [["send", "add", "--arg", "int8:300"], /300 is out of range for int8/],
      [["send", "add", "--arg", "[]int64:1,x"], /"x" is not a number/],
      [["send", "add", "--arg", "[]int64:[1,x]"], /invalid character 'x'/],
      [["send", "add", "--arg", "uint64:-1"], /strconv\.ParseUint: parsing "-1": invalid syntax/],
      [["send", "add", "--delay", "x", ...MEMORY], /Invalid value "x" for --delay/],
      [["send", "add", "--retry", "x", ...MEMORY], /Invalid value "x" for --retry/],
      [["send", "a", "b", ...MEMORY], /Unexpected argument "b" for send/],
      [["send", "--arg", "int64:1", ...MEMORY], /--arg needs a TASK name/],
      [["worker", "extra", ...MEMORY], /Unexpected argument "extra" for worker/],
      [["worker", "--periodic", "bad", ...MEMORY], /Invalid --periodic "bad"/],
      [["send", "add", "--timeout", "5", ...MEMORY], /--timeout needs --wait/],
      [["send", "add", "--eta", "tomorrow", ...MEMORY], /Invalid value "tomorrow" for --eta/],
      [["send", "add", "--eta", "2030-01-01T00:00:00Z", "--delay", "1"], /cannot be used together/],
      [["send", "--wait", ...MEMORY], /--wait needs a TASK name/],
      [["send", "add", "--wait", ...MEMORY], /lives inside this process/],
      [["send", ...MEMORY], /lives inside this process/],
      [["send", "add", "--broker", "nosuch://x", "--result-backend", "memory://"], /nosuch:\/\/x/],
      [["state"], /state needs a task UUID/],
      [["state", "a", "b", ...MEMORY], /Unexpected argument "b" for state/],
      [["state", "a", "--result-backend", "nosuch://x"], /nosuch:\/\/x/],
      [["purge"], /purge needs a queue name/],
      [["purge", "q", ...MEMORY], /pass --yes to purge "q"/],
      [["dead"], /dead needs ls, retry or rm/],
      [["dead", "retry"], /dead retry needs task UUIDs or --all/],
      [["dead", "rm", "task_x", "--all"], /not both/],
      [["inspect"], /inspect needs a task UUID/],
      [["queues", "--broker", "memory://"], /Cannot inspect the broker "memory:\/\/"/],
    ];
    const commands = COMMANDS;
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 2, `machinery ${args.join(" ")} exits 2; stderr: ${stderr}`);
      assert.equal(stdout, "", `machinery ${args.join(" ")}`);
      assert.match(stderr, message, `machinery ${args.join(" ")}`);
      if (args.length === 0) continue;
      // The message, then where to look: the command's help when there is a command.
      const hint = commands.includes(args[0]) ? `${args[0]} --help` : "--help";
      assert.ok(
        stderr.startsWith("machinery: ") &&
          stderr.endsWith(`\nRun "machinery ${hint}" for usage.\n`),
        `machinery ${args.join(" ")}: ${stderr}`,
      );
    }
  });

  it("send on memory:// prints the task UUID", { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli([
      "send",
      "add",
      "--arg",
      "int64:1",
      "--arg",
      "int64:2",
      "--arg",
      "[]string:a,b",
      "--delay",
      "1",
      "--retry",
      "2",
      ...MEMORY,
    ]);
    assert.equal(code, 0, stderr);
    assert.match(
      stdout,
      /^task_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/,
    );
  });

  it("state exits 1 when no state is stored", { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli(["state", "task_nope", ...MEMORY]);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, /No state stored for task task_nope/);
  });

  it("flags beat the environment", { timeout: TIMEOUT }, async () => {
    // The environment names a broker that does not exist; the flag wins, so send succeeds.
    const { code, stderr } = await cli(["send", "add", ...MEMORY], { BROKER: "nosuch://x" });
    assert.equal(code, 0, stderr);
    // Without the flag the environment wins over the built-in default (amqp://).
    const env = await cli(["send", "add", "--result-backend", "memory://"], {
      BROKER: "nosuch://x",
    });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /nosuch:\/\/x/);
  });

  it(
    "the config file is beaten by the environment and by flags",
    { timeout: TIMEOUT },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "machinery-cli-"));
      try {
        const file = join(dir, "config.yml");
        await writeFile(file, "broker: nosuch://file\nresult_backend: memory://\n");
        const fromFile = await cli(["send", "add", "--config", file]);
        assert.equal(fromFile.code, 2);
        assert.match(fromFile.stderr, /nosuch:\/\/file/);
        const envWins = await cli(["send", "add", "--config", file], { BROKER: "memory://" });
        assert.equal(envWins.code, 0, envWins.stderr);
        const flagWins = await cli(["send", "add", "--config", file, "--broker", "memory://"], {
          BROKER: "nosuch://env",
        });
        assert.equal(flagWins.code, 0, flagWins.stderr);
        const missing = await cli(["send", "add", "--config", join(dir, "missing.yml")]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /Cannot read the config file/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("worker: the first signal drains and exits 0", { timeout: TIMEOUT }, async () => {
    const child = start(
      "cli.ts",
      ["worker", ...MEMORY, "--tasks", "tests/fixtures/cli_tasks_setup.ts"],
      { CLI_FIXTURE_MODE: "sleepy" },
    );
    await waitFor(
      () => child.stderr().includes("I am a start of task handler for: sleepy"),
      "the worker to start sleepy",
    );
    signal(child, "SIGTERM");
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr());
    assert.match(child.stderr(), /Signal received: SIGTERM/);
    assert.match(child.stderr(), /I am an end of task handler for: sleepy/);
  });

  it("worker: a second signal aborts and exits 1", { timeout: TIMEOUT }, async () => {
    const child = start(
      "cli.ts",
      ["worker", ...MEMORY, "--tasks", "tests/fixtures/cli_tasks_setup.ts"],
      { CLI_FIXTURE_MODE: "forever" },
    );
    await waitFor(
      () => child.stderr().includes("I am a start of task handler for: forever"),
      "the worker to start forever",
    );
    signal(child, "SIGINT");
    await waitFor(
      () => child.stderr().includes("Waiting for running tasks to finish"),
      "the worker to acknowledge the first signal",
    );
    signal(child, "SIGINT");
    const { code } = await child.exited;
    assert.equal(code, 1, child.stderr());
    assert.match(child.stderr(), /Worker quit abruptly/);
  });

  it("worker --tasks registers a module's exported functions", { timeout: TIMEOUT }, async () => {
    const child = start("cli.ts", [
      "worker",
      ...MEMORY,
      "--tasks",
      "./tests/fixtures/cli_tasks_named.ts",
    ]);
    await waitFor(() => child.stderr().includes("Waiting for tasks on"), "the worker to launch");
    signal(child, "SIGTERM");
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr());
    assert.match(
      child.stderr(),
      /Registered tasks from \.\/tests\/fixtures\/cli_tasks_named\.ts: shout, writeNote\n/,
    );
  });

  it(
    "worker --tasks takes a module's tasks object, or only the --task names",
    { timeout: TIMEOUT },
    async () => {
      for (
        const args of [
          ["--tasks", "tests/fixtures/cli_tasks_explicit.ts"],
          ["--tasks", "tests/fixtures/cli_tasks_named.ts", "--task", "shout"],
        ]
      ) {
        const child = start("cli.ts", ["worker", ...MEMORY, ...args]);
        await waitFor(
          () => child.stderr().includes("Waiting for tasks on"),
          "the worker to launch",
        );
        signal(child, "SIGTERM");
        const { code } = await child.exited;
        assert.equal(code, 0, child.stderr());
        assert.match(
          child.stderr(),
          /Registered tasks from tests\/fixtures\/cli_tasks_\w+\.ts: shout\n/,
        );
      }
      const { code, stderr } = await cli([
        "worker",
        ...MEMORY,
        "--tasks",
        "tests/fixtures/cli_tasks_explicit.ts",
        "--task",
        "writeNote",
      ]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /No task "writeNote" in the module \(it offers: shout\)/);
    },
  );

  it("worker --tasks with a missing module exits 1", { timeout: TIMEOUT }, async () => {
    const { code, stderr } = await cli([
      "worker",
      ...MEMORY,
      "--tasks",
      "tests/fixtures/missing.ts",
    ]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /Cannot import the tasks module "tests\/fixtures\/missing\.ts"/);
  });

  it("examples/hello_world.ts prints HelloWorld's result", { timeout: TIMEOUT }, async () => {
    const child = start("examples/hello_world.ts", []);
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr());
    assert.equal(child.stdout(), "Hi, i'm worker@localhost\n");
  });
});

const redisSkip = await redisSkipReason();
/** Bun 1.3's node:test ignores the `skip` option but honours `describe.skip`. */
const describeRedis = redisSkip ? describe.skip : describe;

describeRedis("cli against Redis", () => {
  const queue = uniqueName("cli_test");
  const delayedKey = `${queue}_delayed`;
  const idleQueue = `${queue}_idle`;
  const env = {
    BROKER: REDIS_URL,
    RESULT_BACKEND: REDIS_URL,
    DEFAULT_QUEUE: queue,
    REDIS_DELAYED_TASKS_KEY: delayedKey,
    RESULTS_EXPIRE_IN: "300",
  };
  const uuids: string[] = [];
  let worker: Child;

  // Bun runs the hooks of a skipped suite: they check the skip themselves.
  before(async () => {
    if (redisSkip) return;
    worker = await startWorker(
      ["--long-running-seconds", "1", "--tasks", "tests/fixtures/cli_tasks_named.ts"],
      env,
    );
  }, { timeout: TIMEOUT });

  after(async () => {
    if (redisSkip) return;
    if (worker) await stopWorker(worker);
    await deleteRedisKeys([delayedKey, ...uuids], [queue]);
  }, { timeout: TIMEOUT });

  it("send without TASK runs machinery's sequence", { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli(["send"], env);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines.length, EXPECTED_DEMO_LINES.length, stdout);
    EXPECTED_DEMO_LINES.forEach((expected, i) => {
      if (typeof expected === "string") assert.equal(lines[i], expected);
      else assert.match(lines[i], expected);
    });
  });

  it(
    "send TASK --wait prints the UUID, then the results as JSON",
    { timeout: TIMEOUT },
    async () => {
      const add = await cli(["send", "add", "--arg", "int64:1", "--arg", "int64:2", "--wait"], env);
      assert.equal(add.code, 0, add.stderr);
      const [uuid, results, ...rest] = add.stdout.split("\n");
      uuids.push(uuid);
      assert.match(uuid, /^task_[0-9a-f-]{36}$/);
      assert.equal(results, "[3]");
      assert.deepEqual(rest, [""]);

      const state = await cli(["state", uuid], env);
      assert.equal(state.code, 0, state.stderr);
      assert.match(
        state.stdout,
        new RegExp(
          `^\\{"TaskUUID":"${uuid}","TaskName":"add","State":"SUCCESS",` +
            `"Results":\\[\\{"Type":"int64","Value":3\\}\\],"Error":"","CreatedAt":"[^"]+","TTL":0\\}\\n$`,
        ),
      );

      const split = await cli(["send", "split", "--arg", "string:héllo", "--wait"], env);
      assert.equal(split.code, 0, split.stderr);
      uuids.push(split.stdout.split("\n")[0]);
      assert.equal(split.stdout.split("\n")[1], '[["h","é","l","l","o"]]');

      const sum = await cli(["send", "sum_floats", "--arg", "[]float64:1.5,2.5", "--wait"], env);
      assert.equal(sum.code, 0, sum.stderr);
      uuids.push(sum.stdout.split("\n")[0]);
      assert.equal(sum.stdout.split("\n")[1], "[4]");

      // A task from the --tasks module, registered under its export name.
      const shout = await cli(["send", "shout", "--arg", "string:hi", "--wait"], env);
      assert.equal(shout.code, 0, shout.stderr);
      uuids.push(shout.stdout.split("\n")[0]);
      assert.equal(shout.stdout.split("\n")[1], '["HI"]');
    },
  );

  it("a failed task exits 1 with its error on stderr", { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli(["send", "panic_task", "--wait"], env);
    assert.equal(code, 1, stderr);
    const lines = stdout.trimEnd().split("\n");
    uuids.push(lines[0]);
    assert.equal(lines.length, 1, stdout);
    assert.match(stderr, /failed: oops/);
  });

  it("--delay holds the task back", { timeout: TIMEOUT }, async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await cli(
      ["send", "add", "--arg", "int64:2", "--arg", "int64:3", "--delay", "1", "--wait"],
      env,
    );
    assert.equal(code, 0, stderr);
    uuids.push(stdout.split("\n")[0]);
    assert.equal(stdout.split("\n")[1], "[5]");
    assert.ok(Date.now() - started >= 1000, "not before the delay");
  });

  it("--timeout gives up with exit 1", { timeout: TIMEOUT }, async () => {
    const { code, stdout, stderr } = await cli(
      ["send", "add", "--wait", "--timeout", "0.5", "--queue", idleQueue],
      env,
    );
    uuids.push(stdout.split("\n")[0]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /Timeout reached/);
    await deleteRedisKeys([], [idleQueue]);
  });

  it("an unreachable broker exits 1 with a clear message", { timeout: TIMEOUT }, async () => {
    const url = "redis://:secret@127.0.0.1:1";
    const { code, stderr } = await cli(["send", "add", "--broker", url, "--result-backend", url]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /connect/i);
    assert.match(stderr, /127\.0\.0\.1:1/);
    assert.doesNotMatch(stderr, /secret/);
  });
});

describeRedis("cli task control against Redis: timeouts and cancellation", () => {
  const queue = uniqueName("cli_control");
  const delayedKey = `${queue}_delayed`;
  const env = {
    BROKER: REDIS_URL,
    RESULT_BACKEND: REDIS_URL,
    DEFAULT_QUEUE: queue,
    REDIS_DELAYED_TASKS_KEY: delayedKey,
    RESULTS_EXPIRE_IN: "300",
  };
  const uuids: string[] = [];
  let worker: Child;

  // Bun runs the hooks of a skipped suite: they check the skip themselves.
  before(async () => {
    if (redisSkip) return;
    // One slot, so "free for the next task" means the timed-out task gave its slot back.
    worker = await startWorker(
      ["--concurrency", "1", "--long-running-seconds", "30", "--abort-grace", "1"],
      env,
    );
  }, { timeout: TIMEOUT });

  after(async () => {
    if (redisSkip) return;
    if (worker) await stopWorker(worker);
    await deleteRedisKeys([delayedKey, ...uuids], [queue]);
    const redis = rawClient();
    try {
      if (uuids.length > 0) await redis.zrem("machinery:ts:cancelled", ...uuids);
    } finally {
      redis.disconnect();
    }
  }, { timeout: TIMEOUT });

  async function stateOf(uuid: string): Promise<string> {
    const { stdout } = await cli(["state", uuid], env);
    return stdout;
  }

  it("--task-timeout fails the task with 'timed out', and the worker takes the next one", {
    timeout: TIMEOUT,
  }, async () => {
    const began = Date.now();
    const slow = await cli(
      ["send", "long_running_task", "--task-timeout", "1", "--wait", "--timeout", "30"],
      env,
    );
    uuids.push(slow.stdout.split("\n")[0]);
    assert.equal(slow.code, 1, slow.stderr);
    assert.match(slow.stderr, /timed out after 1s/);
    assert.ok(Date.now() - began < 15_000, `took ${Date.now() - began} ms`);
    const add = await cli(
      ["send", "add", "--arg", "int64:1", "--arg", "int64:2", "--wait", "--timeout", "10"],
      env,
    );
    uuids.push(add.stdout.split("\n")[0]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout.split("\n")[1], "[3]");
  });

  it("cancel on a delayed task: FAILURE 'task cancelled', and it never runs", {
    timeout: TIMEOUT,
  }, async () => {
    const sent = await cli(
      ["send", "add", "--arg", "int64:1", "--arg", "int64:1", "--delay", "2"],
      env,
    );
    assert.equal(sent.code, 0, sent.stderr);
    const uuid = sent.stdout.trim();
    uuids.push(uuid);
    const cancelled = await cli(["cancel", uuid], env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout, "cancelled\n");
    assert.match(await stateOf(uuid), /"State":"FAILURE".*"Error":"task cancelled"/);
    // Past its ETA, a task delayed as long runs; the cancelled one stayed cancelled.
    const later = await cli(
      ["send", "add", "--arg", "int64:2", "--arg", "int64:2", "--delay", "2", "--wait"],
      env,
    );
    uuids.push(later.stdout.split("\n")[0]);
    assert.equal(later.code, 0, later.stderr);
    assert.match(await stateOf(uuid), /"State":"FAILURE".*"Error":"task cancelled"/);
    assert.match(worker.stderr(), new RegExp(`Task ${uuid} not started: task cancelled`));
    const again = await cli(["cancel", uuid], env);
    assert.equal(again.code, 1, "a finished task cannot be cancelled");
  });

  it("cancel on a running long_running_task: the worker logs the abort, FAILURE 'cancelled'", {
    timeout: TIMEOUT,
  }, async () => {
    const startedBefore = worker.stderr().split("Long running task started").length;
    const sent = await cli(["send", "long_running_task"], env);
    const uuid = sent.stdout.trim();
    uuids.push(uuid);
    await waitFor(
      () => worker.stderr().split("Long running task started").length > startedBefore,
      "the task to start",
    );
    const cancelled = await cli(["cancel", uuid], env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    await waitFor(
      async () => /"State":"FAILURE".*"Error":"task cancelled"/.test(await stateOf(uuid)),
      "FAILURE task cancelled",
    );
    assert.match(worker.stderr(), new RegExp(`Task ${uuid} aborted: task cancelled`));
  });
});

describeRedis("cli: unique tasks and rate limits on Redis", () => {
  const queue = uniqueName("cli_limits");
  const env = {
    BROKER: REDIS_URL,
    RESULT_BACKEND: REDIS_URL,
    DEFAULT_QUEUE: queue,
    REDIS_DELAYED_TASKS_KEY: `${queue}_delayed`,
    RESULTS_EXPIRE_IN: "300",
  };
  const keys: string[] = [];

  after(async () => {
    if (redisSkip) return;
    await deleteRedisKeys([queue, `${queue}_delayed`, ...keys], [queue]);
  }, { timeout: TIMEOUT });

  it("send --unique-for twice: the second prints the first's UUID and exits 3", {
    timeout: TIMEOUT,
  }, async () => {
    // Arguments of this run only: the default unique key is the name and the arguments.
    const n = `int64:${Date.now()}`;
    const args = ["send", "add", "--arg", "int64:1", "--arg", n, "--unique-for", "60"];
    const first = await cli(args, env);
    assert.equal(first.code, 0, first.stderr);
    const uuid = first.stdout.split("\n")[0];
    keys.push(uuid);
    const second = await cli(args, env);
    assert.equal(second.code, 3, second.stderr);
    assert.equal(second.stdout.split("\n")[0], uuid);
    assert.match(second.stderr, /not finished/);
    const client = rawClient();
    try {
      assert.equal(await client.llen(queue), 1);
      for (const key of await client.keys("machinery:ts:unique:add:*")) {
        if ((await client.get(key)) === uuid) keys.push(key);
      }
    } finally {
      client.disconnect();
    }
  });

  it("worker --rate-limit add=20/s runs 200 queued adds in about 10 s", {
    timeout: 90_000,
  }, async () => {
    const rateQueue = `${queue}_rate`;
    const client = rawClient();
    const uuids: string[] = [];
    try {
      const bodies = [];
      for (let i = 0; i < 200; i++) {
        const sig = newSignature("add", [{ name: "", type: "int64", value: i }], {
          routingKey: rateQueue,
          headers: {},
        });
        uuids.push(sig.uuid);
        bodies.push(encodeSignature(sig));
      }
      await client.rpush(rateQueue, ...bodies);
      const worker = start(
        "cli.ts",
        ["worker", "--queue", rateQueue, "--concurrency", "10", "--rate-limit", "add=20/s"],
        env,
        60_000,
      );
      try {
        await waitFor(() => worker.stderr().includes("Waiting for tasks on"), "the worker");
        const began = Date.now();
        await waitFor(
          async () => (await client.llen(rateQueue)) === 0 && await allSucceeded(client, uuids),
          "all 200 tasks done",
          30_000,
        );
        const took = Date.now() - began;
        // 200 starts at 20/s: the last one 199 × 50 ms after the first.
        assert.ok(took >= 9_000, `took ${took} ms`);
        assert.ok(took <= 14_000, `took ${took} ms`);
      } finally {
        signal(worker, "SIGTERM");
        await worker.exited;
      }
    } finally {
      keys.push(rateQueue, ...uuids);
      client.disconnect();
    }
  });
});

/** True when every one of `uuids` has a SUCCESS state in the Redis backend. */
async function allSucceeded(client: ReturnType<typeof rawClient>, uuids: string[]) {
  const states = await client.mget(...uuids);
  return states.every((s) => s !== null && s.includes('"State":"SUCCESS"'));
}
