/** Periodic registrations from the YAML config's `periodic_tasks` and from `--periodic`. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, configFromYaml } from "../mod.ts";
import {
  scheduleFromFlag,
  schedulesFromConfig,
  schedulesFromYaml,
} from "../src/periodic/config.ts";
import { type PeriodicDefinition, Scheduler } from "../src/periodic/scheduler.ts";
import type { Signature } from "../src/wire/signature.ts";

const YAML = `
broker: redis://127.0.0.1:6379
default_queue: machinery_tasks
periodic_tasks:
  - spec: "@every 10s"
    task: add
    args: [1, 2]
  - name: morning-report
    spec: "CRON_TZ=Europe/Paris 0 6 * * MON-FRI"
    task: report
    args:
      - { type: string, value: daily }
      - { type: "[]int64", value: [1, 2, 3] }
      - { type: int64, value: 9223372036854775807 }
      - { type: float64, value: 1 }
      - 2.5
      - true
      - [a, b]
    routing_key: reports
    retry_count: 3
    retry_timeout: 10
    priority: 2
    immutable: yes
  - name: fan-out
    spec: "*/5 * * * *"
    send_concurrency: 2
    group: [add, { task: multiply, args: [2, 3] }]
  - name: pipeline
    spec: "@hourly"
    chain: [fetch, parse, store]
  - name: totals
    spec: "0 * * * * ?"
    chord: [{ task: add, args: [1, 1] }, { task: add, args: [2, 2] }]
    callback: sum_ints
