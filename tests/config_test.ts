import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  commandTimeoutMs,
  type Config,
  ConfigError,
  configFromEnv,
  configFromYaml,
  connectTimeoutMs,
  defaultConfig,
  delayedTasksKey,
  resolveConfig,
  resultsExpireSeconds,
} from "../src/config.ts";

/** machinery's `config/test.env`. */
const TEST_ENV: Record<string, string> = {
  BROKER: "broker",
  DEFAULT_QUEUE: "default_queue",
  RESULT_BACKEND: "result_backend",
  RESULTS_EXPIRE_IN: "123456",
  AMQP_BINDING_KEY: "binding_key",
  AMQP_EXCHANGE: "exchange",
  AMQP_EXCHANGE_TYPE: "exchange_type",
  AMQP_PREFETCH_COUNT: "123",
  AMQP_QUEUE_BINDING_ARGS: "image-type:png,x-match:any",
};

/** machinery's `config/testconfig.yml`. */
const TEST_YAML = `---
broker: broker
default_queue: default_queue
result_backend: result_backend
results_expire_in: 123456
amqp:
  binding_key: binding_key
  exchange: exchange
  exchange_type: exchange_type
  prefetch_count: 123
  queue_declare_args:
    x-max-priority: 10
  queue_binding_args:
    image-type: png
    x-match: any
sqs:
  receive_wait_time_seconds: 123
  receive_visibility_timeout: 456
redis:
  max_idle: 12
  max_active: 123
  max_idle_timeout: 456
  wait: false
  read_timeout: 17
  write_timeout: 19
  connect_timeout: 21
  normal_tasks_poll_period: 1001
  delayed_tasks_poll_period: 23
  delayed_tasks_key: delayed_tasks_key
  master_name: master_name
no_unix_signals: true
dynamodb:
  task_states_table: task_states_table
  group_metas_table: group_metas_table
`;

/** Asserts `fn` throws a ConfigError with `key` whose message matches every pattern. */
function assertConfigError(fn: () => unknown, key: string, ...patterns: RegExp[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.name, "ConfigError");
  assert.equal(caught.key, key);
  for (const p of patterns) assert.match(caught.message, p);
  assert.ok(!caught.message.endsWith("."), "no trailing period");
}

describe("defaultConfig", () => {
  test("machinery's loader defaults", () => {
    assert.deepEqual(
      defaultConfig(),
      {
        broker: "amqp://guest:guest@localhost:5672/",
        lock: "",
        multipleBrokerSeparator: "",
        defaultQueue: "machinery_tasks",
        resultBackend: "amqp://guest:guest@localhost:5672/",
        resultsExpireIn: 3600,
        noUnixSignals: false,
        sendTimeHeader: false,
        amqp: {
          exchange: "machinery_exchange",
          exchangeType: "direct",
          queueDeclareArgs: null,
          queueBindingArgs: null,
          bindingKey: "machinery_task",
          prefetchCount: 3,
          autoDelete: false,
          delayedQueue: "",
        },
        redis: {
          maxIdle: 3,
          maxActive: 0,
          idleTimeout: 240,
          wait: false,
          readTimeout: 15,
          writeTimeout: 15,
          connectTimeout: 15,
          normalTasksPollPeriod: 1000,
          delayedTasksPollPeriod: 500,
          delayedTasksKey: "",
          priorityQueues: false,
          clientName: "",
          masterName: "",
          clusterEnabled: false,
          sentinelPassword: "",
        },
        tls: false,
        tlsCAFile: "",
        connectTimeout: 10,
        commandTimeout: 15,
        maxMessageBytes: 16 * 1024 * 1024,
      } satisfies Config,
    );
  });

  test("a fresh object each call", () => {
    const a = defaultConfig();
    a.amqp.exchange = "changed";
    assert.equal(defaultConfig().amqp.exchange, "machinery_exchange");
  });
});

describe("helpers", () => {
  test("delayedTasksKey: empty gives delayed_tasks", () => {
    assert.equal(delayedTasksKey(defaultConfig()), "delayed_tasks");
    assert.equal(delayedTasksKey(resolveConfig({ redis: { delayedTasksKey: "dk" } })), "dk");
  });

  test("resultsExpireSeconds: 0 gives 3600", () => {
    assert.equal(resultsExpireSeconds(defaultConfig()), 3600);
    assert.equal(resultsExpireSeconds(resolveConfig({ resultsExpireIn: 0 })), 3600);
    assert.equal(resultsExpireSeconds(resolveConfig({ resultsExpireIn: 5 })), 5);
  });
});

