/**
 * The dashboard's fetch handler without a browser or a server: a fake inspector and registry
 * stand for the broker. Every response carries the strict Content-Security-Policy, values are
 * escaped, actions need the page's form token and a same-origin request and are refused in
 * read-only mode, the auth token guards every path, and the live fragment is the page's body.
 * The command refuses a non-loopback address without a token.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newSignature } from "../../mod.ts";
import type {
  DeadLetterRecord,
  DeadLetterSelection,
  Inspector,
  QueueCounts,
  WorkerInfo,
  WorkerRegistry,
} from "../../mod.ts";
import type { Backend, TaskState } from "../../mod.ts";
import { encodeSignature } from "../../src/wire/mod.ts";
import { createDashboard, type DashboardOptions } from "../../src/dashboard/mod.ts";
import { cli } from "../cli_support.ts";

const XSS = "<img src=x onerror=alert(1)>";

/** An inspector over fixed data that records the dead-letter actions. */
function fakeInspector(calls: string[]): Inspector {
  const task = newSignature(XSS, [{ name: "", type: "string", value: XSS }], {
    uuid: "task_1",
    groupUUID: "group_1",
    groupTaskCount: 3,
    chordCallback: newSignature("sum_ints"),
  });
  const letter: DeadLetterRecord = {
    queue: "q",
    uuid: task.uuid,
    name: task.name,
    reason: XSS,
    rejectedAt: "2026-01-01T00:00:00Z",
    body: encodeSignature(task),
    truncated: false,
  };
  return {
    queues: (names?: string[]) =>
      Promise.resolve(
        (names ?? []).map((queue): QueueCounts => ({
          queue,
          ready: 3,
          delayed: null,
          held: 1,
          dead: 1,
        })),
      ),
    pending: (queue) =>
      Promise.resolve([{ queue, signature: task, body: encodeSignature(task), eta: null }]),
    delayed: () => Promise.resolve([]),
    deadLetters: () => Promise.resolve([letter]),
    retryDeadLetters: (queue: string, selection: DeadLetterSelection) => {
      calls.push(`retry ${queue} ${JSON.stringify(selection)}`);
      return Promise.resolve(1);
    },
    deleteDeadLetters: (queue: string, selection: DeadLetterSelection) => {
      calls.push(`delete ${queue} ${JSON.stringify(selection)}`);
      return Promise.resolve(1);
    },
    purge: () => Promise.resolve(0),
    locate: () => Promise.resolve({ where: "queue", queue: "q" }),
    close: () => Promise.resolve(),
  };
}

const WORKER: WorkerInfo = {
  id: "w1",
  name: XSS,
  host: "h",
  pid: 1,
  queue: "from_worker",
  concurrency: 2,
  running: 0,
  processed: 7,
  failed: 1,
  started: "2026-01-01T00:00:00Z",
  lastHeartbeat: new Date().toISOString(),
};

const registry: WorkerRegistry = {
  beat: () => Promise.resolve(),
  remove: () => Promise.resolve(),
  workers: () => Promise.resolve([WORKER]),
  stats: () => Promise.resolve([]),
  close: () => Promise.resolve(),
};

function dashboard(options: Partial<DashboardOptions> = {}, calls: string[] = []) {
  return createDashboard({ inspector: fakeInspector(calls), registry, queues: ["q"], ...options });
}

const BASE = "http://127.0.0.1:8080";

async function csrfOf(handler: (r: Request) => Promise<Response>): Promise<string> {
  const page = await (await handler(new Request(`${BASE}/dead/q`))).text();
  const token = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(token, "the dead page carries a form token");
  return token;
}

function post(path: string, fields: Record<string, string>, headers: HeadersInit = {}): Request {
  return new Request(BASE + path, {
    method: "POST",
    body: new URLSearchParams(fields),
    headers: { origin: BASE, ...headers },
  });
}

