/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), against a real
 * worker on Redis and one on RabbitMQ (Redis backend): the overview names the queues and both
 * workers and its counts follow what is sent, a task opens by UUID with its state and results,
 * a malformed message shows as a dead letter, a dead letter retried from the UI leaves the list
 * and its task succeeds, read-only mode hides and refuses the actions, and a task argument that
 * is markup renders as text. Screenshots of each screen go to `.ci/reports/`; axe-core finds no
 * serious or critical accessibility violation.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { newSignature, type Signature } from "../../mod.ts";
import { RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import { type Child, start, startWorker, stopWorker } from "../cli_support.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  REQUIRE_SERVICES,
  uniqueName,
} from "../integration/redis_support.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP } from "../integration/amqp_support.ts";
import {
  type Browser,
  browserSkipReason,
  launchBrowser,
  REPORTS,
  seriousViolations,
} from "./browser.ts";

const TIMEOUT = 180_000;
const XSS = "<img src=x onerror=alert(1)>";
const MALFORMED = "this is not a task {";

/** Starts `machinery dashboard --port 0 ARGS` and resolves to its child and base URL. */
async function startDashboard(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: Child; url: string }> {
  const child = start("cli.ts", ["dashboard", "--port", "0", ...args], env, TIMEOUT);
  const url = await waitFor(
    () => /on (http:\/\/127\.0\.0\.1:\d+)\//.exec(child.stderr())?.[1],
    "the dashboard to listen",
    30_000,
  );
  return { child, url };
}

async function stopChild(child: Child): Promise<void> {
  child.process.kill("SIGTERM");
  await child.exited;
}

/** Waits until the page's text content satisfies `check` (the page refreshes itself). */
async function waitForText(
  page: Page,
  selector: string,
  check: (text: string) => boolean,
  what: string,
) {
  await waitFor(
    async () =>
      check(
        await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => "") ?? "",
      ),
    what,
    30_000,
  );
}

/** Waits until the overview's row of `worker` counts at least `count` processed tasks. */
async function waitForProcessed(page: Page, worker: string, count: number): Promise<void> {
  const row = page.locator("#workers tr", { hasText: worker });
  await waitFor(
    async () => Number((await row.locator("td").nth(5).textContent())?.trim()) >= count,
    `${worker} to count ${count} processed`,
    30_000,
  );
}

function add(a: number, b: number, fields: Partial<Signature> = {}): Signature {
  return newSignature("add", [
    { name: "", type: "int64", value: a },
    { name: "", type: "int64", value: b },
  ], fields);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(REPORTS, `dashboard-${name}.png`), fullPage: true });
}

async function assertAccessible(page: Page, screen: string): Promise<void> {
  assert.deepEqual(await seriousViolations(page), [], `accessibility of ${screen}`);
}

const skip = (await redisSkipReason()) || (await amqpSkipReason()) ||
  (REQUIRE_SERVICES ? false : browserSkipReason());