`;

function args(sig: Signature): [string, unknown][] {
  return (sig.args ?? []).map((a) => [a.type, a.value]);
}

describe("periodic config", () => {
  it("reads every kind from the periodic_tasks section", () => {
    const defs = schedulesFromYaml(YAML);
    assert.deepEqual(defs.map((d) => [d.kind, d.name, d.spec]), [
      ["task", "add", "@every 10s"],
      ["task", "morning-report", "CRON_TZ=Europe/Paris 0 6 * * MON-FRI"],
      ["group", "fan-out", "*/5 * * * *"],
      ["chain", "pipeline", "@hourly"],
      ["chord", "totals", "0 * * * * ?"],
    ]);
    const [add, report, group, chain, chord] = defs as [
      Extract<PeriodicDefinition, { kind: "task" }>,
      Extract<PeriodicDefinition, { kind: "task" }>,
      Extract<PeriodicDefinition, { kind: "group" }>,
      Extract<PeriodicDefinition, { kind: "chain" }>,
      Extract<PeriodicDefinition, { kind: "chord" }>,
    ];
    assert.equal(add.signature.name, "add");
    assert.deepEqual(args(add.signature), [["int64", 1n], ["int64", 2n]]);

    assert.equal(report.signature.name, "report");
    assert.deepEqual(args(report.signature), [
      ["string", "daily"],
      ["[]int64", [1, 2, 3]],
      ["int64", 9223372036854775807n],
      ["float64", 1],
      ["float64", 2.5],
      ["bool", true],
      ["[]string", ["a", "b"]],
    ]);
    assert.equal(report.signature.routingKey, "reports");
    assert.equal(report.signature.retryCount, 3);
    assert.equal(report.signature.retryTimeout, 10);
    assert.equal(report.signature.priority, 2);
    assert.equal(report.signature.immutable, true);

    assert.equal(group.sendConcurrency, 2);
    assert.deepEqual(group.signatures.map((s) => s.name), ["add", "multiply"]);
    assert.equal(group.signatures[0].args, null);
    assert.deepEqual(args(group.signatures[1]), [["int64", 2n], ["int64", 3n]]);

    assert.deepEqual(chain.signatures.map((s) => s.name), ["fetch", "parse", "store"]);

    assert.equal(chord.callback.name, "sum_ints");
    assert.equal(chord.sendConcurrency, 0);
    assert.deepEqual(chord.signatures.map(args), [
      [["int64", 1n], ["int64", 1n]],
      [["int64", 2n], ["int64", 2n]],
    ]);
  });

  it("leaves the rest of the config to configFromYaml, which ignores the section", () => {
    const config = configFromYaml(YAML);
    assert.equal(config.broker, "redis://127.0.0.1:6379");
    assert.equal(config.defaultQueue, "machinery_tasks");
  });

  it("registers what it reads", async () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const never = () => Promise.reject(new Error("not in this test"));
    const s = new Scheduler({
      logger,
      sendTask: never,
      sendGroup: never,
      sendChain: never,
      sendChord: never,
    });
    for (const def of schedulesFromYaml(YAML)) s.register(def);
    assert.deepEqual(s.list().map((e) => e.name), [
      "add",
      "morning-report",
      "fan-out",
      "pipeline",
      "totals",
    ]);
    await s.close();
  });

  it("returns nothing when there is no section", () => {
    assert.deepEqual(schedulesFromYaml(""), []);
    assert.deepEqual(schedulesFromYaml("broker: redis://h\n"), []);
    assert.deepEqual(schedulesFromYaml("periodic_tasks:\n"), []);
    assert.deepEqual(schedulesFromConfig(undefined), []);
    assert.deepEqual(schedulesFromConfig({ periodic_tasks: [] }), []);
  });

  it("names the key at fault", () => {
    const bad: [unknown, string, RegExp][] = [
      [{ periodic_tasks: {} }, "periodic_tasks", /expected a list/],
      [{ periodic_tasks: ["add"] }, "periodic_tasks[0]", /expected a map/],
      [{ periodic_tasks: [{ task: "add" }] }, "periodic_tasks[0].spec", /non-empty string/],
      [
        { periodic_tasks: [{ spec: "61 * * * *", task: "add" }] },
        "periodic_tasks[0].spec",
        /Invalid periodic_tasks\[0\]\.spec: Invalid cron spec "61 \* \* \* \*"/,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly" }] },
        "periodic_tasks[0]",
        /exactly one of .* got none/,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", task: "a", chain: ["b"] }] },
        "periodic_tasks[0]",
        /got task and chain/,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", chain: ["b"] }] },
        "periodic_tasks[0].name",
        /non-empty string/,
      ],
      [
        { periodic_tasks: [{ name: "g", spec: "@hourly", group: [] }] },
        "periodic_tasks[0].group",
        /non-empty list/,
      ],
      [
        { periodic_tasks: [{ name: "c", spec: "@hourly", chord: ["a"] }] },
        "periodic_tasks[0].callback",
        /a chord needs one/,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", task: "a", sched: 1 }] },
        "periodic_tasks[0].sched",
        /Unknown key "sched"/,
      ],
      [
        { periodic_tasks: [{ name: "g", spec: "@hourly", group: [{ task: "a", arg: [] }] }] },
        "periodic_tasks[0].group[0].arg",
        /Unknown key "arg"/,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", task: "a", args: [{ type: "int65", value: 1 }] }] },
        "periodic_tasks[0].args[0].type",
        /"int65": expected one of bool, /,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", task: "a", args: [{ type: "int64", value: "x" }] }] },
        "periodic_tasks[0].args[0].value",
        /Invalid periodic_tasks\[0\]\.args\[0\]\.value: /,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", task: "a", args: [[1, "a"]] }] },
        "periodic_tasks[0].args[0]",
        /or give \{ type, value \}/,
      ],
      [
        { periodic_tasks: [{ spec: "@hourly", task: "a", retry_count: -1 }] },
        "periodic_tasks[0].retry_count",
        /a whole number/,
      ],
      [
        { periodic_tasks: [{ name: "g", spec: "@hourly", group: ["a"], send_concurrency: "2" }] },
        "periodic_tasks[0].send_concurrency",
        /a whole number/,
      ],
      [
        {
          periodic_tasks: [{ spec: "@hourly", task: "a" }, { spec: "@daily", task: "a" }],
        },
        "periodic_tasks[1].name",
        /Duplicate periodic name "a" in periodic_tasks\[0\] and periodic_tasks\[1\]/,
      ],
    ];
    for (const [root, key, message] of bad) {
      assert.throws(() => schedulesFromConfig(root), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.equal(error.key, key, error.message);
        assert.match(error.message, message);
        assert.ok(!error.message.endsWith("."), error.message);
        return true;
      }, JSON.stringify(root));
    }
  });

  it("rejects malformed YAML", () => {
    // An unquoted spec starting with * is a YAML alias.
    assert.throws(
      () => schedulesFromYaml("periodic_tasks:\n  - spec: */5 * * * *\n    task: a\n"),
      ConfigError,
    );
  });

  it("reads --periodic TASK=SPEC", () => {
    const def = scheduleFromFlag("cleanup=@every 1h");
    assert.equal(def.kind, "task");
    assert.equal(def.name, "cleanup");
    assert.equal(def.spec, "@every 1h");
    assert.equal(def.kind === "task" && def.signature.name, "cleanup");
    const tz = scheduleFromFlag("report=CRON_TZ=Europe/Paris 0 6 * * *");
    assert.equal(tz.name, "report");
    assert.equal(tz.spec, "CRON_TZ=Europe/Paris 0 6 * * *");
    for (const text of ["cleanup", "=@hourly", "cleanup=", "cleanup=61 * * * *"]) {
      assert.throws(() => scheduleFromFlag(text), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.key, "--periodic");
        return true;
      }, text);
    }
  });
});