describe("the dashboard handler", () => {
  it("lists the configured queues and those workers consume, escaped, under a strict CSP", async () => {
    const response = await dashboard()(new Request(`${BASE}/`));
    assert.equal(response.status, 200);
    const csp = response.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const page = await response.text();
    assert.match(page, /data-queue="q"/);
    assert.match(page, /data-queue="from_worker"/);
    assert.ok(!page.includes(XSS), "the worker name is escaped");
    assert.ok(page.includes("&lt;img src=x onerror=alert(1)&gt;"));
    assert.doesNotMatch(page, /<script>/, "no inline script");
  });

  it("escapes task names, arguments and dead-letter reasons", async () => {
    const handler = dashboard();
    for (const path of ["/queue/q", "/dead/q"]) {
      const page = await (await handler(new Request(BASE + path))).text();
      assert.ok(!page.includes(XSS), `${path} escapes`);
      assert.ok(page.includes("&lt;img"), `${path} shows the text`);
    }
  });

  it("serves the live fragment and the overview as JSON", async () => {
    const handler = dashboard();
    const fragment = await (await handler(
      new Request(`${BASE}/`, { headers: { "x-dashboard-fragment": "1" } }),
    )).text();
    assert.doesNotMatch(fragment, /<html/);
    assert.match(fragment, /id="queues"/);
    const json = await (await handler(new Request(`${BASE}/api/overview`))).json();
    assert.deepEqual(json.queues.map((q: QueueCounts) => q.queue), ["from_worker", "q"]);
    assert.equal(json.workers[0].processed, 7);
  });

  it("retries with the page's form token, and refuses without it or from another origin", async () => {
    const calls: string[] = [];
    const handler = dashboard({}, calls);
    const csrf = await csrfOf(handler);
    assert.equal((await handler(post("/dead/q/retry", { all: "1" }))).status, 403);
    assert.equal((await handler(post("/dead/q/retry", { all: "1", csrf: "x" }))).status, 403);
    const foreign = post("/dead/q/retry", { all: "1", csrf }, { origin: "http://evil.test" });
    assert.equal((await handler(foreign)).status, 403);
    assert.deepEqual(calls, []);

    const done = await handler(post("/dead/q/retry", { uuid: "u1", csrf }));
    assert.equal(done.status, 303);
    assert.match(done.headers.get("location") ?? "", /^\/dead\/q\?done=Retried/);
    await handler(post("/dead/q/delete", { all: "1", csrf }));
    assert.deepEqual(calls, ['retry q {"uuids":["u1"]}', 'delete q {"all":true}']);
  });

  it("hides and refuses the actions when read-only", async () => {
    const calls: string[] = [];
    const handler = dashboard({ readOnly: true }, calls);
    const page = await (await handler(new Request(`${BASE}/dead/q`))).text();
    assert.doesNotMatch(page, /<form[^>]*method="post"/);
    const refused = await handler(post("/dead/q/retry", { all: "1", csrf: "x" }));
    assert.equal(refused.status, 403);
    assert.deepEqual(calls, []);
  });

  it("needs the auth token on every path when one is set", async () => {
    const handler = dashboard({ authToken: "s3cret" });
    for (const path of ["/", "/assets/app.js", "/api/overview", "/dead/q"]) {
      assert.equal((await handler(new Request(BASE + path))).status, 401, path);
    }
    const bearer = new Request(`${BASE}/`, { headers: { authorization: "Bearer s3cret" } });
    assert.equal((await handler(bearer)).status, 200);
    const login = await handler(new Request(`${BASE}/queue/q?token=s3cret`));
    assert.equal(login.status, 303);
    assert.equal(login.headers.get("location"), "/queue/q");
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
    assert.match(login.headers.get("set-cookie") ?? "", /HttpOnly; SameSite=Strict/);
    assert.equal((await handler(new Request(`${BASE}/`, { headers: { cookie } }))).status, 200);
    const wrong = new Request(`${BASE}/`, { headers: { authorization: "Bearer s3cre" } });
    assert.equal((await handler(wrong)).status, 401);
  });

  it("shows a task's state, signature and its chord's progress", async () => {
    const state = (name: string): TaskState => ({
      taskUUID: "x",
      taskName: "",
      state: name as TaskState["state"],
      results: null,
      error: "",
      createdAt: "",
      ttl: 0,
    });
    const backend = {
      getState: () => Promise.resolve({ ...state("PENDING"), taskName: "named" }),
      groupTaskStates: (group: string, count: number) => {
        assert.deepEqual([group, count], ["group_1", 3]);
        return Promise.resolve([state("SUCCESS"), state("PENDING"), state("SUCCESS")]);
      },
    } as unknown as Backend;
    const page = await (await dashboard({ backend })(new Request(`${BASE}/task/task_1`))).text();
    assert.match(page, /badge state-PENDING">PENDING</);
    assert.match(page, /2 of 3 finished: 1 PENDING, 2 SUCCESS/);
    assert.match(page, /then <b>sum_ints<\/b>/);
    assert.match(page, /id="task-signature">[^<]*&quot;UUID&quot;: &quot;task_1&quot;/);
    assert.ok(!page.includes(XSS));
    assert.match(page, /data-live/, "a waiting task's page refreshes");

    // A finished task's page does not refresh: locating its message would read the queues again.
    const finished = { getState: () => Promise.resolve(state("SUCCESS")) } as unknown as Backend;
    const done = await (await dashboard({ backend: finished })(
      new Request(`${BASE}/task/task_2`),
    )).text();
    assert.match(done, /state-SUCCESS/);
    assert.doesNotMatch(done, /data-live/);
  });

  it("a waiting task's page polls its state, and locates its message again only when it changed", async () => {
    let located = 0;
    const inspector = fakeInspector([]);
    const locate = inspector.locate.bind(inspector);
    inspector.locate = (uuid, queues) => {
      located++;
      return locate(uuid, queues);
    };
    let now = "PENDING";
    const backend = {
      getState: () => Promise.resolve({ taskUUID: "task_1", state: now }),
      groupTaskStates: () => Promise.resolve([]),
    } as unknown as Backend;
    const handler = createDashboard({ inspector, registry, queues: ["q"], backend });
    const poll = () =>
      handler(new Request(`${BASE}/task/task_1`, { headers: { "x-dashboard-fragment": "1" } }));
    assert.equal((await handler(new Request(`${BASE}/task/task_1`))).status, 200);
    for (let i = 0; i < 3; i++) assert.match(await (await poll()).text(), /state-PENDING/);
    assert.equal(located, 1, "the polls reuse the location while the state is unchanged");
    now = "STARTED";
    assert.match(await (await poll()).text(), /state-STARTED/);
    assert.equal(located, 2, "a new state means the message moved: it is located again");
    await handler(new Request(`${BASE}/task/task_1`));
    assert.equal(located, 3, "opening the page always locates");
  });

  it("answers 404 for an unknown page", async () => {
    assert.equal((await dashboard()(new Request(`${BASE}/nope`))).status, 404);
  });
});

describe("machinery dashboard", () => {
  it(
    "refuses a non-loopback address without --auth-token (exit 2)",
    { timeout: 60_000 },
    async () => {
      const { code, stderr } = await cli(["dashboard", "--host", "0.0.0.0", "--port", "0"]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /Refusing to serve the dashboard on "0\.0\.0\.0" without --auth-token/);
    },
  );
});