describe("configFromEnv", () => {
  test("machinery's test.env: every field lands where it should", () => {
    const input = configFromEnv(TEST_ENV);
    assert.deepEqual(input, {
      broker: "broker",
      defaultQueue: "default_queue",
      resultBackend: "result_backend",
      resultsExpireIn: 123456,
      amqp: {
        bindingKey: "binding_key",
        exchange: "exchange",
        exchangeType: "exchange_type",
        prefetchCount: 123,
        queueBindingArgs: { "image-type": "png", "x-match": "any" },
      },
    });
    const cfg = resolveConfig(input);
    assert.equal(cfg.broker, "broker");
    assert.equal(cfg.defaultQueue, "default_queue");
    assert.equal(cfg.resultBackend, "result_backend");
    assert.equal(cfg.resultsExpireIn, 123456);
    assert.equal(cfg.amqp.bindingKey, "binding_key");
    assert.equal(cfg.amqp.exchange, "exchange");
    assert.equal(cfg.amqp.exchangeType, "exchange_type");
    assert.equal(cfg.amqp.prefetchCount, 123);
    assert.deepEqual(cfg.amqp.queueBindingArgs, { "image-type": "png", "x-match": "any" });
    // Untouched fields keep the defaults; TLS is never forced on.
    assert.equal(cfg.amqp.queueDeclareArgs, null);
    assert.deepEqual(cfg.redis, defaultConfig().redis);
    assert.equal(cfg.tls, false);
  });

  test("an empty environment gives {}", () => {
    assert.deepEqual(configFromEnv({}), {});
    assert.deepEqual(configFromEnv({ PATH: "/bin", HOME: "/root", UNRELATED: undefined }), {});
  });

  test("every variable of machinery's environment loader", () => {
    const input = configFromEnv({
      BROKER: "redis://b",
      LOCK: "redis://l",
      MULTIPLE_BROKEN_SEPARATOR: "|",
      DEFAULT_QUEUE: "q",
      RESULT_BACKEND: "redis://r",
      RESULTS_EXPIRE_IN: "60",
      NO_UNIX_SIGNALS: "true",
      SEND_TIME_HEADER: "1",
      MAX_MESSAGE_BYTES: "1024",
      TLS_CA_FILE: "/etc/ca.pem",
      CONNECT_TIMEOUT: "3",
      COMMAND_TIMEOUT: "0x10",
      AMQP_EXCHANGE: "ex",
      AMQP_EXCHANGE_TYPE: "topic",
      AMQP_QUEUE_DECLARE_ARGS: "x-max-priority:10,x-queue-mode:lazy",
      AMQP_QUEUE_BINDING_ARGS: "a:1",
      AMQP_BINDING_KEY: "bk",
      AMQP_PREFETCH_COUNT: "7",
      AMQP_AUTO_DELETE: "1",
      AMQP_DELAYED_QUEUE: "dq",
      REDIS_MAX_IDLE: "1",
      REDIS_MAX_ACTIVE: "2",
      REDIS_IDLE_TIMEOUT: "3",
      REDIS_WAIT: "t",
      REDIS_READ_TIMEOUT: "4",
      REDIS_WRITE_TIMEOUT: "5",
      REDIS_CONNECT_TIMEOUT: "6",
      REDIS_NORMAL_TASKS_POLL_PERIOD: "7",
      REDIS_DELAYED_TASKS_POLL_PERIOD: "8",
      REDIS_DELAYED_TASKS_KEY: "dk",
      REDIS_PRIORITY_QUEUES: "true",
      REDIS_CLIENT_NAME: "cn",
      REDIS_MASTER_NAME: "mn",
      REDIS_CLUSTER_ENABLED: "True",
      REDIS_SENTINEL_PASSWORD: "sp",
    });
    assert.deepEqual(
      resolveConfig(input),
      {
        broker: "redis://b",
        lock: "redis://l",
        multipleBrokerSeparator: "|",
        defaultQueue: "q",
        resultBackend: "redis://r",
        resultsExpireIn: 60,
        noUnixSignals: true,
        sendTimeHeader: true,
        amqp: {
          exchange: "ex",
          exchangeType: "topic",
          queueDeclareArgs: { "x-max-priority": 10, "x-queue-mode": "lazy" },
          queueBindingArgs: { a: "1" },
          bindingKey: "bk",
          prefetchCount: 7,
          autoDelete: true,
          delayedQueue: "dq",
        },
        redis: {
          maxIdle: 1,
          maxActive: 2,
          idleTimeout: 3,
          wait: true,
          readTimeout: 4,
          writeTimeout: 5,
          connectTimeout: 6,
          normalTasksPollPeriod: 7,
          delayedTasksPollPeriod: 8,
          delayedTasksKey: "dk",
          priorityQueues: true,
          clientName: "cn",
          masterName: "mn",
          clusterEnabled: true,
          sentinelPassword: "sp",
        },
        tls: false,
        tlsCAFile: "/etc/ca.pem",
        connectTimeout: 3,
        commandTimeout: 16,
        maxMessageBytes: 1024,
      } satisfies Config,
    );
  });

  test("envconfig's prefixed names are looked up first", () => {
    const input = configFromEnv({
      AMQP_AMQP_EXCHANGE: "prefixed",
      AMQP_EXCHANGE: "plain",
      REDIS_REDIS_MAX_IDLE: "9",
      REDIS_MAX_IDLE: "1",
      AMQP_AMQP_BINDING_KEY: "only-prefixed",
    });
    assert.equal(input.amqp?.exchange, "prefixed");
    assert.equal(input.amqp?.bindingKey, "only-prefixed");
    assert.equal(input.redis?.maxIdle, 9);
  });

  test("the separator: Go's MULTIPLE_BROKEN_SEPARATOR and the correct spelling, which wins", () => {
    assert.equal(configFromEnv({ MULTIPLE_BROKEN_SEPARATOR: ";" }).multipleBrokerSeparator, ";");
    assert.equal(configFromEnv({ MULTIPLE_BROKER_SEPARATOR: "," }).multipleBrokerSeparator, ",");
    assert.equal(
      configFromEnv({ MULTIPLE_BROKEN_SEPARATOR: ";", MULTIPLE_BROKER_SEPARATOR: "," })
        .multipleBrokerSeparator,
      ",",
    );
  });

  test("cluster mode: v2's REDIS_CLUSTER_ENABLED or v1's REDIS_CLUSTER_MODE", () => {
    assert.equal(configFromEnv({ REDIS_CLUSTER_MODE: "true" }).redis?.clusterEnabled, true);
    assert.equal(
      configFromEnv({ REDIS_CLUSTER_ENABLED: "false", REDIS_CLUSTER_MODE: "true" }).redis
        ?.clusterEnabled,
      false,
    );
  });

  test("integers parse like Go ParseInt base 0", () => {
    const cases: [string, number][] = [
      ["0", 0],
      ["42", 42],
      ["+42", 42],
      ["-5", -5],
      ["0x10", 16],
      ["0X1f", 31],
      ["010", 8],
      ["0o17", 15],
      ["0b101", 5],
      ["1_000", 1000],
      ["0x_10", 16],
      [" 7 ", 7],
    ];
    for (const [text, want] of cases) {
      assert.equal(configFromEnv({ RESULTS_EXPIRE_IN: text }).resultsExpireIn, want, text);
    }
    for (
      const bad of ["abc", "1.5", "08", "0x", "1__0", "_1", "1_", "1e3", "99999999999999999999"]
    ) {
      assertConfigError(
        () => configFromEnv({ AMQP_PREFETCH_COUNT: bad }),
        "AMQP_PREFETCH_COUNT",
        /AMQP_PREFETCH_COUNT/,
        new RegExp(`"${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`),
        /integer/,
      );
    }
  });

  test("booleans parse like Go ParseBool", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) {
      assert.equal(configFromEnv({ NO_UNIX_SIGNALS: t }).noUnixSignals, true, t);
    }
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) {
      assert.equal(configFromEnv({ NO_UNIX_SIGNALS: f }).noUnixSignals, false, f);
    }
    for (const bad of ["yes", "no", "on", "tRUE", "2"]) {
      assertConfigError(
        () => configFromEnv({ REDIS_WAIT: bad }),
        "REDIS_WAIT",
        new RegExp(`Invalid value "${bad}" for REDIS_WAIT`),
      );
    }
  });

  test("the error names the prefixed variable when that is the one set", () => {
    assertConfigError(
      () => configFromEnv({ REDIS_REDIS_MAX_IDLE: "x", REDIS_MAX_IDLE: "1" }),
      "REDIS_REDIS_MAX_IDLE",
      /REDIS_REDIS_MAX_IDLE/,
    );
  });

  test("empty values: strings are set, typed values ignored", () => {
    assert.deepEqual(
      configFromEnv({
        LOCK: "",
        REDIS_DELAYED_TASKS_KEY: "",
        RESULTS_EXPIRE_IN: "",
        NO_UNIX_SIGNALS: " ",
        AMQP_QUEUE_BINDING_ARGS: "",
      }),
      { lock: "", redis: { delayedTasksKey: "" } },
    );
  });

  test("queue argument maps", () => {
    const input = configFromEnv({
      AMQP_QUEUE_BINDING_ARGS: "x-match:all, format : pdf,n:10",
      AMQP_QUEUE_DECLARE_ARGS:
        "x-max-priority:10,x-message-ttl:60000,x-single-active-consumer:true,x-queue-type:quorum,ratio:0.5",
    });
    // Binding values stay strings (as in Go).
    assert.deepEqual(input.amqp?.queueBindingArgs, { "x-match": "all", format: "pdf", n: "10" });
    // Declare values that look numeric or boolean are converted, so RabbitMQ gets the right types.
    assert.deepEqual(input.amqp?.queueDeclareArgs, {
      "x-max-priority": 10,
      "x-message-ttl": 60000,
      "x-single-active-consumer": true,
      "x-queue-type": "quorum",
      ratio: 0.5,
    });
    // A value may itself hold colons: the pair splits at the first one.
    assert.deepEqual(configFromEnv({ AMQP_QUEUE_BINDING_ARGS: "url:a:b" }).amqp?.queueBindingArgs, {
      url: "a:b",
    });
    for (const bad of ["novalue", "a:1,,b:2", ":x"]) {
      assertConfigError(
        () => configFromEnv({ AMQP_QUEUE_BINDING_ARGS: bad }),
        "AMQP_QUEUE_BINDING_ARGS",
        /AMQP_QUEUE_BINDING_ARGS/,
        /key:value/,
      );
    }
    assertConfigError(
      () => configFromEnv({ AMQP_AMQP_QUEUE_DECLARE_ARGS: "oops" }),
      "AMQP_AMQP_QUEUE_DECLARE_ARGS",
      /"oops"/,
    );
  });
});

