/** Cron specs in machinery's format: every form `RegisterPeriodicTask` accepts, and the errors. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CronSpecError, parseGoDuration, parseSchedule } from "../src/periodic/schedule.ts";

/** The next `count` ticks of `spec` after `from` (ISO strings). */
function ticks(spec: string, from: string, count = 3): string[] {
  const schedule = parseSchedule(spec);
  const out: string[] = [];
  let t = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = schedule.next(t);
    assert.ok(next, `${spec} has a tick after ${t.toISOString()}`);
    out.push(next.toISOString());
    t = next;
  }
  return out;
}

describe("cron specs", () => {
  it("reads five fields: minute hour day-of-month month day-of-week", () => {
    assert.deepEqual(ticks("CRON_TZ=UTC 30 6 * * *", "2025-01-01T07:00:00Z", 2), [
      "2025-01-02T06:30:00.000Z",
      "2025-01-03T06:30:00.000Z",
    ]);
    assert.deepEqual(ticks("CRON_TZ=UTC */15 * * * *", "2025-01-01T00:00:00Z"), [
      "2025-01-01T00:15:00.000Z",
      "2025-01-01T00:30:00.000Z",
      "2025-01-01T00:45:00.000Z",
    ]);
    assert.deepEqual(ticks("CRON_TZ=UTC 0 9 * JAN,FEB MON-FRI", "2025-01-03T10:00:00Z", 2), [
      "2025-01-06T09:00:00.000Z",
      "2025-01-07T09:00:00.000Z",
    ]);
  });

  it("takes ? for * (the Go test's `0 6 * * ?`)", () => {
    assert.deepEqual(
      ticks("CRON_TZ=UTC 0 6 * * ?", "2025-01-01T00:00:00Z"),
      ticks("CRON_TZ=UTC 0 6 * * *", "2025-01-01T00:00:00Z"),
    );
    assert.deepEqual(
      ticks("CRON_TZ=UTC 0 6 ? * MON", "2025-01-01T00:00:00Z"),
      ["2025-01-06T06:00:00.000Z", "2025-01-13T06:00:00.000Z", "2025-01-20T06:00:00.000Z"],
    );
  });

  it("takes an optional seconds field first", () => {
    assert.deepEqual(ticks("CRON_TZ=UTC */10 * * * * *", "2025-01-01T00:00:01Z"), [
      "2025-01-01T00:00:10.000Z",
      "2025-01-01T00:00:20.000Z",
      "2025-01-01T00:00:30.000Z",
    ]);
    assert.deepEqual(ticks("* * * * * *", "2025-01-01T00:00:00.500Z", 2), [
      "2025-01-01T00:00:01.000Z",
      "2025-01-01T00:00:02.000Z",
    ]);
  });

  it("returns the tick strictly after the given time", () => {
    const schedule = parseSchedule("* * * * * *");
    const t = new Date("2025-01-01T00:00:30.000Z");
    assert.equal(schedule.next(t)?.toISOString(), "2025-01-01T00:00:31.000Z");
    assert.equal(
      schedule.next(new Date(t.getTime() - 1))?.toISOString(),
      "2025-01-01T00:00:30.000Z",
    );
  });

  it("reads the descriptors", () => {
    const from = "2025-01-01T00:00:30Z";
    const first = (spec: string) => ticks(`CRON_TZ=UTC ${spec}`, from, 1)[0];
    assert.equal(first("@hourly"), "2025-01-01T01:00:00.000Z");
    assert.equal(first("@daily"), "2025-01-02T00:00:00.000Z");
    assert.equal(first("@midnight"), "2025-01-02T00:00:00.000Z");
    assert.equal(first("@weekly"), "2025-01-05T00:00:00.000Z"); // a Sunday
    assert.equal(first("@monthly"), "2025-02-01T00:00:00.000Z");
    assert.equal(first("@yearly"), "2026-01-01T00:00:00.000Z");
    assert.equal(first("@annually"), "2026-01-01T00:00:00.000Z");
  });

  it("reads @every with a Go duration, on multiples of it since the epoch", () => {
    assert.deepEqual(ticks("@every 1m", "2025-01-01T00:00:30Z", 2), [
      "2025-01-01T00:01:00.000Z",
      "2025-01-01T00:02:00.000Z",
    ]);
    assert.deepEqual(ticks("@every 1m30s", "2025-01-01T00:00:00Z", 2), [
      "2025-01-01T00:01:30.000Z",
      "2025-01-01T00:03:00.000Z",
    ]);
    assert.deepEqual(ticks("@every 1h", "2025-01-01T00:59:59.999Z", 1), [
      "2025-01-01T01:00:00.000Z",
    ]);
    // Every process computes the same ticks, whenever it started.
    const a = parseSchedule("@every 7s").next(new Date(1_000_000_001));
    const b = parseSchedule("@every 7s").next(new Date(1_000_000_999));
    assert.equal(a?.getTime(), b?.getTime());
    assert.equal(a!.getTime() % 7000, 0);
  });

  it("rounds @every down to whole seconds, at least one, as Go does", () => {
    assert.deepEqual(ticks("@every 1.5s", "2025-01-01T00:00:00Z", 2), [
      "2025-01-01T00:00:01.000Z",
      "2025-01-01T00:00:02.000Z",
    ]);
    assert.deepEqual(ticks("@every 500ms", "2025-01-01T00:00:00Z", 2), [
      "2025-01-01T00:00:01.000Z",
      "2025-01-01T00:00:02.000Z",
    ]);
    assert.deepEqual(ticks("@every 0s", "2025-01-01T00:00:00Z", 1), ["2025-01-01T00:00:01.000Z"]);
  });

  it("reads a CRON_TZ= or TZ= prefix; the default is the local zone", () => {
    // Paris is UTC+1 in January and UTC+2 in July.
    assert.deepEqual(ticks("CRON_TZ=Europe/Paris 0 6 * * *", "2025-01-01T00:00:00Z", 1), [
      "2025-01-01T05:00:00.000Z",
    ]);
    assert.deepEqual(ticks("TZ=Europe/Paris 0 6 * * *", "2025-07-01T00:00:00Z", 1), [
      "2025-07-01T04:00:00.000Z",
    ]);
    assert.equal(parseSchedule("TZ=Asia/Tokyo @daily").timezone, "Asia/Tokyo");
    assert.equal(parseSchedule("CRON_TZ=UTC @every 1m").timezone, "UTC");
    const local = parseSchedule("0 6 * * *").next(new Date(2025, 0, 1, 0, 0, 0));
    assert.equal(local?.getTime(), new Date(2025, 0, 1, 6, 0, 0).getTime());
    assert.equal(parseSchedule("0 6 * * *").timezone, "");
  });

  it("ANDs the day fields when one starts with * or ?, ORs them otherwise (robfig/cron)", () => {
    // 2025-01-06 is a Monday. The 1st OR Mondays:
    assert.deepEqual(ticks("CRON_TZ=UTC 0 0 1 * MON", "2025-01-01T12:00:00Z", 3), [
      "2025-01-06T00:00:00.000Z",
      "2025-01-13T00:00:00.000Z",
      "2025-01-20T00:00:00.000Z",
    ]);
    assert.equal(
      ticks("CRON_TZ=UTC 0 0 1,15 * MON", "2025-01-14T12:00:00Z", 1)[0],
      "2025-01-15T00:00:00.000Z",
    );
    // Odd days AND Mondays (a step on * keeps robfig's star bit):
    assert.deepEqual(ticks("CRON_TZ=UTC 0 0 */2 * MON", "2025-01-01T12:00:00Z", 3), [
      "2025-01-13T00:00:00.000Z",
      "2025-01-27T00:00:00.000Z",
      "2025-02-03T00:00:00.000Z",
    ]);
    assert.deepEqual(ticks("CRON_TZ=UTC 0 0 13 * ?", "2025-01-01T00:00:00Z", 2), [
      "2025-01-13T00:00:00.000Z",
      "2025-02-13T00:00:00.000Z",
    ]);
  });

  it("gives no tick for a date that never comes", () => {
    assert.equal(parseSchedule("0 0 30 2 *").next(new Date("2025-01-01T00:00:00Z")), null);
  });

  it("rejects malformed specs with CronSpecError", () => {
    const bad: [string, RegExp][] = [
      ["", /the spec is empty/],
      ["   ", /the spec is empty/],
      ["* * * *", /expected 5 fields .* found 4/],
      ["1 2 3 4 5 6 7", /found 7/],
      ["60 * * * *", /minute/i],
      ["* 24 * * *", /hour/i],
      ["* * 32 * *", /day/i],
      ["* * * 13 *", /month/i],
      ["* * * * FOO", /Invalid cron spec "\* \* \* \* FOO"/],
      ["@reboot", /unknown descriptor "@reboot"/],
      ["@fortnightly", /unknown descriptor/],
      ["@every", /Invalid cron spec/],
      ["@everyday", /unknown descriptor "@everyday"/],
      ["@every 1x", /unknown unit "x"/],
      ["@every 10", /missing unit/],
      ["@every -1s", /negative duration/],
      ["@hourly extra", /unknown descriptor/],
      ["CRON_TZ=Nowhere/Atlantis * * * * *", /unknown time zone "Nowhere\/Atlantis"/],
      ["TZ= * * * * *", /time zone is empty/],
      ["CRON_TZ=UTC", /the spec is empty/],
    ];
    for (const [spec, message] of bad) {
      assert.throws(() => parseSchedule(spec), (error: unknown) => {
        assert.ok(error instanceof CronSpecError, `${spec}: ${error}`);
        assert.equal(error.name, "CronSpecError");
        assert.equal(error.spec, spec);
        assert.match(error.message, message, `${JSON.stringify(spec)}: ${error.message}`);
        assert.ok(error.message.startsWith(`Invalid cron spec "${spec}": `));
        assert.ok(!error.message.endsWith("."), error.message);
        return true;
      });
    }
  });
});

describe("Go durations", () => {
  it("parses the units and their sums", () => {
    assert.equal(parseGoDuration("0"), 0);
    assert.equal(parseGoDuration("1h"), 3_600_000);
    assert.equal(parseGoDuration("1h30m"), 5_400_000);
    assert.equal(parseGoDuration("1.5h"), 5_400_000);
    assert.equal(parseGoDuration("2m3s"), 123_000);
    assert.equal(parseGoDuration("250ms"), 250);
    assert.equal(parseGoDuration("1500us"), 1);
    assert.equal(parseGoDuration("1500µs"), 1);
    assert.equal(parseGoDuration("2000000ns"), 2);
    assert.equal(parseGoDuration(".5s"), 500);
    assert.equal(parseGoDuration("+3s"), 3000);
  });

  it("rejects what Go rejects", () => {
    for (const text of ["", "s", "1", "1d", "1h-5m", "-1s", "1..5s", "abc"]) {
      assert.throws(() => parseGoDuration(text), Error, text);
    }
  });
});