describeUnless(skip, "the dashboard in chromium", () => {
  const redisQueue = uniqueName("dash_redis");
  const amqpQueue = uniqueName("dash_amqp");
  const exchange = uniqueName("dash_exchange");
  const delayedKey = uniqueName("dash_delayed");
  const redisEnv = { REDIS_DELAYED_TASKS_KEY: delayedKey };
  const amqpEnv = { AMQP_EXCHANGE: exchange, AMQP_BINDING_KEY: amqpQueue };
  const redisFlags = ["--broker", REDIS_URL, "--result-backend", REDIS_URL, "--queue", redisQueue];
  const amqpFlags = ["--broker", AMQP_URL, "--result-backend", REDIS_URL, "--queue", amqpQueue];
  const children: Child[] = [];
  let browser: Browser;
  let redisBroker: RedisBroker;
  let amqpBroker: AMQPBroker;
  let redisWorker: Child;
  let amqpWorker: Child;
  let dashboard: string;
  let readOnly: string;
  let amqpDashboard: string;
  const dialogs: string[] = [];

  before(async () => {
    assert.equal(browserSkipReason(), false);
    await mkdir(REPORTS, { recursive: true });
    redisBroker = new RedisBroker(REDIS_URL, {
      config: { defaultQueue: redisQueue, redis: { delayedTasksKey: delayedKey } },
    });
    amqpBroker = new AMQPBroker(AMQP_URL, {
      config: { defaultQueue: amqpQueue, amqp: { exchange, bindingKey: amqpQueue } },
    });
    redisWorker = await startWorker([...redisFlags, "--name", "dash_redis_worker"], redisEnv);
    amqpWorker = await startWorker([...amqpFlags, "--name", "dash_amqp_worker"], amqpEnv);
    const [rw, ro, am] = await Promise.all([
      startDashboard(redisFlags, redisEnv),
      startDashboard([...redisFlags, "--read-only"], redisEnv),
      startDashboard(amqpFlags, amqpEnv),
    ]);
    children.push(rw.child, ro.child, am.child);
    [dashboard, readOnly, amqpDashboard] = [rw.url, ro.url, am.url];
    browser = await launchBrowser();
  }, { timeout: TIMEOUT });

  after(async () => {
    await browser?.close();
    await Promise.all(children.map(stopChild));
    await Promise.all([redisWorker, amqpWorker].filter(Boolean).map(stopWorker));
    await redisBroker?.close();
    await amqpBroker?.close();
    await deleteRedisKeys([
      redisQueue,
      delayedKey,
      `machinery:ts:dead:${redisQueue}`,
      `machinery:ts:dead_bytes:${redisQueue}`,
    ]);
    await deleteAMQP([amqpQueue, `${amqpQueue}.dead_letters`], [exchange]);
  }, { timeout: TIMEOUT });

  async function open(path: string, base = dashboard): Promise<Page> {
    const page = await browser.context.newPage();
    page.on("dialog", (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      // The delete buttons ask for confirmation; nothing else may open a dialog.
      void (dialog.type() === "confirm" ? dialog.accept() : dialog.dismiss());
    });
    await page.goto(base + path);
    return page;
  }

  it(
    "shows the queues and both workers, and follows what is sent",
    { timeout: TIMEOUT },
    async () => {
      const page = await open("/");
      const row = page.locator(`#queues tr[data-queue="${redisQueue}"]`);
      await waitForText(
        page,
        "#workers",
        (t) => t.includes("dash_redis_worker") && t.includes("dash_amqp_worker"),
        "both workers listed",
      );
      assert.match(await row.textContent() ?? "", new RegExp(redisQueue));

      // Three tasks due in an hour: the delayed count follows (the page polls on its own).
      const later = new Date(Date.now() + 3_600_000).toISOString();
      for (let i = 0; i < 3; i++) {
        await redisBroker.publish(add(i, 1, { eta: later }));
      }
      await waitForText(
        page,
        `#queues tr[data-queue="${redisQueue}"] td:nth-child(3)`,
        (t) => t.trim() === "3",
        "delayed count 3",
      );

      // Five tasks run by the Redis worker: its processed count follows.
      for (let i = 0; i < 5; i++) await redisBroker.publish(add(i, 2));
      await waitForProcessed(page, "dash_redis_worker", 5);
      await shot(page, "overview");
      await assertAccessible(page, "the overview");

      // Phone width, dark.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.emulateMedia({ colorScheme: "dark" });
      await shot(page, "overview-phone-dark");
      await page.close();

      // The RabbitMQ dashboard counts what its worker has not taken (none left: 0 ready).
      for (let i = 0; i < 4; i++) await amqpBroker.publish(add(i, 3));
      const amqp = await open("/", amqpDashboard);
      await waitForText(
        amqp,
        `#queues tr[data-queue="${amqpQueue}"]`,
        (t) => t.includes(amqpQueue),
        "the AMQP queue",
      );
      await waitForProcessed(amqp, "dash_amqp_worker", 4);
      await shot(amqp, "overview-amqp");
      await amqp.close();
    },
  );

  it("opens a task by UUID with its state and results", { timeout: TIMEOUT }, async () => {
    const signature = add(40, 2);
    await redisBroker.publish(signature);
    const page = await open("/");
    await page.getByRole("searchbox", { name: "Task UUID" }).fill(signature.uuid);
    await page.getByRole("button", { name: "Find task" }).click();
    await page.waitForURL(`**/task/${signature.uuid}`);
    await waitForText(page, "#task-state", (t) => t.includes("SUCCESS"), "the task's SUCCESS");
    assert.match(await page.locator("#task-results").textContent() ?? "", /42/);
    await shot(page, "task");
    await assertAccessible(page, "the task page");
    await page.close();
  });

  it("renders a task argument that is markup as text", { timeout: TIMEOUT }, async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const waiting = newSignature("concat", [{ name: "", type: "[]string", value: [XSS] }], {
      eta: later,
    });
    const ran = newSignature("concat", [{ name: "", type: "[]string", value: [XSS, XSS] }]);
    await redisBroker.publish(waiting);
    await redisBroker.publish(ran);

    const page = await open(`/task/${waiting.uuid}`);
    assert.match(
      await page.locator("#task-signature").textContent() ?? "",
      /<img src=x onerror=alert\(1\)>/,
    );
    const delayed = await open("/delayed");
    await waitForText(
      delayed,
      "#delayed",
      (t) => t.includes(XSS),
      "the argument in the delayed list",
    );
    await shot(delayed, "delayed");
    await assertAccessible(delayed, "the delayed page");
    const done = await open(`/task/${ran.uuid}`);
    await waitForText(done, "#task-state", (t) => t.includes("SUCCESS"), "the concat's SUCCESS");
    assert.ok((await done.locator("#task-results").textContent())?.includes(XSS + XSS));
    for (const p of [page, delayed, done]) {
      assert.equal(await p.locator("main img").count(), 0, "no element was made from the argument");
    }
    assert.deepEqual(dialogs.filter((d) => !d.startsWith("confirm")), []);
    for (const p of [page, delayed, done]) await p.close();
  });

  it("lists a dead letter, retries it from the UI and hides actions when read-only", {
    timeout: TIMEOUT,
  }, async () => {
    // A malformed message: the worker sets it aside with its reason.
    const client = rawClient();
    await client.connect();
    try {
      await client.rpush(redisQueue, MALFORMED);
      const overview = await open("/");
      await waitForText(
        overview,
        `#queues tr[data-queue="${redisQueue}"] td:nth-child(5)`,
        (t) => t.trim() === "1",
        "dead count 1",
      );
      await overview.close();

      // A task set aside earlier (as the broker writes it) that can run now.
      const revived = add(20, 22);
      const { encodeSignature } = await import("../../src/wire/mod.ts");
      const body = encodeSignature(revived);
      await client.rpush(
        `machinery:ts:dead:${redisQueue}`,
        JSON.stringify({
          queue: redisQueue,
          reason: "set aside by the test",
          rejectedAt: new Date().toISOString(),
          body,
          bytes: body.length,
          truncated: false,
        }),
      );

      // Read-only: the letters show, no action does, and a POST is refused.
      const ro = await open(`/dead/${redisQueue}`, readOnly);
      await waitForText(
        ro,
        "#dead",
        (t) => t.includes(MALFORMED) && t.includes("set aside by the test"),
        "both letters (read-only)",
      );
      assert.equal(await ro.locator("main form").count(), 0);
      assert.equal(await ro.getByRole("button", { name: /retry|delete/i }).count(), 0);
      const refused = await fetch(`${readOnly}/dead/${redisQueue}/retry`, {
        method: "POST",
        body: new URLSearchParams({ all: "1" }),
      });
      assert.equal(refused.status, 403);
      await refused.body?.cancel();
      await ro.close();

      // A POST without the page's form token is refused too.
      const forged = await fetch(`${dashboard}/dead/${redisQueue}/retry`, {
        method: "POST",
        body: new URLSearchParams({ all: "1", csrf: "guess" }),
      });
      assert.equal(forged.status, 403);
      await forged.body?.cancel();

      const page = await open(`/dead/${redisQueue}`);
      await waitForText(page, "#dead", (t) => t.includes(MALFORMED), "the malformed letter");
      assert.match(await page.locator("#dead").textContent() ?? "", /set aside by the test/);
      await shot(page, "dead");
      await assertAccessible(page, "the dead letters");

      // Retry the task: it leaves the list and succeeds.
      await page.locator("#dead tr", { hasText: revived.uuid }).getByRole("button", {
        name: "Retry",
      }).click();
      await waitForText(page, ".flash", (t) => t.includes("Retried 1"), "the retry's confirmation");
      await waitFor(
        async () => !(await page.locator("main").textContent())?.includes(revived.uuid),
        "the retried letter leaves the list",
        30_000,
      );
      const task = await open(`/task/${revived.uuid}`);
      await waitForText(
        task,
        "#task-state",
        (t) => t.includes("SUCCESS"),
        "the retried task's SUCCESS",
      );
      assert.match(await task.locator("#task-results").textContent() ?? "", /42/);
      await task.close();

      // Delete the malformed one (it would only be set aside again).
      await page.getByRole("button", { name: "Delete all" }).click();
      await waitForText(page, "main", (t) => t.includes("No dead letters"), "an empty dead list");
      await page.close();
    } finally {
      await client.quit();
    }
  });

  it("shows a queue's pending tasks, paged", { timeout: TIMEOUT }, async () => {
    const idle = uniqueName("dash_idle");
    const client = rawClient();
    await client.connect();
    try {
      const { encodeSignature } = await import("../../src/wire/mod.ts");
      const sigs = Array.from({ length: 25 }, (_, i) => add(i, i, { routingKey: idle }));
      await client.rpush(idle, ...sigs.map(encodeSignature));
      const page = await open(`/queue/${idle}`);
      assert.equal(await page.locator("#pending tbody tr").count(), 20);
      assert.match(await page.locator("main").textContent() ?? "", /1–20/);
      await shot(page, "queue");
      await assertAccessible(page, "the queue page");
      await page.getByRole("link", { name: "Older →" }).click();
      await page.waitForURL(/offset=20/);
      assert.equal(await page.locator("#pending tbody tr").count(), 5);
      await page.close();
      const schedules = await open("/schedules");
      await shot(schedules, "schedules");
      await assertAccessible(schedules, "the schedules page");
      await schedules.close();
    } finally {
      await client.del(idle);
      await client.quit();
    }
  });
});