describe("configFromYaml", () => {
  test("machinery's testconfig.yml: every field lands where it should", () => {
    const input = configFromYaml(TEST_YAML);
    assert.deepEqual(input, {
      broker: "broker",
      defaultQueue: "default_queue",
      resultBackend: "result_backend",
      resultsExpireIn: 123456,
      noUnixSignals: true,
      amqp: {
        exchange: "exchange",
        exchangeType: "exchange_type",
        queueDeclareArgs: { "x-max-priority": 10 },
        queueBindingArgs: { "image-type": "png", "x-match": "any" },
        bindingKey: "binding_key",
        prefetchCount: 123,
      },
      redis: {
        maxIdle: 12,
        maxActive: 123,
        idleTimeout: 456,
        wait: false,
        readTimeout: 17,
        writeTimeout: 19,
        connectTimeout: 21,
        normalTasksPollPeriod: 1001,
        delayedTasksPollPeriod: 23,
        delayedTasksKey: "delayed_tasks_key",
        masterName: "master_name",
      },
    });
    const cfg = resolveConfig(input);
    assert.equal(cfg.redis.idleTimeout, 456);
    assert.equal(cfg.redis.clientName, "");
    assert.equal(cfg.amqp.autoDelete, false);
    assert.equal(cfg.lock, "");
    assert.equal(cfg.tls, false);
  });

  test("the whole file is read (Go stops at 1000 bytes)", () => {
    const padding = Array.from({ length: 60 }, (_, i) => `# padding comment line ${i}\n`).join("");
    const text = padding + "default_queue: far_down\nredis:\n  client_name: late\n";
    assert.ok(text.length > 1000);
    const input = configFromYaml(text);
    assert.equal(input.defaultQueue, "far_down");
    assert.equal(input.redis?.clientName, "late");
  });

  test("empty files give {}", () => {
    assert.deepEqual(configFromYaml(""), {});
    assert.deepEqual(configFromYaml("---\n"), {});
    assert.deepEqual(configFromYaml("# just a comment\n"), {});
    assert.deepEqual(configFromYaml("{}"), {});
  });

  test("Go's sections we do not use are accepted, not read", () => {
    assert.deepEqual(
      configFromYaml("sqs:\n  receive_wait_time_seconds: 1\ndynamodb: {}\nbroker: b\n"),
      { broker: "b" },
    );
  });

  test("an unknown key fails, naming it and the closest known one", () => {
    assertConfigError(
      () => configFromYaml("borker: redis://127.0.0.1:6379\n"),
      "borker",
      /^Unknown key "borker" in the YAML configuration: did you mean "broker"\?$/,
    );
    assertConfigError(
      () => configFromYaml("broker: b\namqp:\n  exchnage: x\n"),
      "amqp.exchnage",
      /"amqp\.exchnage".*did you mean "amqp\.exchange"/,
    );
    assertConfigError(
      () => configFromYaml("redis:\n  max_idel: 3\n"),
      "redis.max_idel",
      /did you mean "redis\.max_idle"/,
    );
    assertConfigError(
      () => configFromYaml("sqs:\n  x: 1\n"),
      "sqs.x",
      /Unknown key "sqs\.x"/,
    );
  });

  test("every key of machinery's YAML loader, with v2's and v1's cluster keys", () => {
    const input = configFromYaml(`
lock: redis://lock
multiple_broker_separator: "|"
max_message_bytes: 2048
tls_ca_file: ca.pem
connect_timeout: 4
command_timeout: 30
amqp:
  auto_delete: yes
  delayed_queue: dq
redis:
  wait: on
  client_name: cn
  cluster_mode: true
  sentinel_password: sp
`);
    assert.deepEqual(input, {
      lock: "redis://lock",
      multipleBrokerSeparator: "|",
      maxMessageBytes: 2048,
      tlsCAFile: "ca.pem",
      connectTimeout: 4,
      commandTimeout: 30,
      amqp: { autoDelete: true, delayedQueue: "dq" },
      redis: { wait: true, clientName: "cn", clusterEnabled: true, sentinelPassword: "sp" },
    });
    assert.equal(
      configFromYaml("redis:\n  cluster_enabled: false\n  cluster_mode: true\n").redis
        ?.clusterEnabled,
      false,
    );
    assert.equal(configFromYaml("redis:\n  cluster_enabled: true\n").redis?.clusterEnabled, true);
    assert.equal(configFromYaml("redis:\n  priority_queues: true\n").redis?.priorityQueues, true);
  });

  test("YAML 1.1 scalars, as yaml.v2 reads them", () => {
    const input = configFromYaml(`
results_expire_in: 0x10
no_unix_signals: yes
default_queue: 0x10
amqp:
  exchange: on
  binding_key: "quoted: value"
  prefetch_count: 010
redis:
  wait: off
`);
    assert.equal(input.resultsExpireIn, 16);
    assert.equal(input.noUnixSignals, true);
    // String fields take the scalar as written.
    assert.equal(input.defaultQueue, "0x10");
    assert.equal(input.amqp?.exchange, "on");
    assert.equal(input.amqp?.bindingKey, "quoted: value");
    assert.equal(input.amqp?.prefetchCount, 8);
    assert.equal(input.redis?.wait, false);
  });

  test("an empty value sets the zero value, as in Go", () => {
    assert.deepEqual(
      configFromYaml(`
broker:
results_expire_in: ~
no_unix_signals:
amqp:
  queue_binding_args:
redis:
`),
      {
        broker: "",
        resultsExpireIn: 0,
        noUnixSignals: false,
        amqp: { queueBindingArgs: null },
      },
    );
  });

  test("argument maps keep their YAML types", () => {
    const input = configFromYaml(`
amqp:
  queue_declare_args: {x-max-priority: 10, x-queue-type: quorum, x-single-active-consumer: true}
`);
    assert.deepEqual(input.amqp?.queueDeclareArgs, {
      "x-max-priority": 10,
      "x-queue-type": "quorum",
      "x-single-active-consumer": true,
    });
  });

  test("wrong types throw a ConfigError naming the key", () => {
    assertConfigError(
      () => configFromYaml("results_expire_in: soon\n"),
      "results_expire_in",
      /"results_expire_in"/,
      /expected an integer, got a string/,
    );
    assertConfigError(
      () => configFromYaml('redis:\n  max_idle: "12"\n'),
      "redis.max_idle",
      /"redis.max_idle"/,
    );
    assertConfigError(
      () => configFromYaml("redis:\n  max_idle_timeout: 1.5\n"),
      "redis.max_idle_timeout",
      /got a number/,
    );
    assertConfigError(
      () => configFromYaml("amqp:\n  auto_delete: 1\n"),
      "amqp.auto_delete",
      /expected a boolean, got an integer/,
    );
    assertConfigError(
      () => configFromYaml("broker: [a, b]\n"),
      "broker",
      /expected a string, got a list/,
    );
    assertConfigError(
      () => configFromYaml("amqp:\n  queue_binding_args: [a]\n"),
      "amqp.queue_binding_args",
      /expected a map, got a list/,
    );
    assertConfigError(() => configFromYaml("amqp: 3\n"), "amqp", /expected a map/);
  });

  test("malformed YAML, or a file that is not a map, throws", () => {
    assertConfigError(() => configFromYaml("broker: [\n"), "", /Invalid YAML configuration/);
    assertConfigError(() => configFromYaml("just a string\n"), "", /expected a map/);
    assertConfigError(() => configFromYaml("- a\n- b\n"), "", /expected a map, got a list/);
  });
});

describe("resolveConfig", () => {
  test("no input gives the defaults", () => {
    assert.deepEqual(resolveConfig(), defaultConfig());
    assert.deepEqual(resolveConfig(undefined, {}), defaultConfig());
  });

  test("flags > env > file, field by field and section by section", () => {
    const file = configFromYaml(TEST_YAML);
    const env = configFromEnv({
      DEFAULT_QUEUE: "from_env",
      AMQP_EXCHANGE: "env_exchange",
      REDIS_MAX_IDLE: "50",
    });
    const flags = { defaultQueue: "from_flags", redis: { maxIdle: 99 } };
    const cfg = resolveConfig(file, env, flags);
    assert.equal(cfg.defaultQueue, "from_flags");
    assert.equal(cfg.broker, "broker"); // file only
    assert.equal(cfg.amqp.exchange, "env_exchange"); // env over file
    assert.equal(cfg.amqp.bindingKey, "binding_key"); // file, same section
    assert.equal(cfg.amqp.exchangeType, "exchange_type");
    assert.equal(cfg.redis.maxIdle, 99); // flags over env over file
    assert.equal(cfg.redis.maxActive, 123); // file, same section
    assert.equal(cfg.redis.clientName, ""); // default, same section
    assert.equal(cfg.resultsExpireIn, 123456);
  });

  test("undefined values are skipped; null and falsy values are kept", () => {
    const cfg = resolveConfig(
      { broker: "b", amqp: { queueDeclareArgs: { "x-max-priority": 5 } } },
      {
        broker: undefined,
        resultsExpireIn: 0,
        noUnixSignals: false,
        lock: "",
        amqp: { queueDeclareArgs: null, exchange: undefined },
      },
    );
    assert.equal(cfg.broker, "b");
    assert.equal(cfg.resultsExpireIn, 0);
    assert.equal(cfg.amqp.queueDeclareArgs, null);
    assert.equal(cfg.amqp.exchange, "machinery_exchange");
  });

  test("maps are copied, not shared; unknown fields are ignored", () => {
    const args = { "x-max-priority": 10 };
    const cfg = resolveConfig(
      { amqp: { queueDeclareArgs: args } },
      { bogus: 1, redis: { nope: 2 } } as unknown as Record<string, never>,
    );
    args["x-max-priority"] = 1;
    assert.deepEqual(cfg.amqp.queueDeclareArgs, { "x-max-priority": 10 });
    assert.equal("bogus" in cfg, false);
    assert.equal("nope" in cfg.redis, false);
  });

  test("tls and maxMessageBytes are ours", () => {
    const cfg = resolveConfig({ tls: true, maxMessageBytes: 1 });
    assert.equal(cfg.tls, true);
    assert.equal(cfg.maxMessageBytes, 1);
    assert.equal(resolveConfig(configFromEnv(TEST_ENV)).tls, false);
  });

  test("timeouts: 0 or less means the default", () => {
    assert.equal(connectTimeoutMs(resolveConfig({})), 10_000);
    assert.equal(commandTimeoutMs(resolveConfig({})), 15_000);
    assert.equal(connectTimeoutMs(resolveConfig({ connectTimeout: 0 })), 10_000);
    assert.equal(commandTimeoutMs(resolveConfig({ commandTimeout: -1 })), 15_000);
    assert.equal(connectTimeoutMs(resolveConfig({ connectTimeout: 2 })), 2_000);
    assert.equal(commandTimeoutMs(resolveConfig({ commandTimeout: 3 })), 3_000);
  });
});
