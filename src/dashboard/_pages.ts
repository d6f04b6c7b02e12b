/**
 * The dashboard's screens as server-rendered HTML: the overview, a queue, the delayed tasks, a
 * task, the dead letters and the schedules. Each returns the page's live part (what the script
 * refreshes) and its title; `layout` wraps it.
 *
 * @module
 */
import type {
  DeadLetterRecord,
  MessageLocation,
  QueueCounts,
  QueuedTask,
  WorkerInfo,
} from "../inspector.ts";
import type { TaskState } from "../wire/state.ts";
import { encodeSignature, type Signature } from "../wire/signature.ts";
import { stringifyGo } from "../wire/json.ts";
import { ZERO_TIME } from "../wire/go_time.ts";
import { count, type Html, html } from "./_html.ts";

/**
 * Go JSON text made readable: indented (unless `indent` is 0) and with Go's `\u003c` escapes of
 * `<`, `>` and `&` undone (the page escapes them); the text as is when it does not parse.
 */
function pretty(text: string, indent = 2): string {
  try {
    return JSON.stringify(JSON.parse(text), null, indent);
  } catch {
    return text;
  }
}

/** A signature as Go writes it, or a note when it cannot be encoded. */
function encodedSignature(signature: Signature): string {
  try {
    return encodeSignature(signature);
  } catch (error) {
    return `(cannot be shown: ${error instanceof Error ? error.message : String(error)})`;
  }
}

/** A wire value as Go JSON, or a note when it cannot be encoded. */
function goJson(value: unknown): string {
  try {
    return stringifyGo(value);
  } catch (error) {
    return `(cannot be shown: ${error instanceof Error ? error.message : String(error)})`;
  }
}

/** What a page shows: its title and its live part. */
export interface Page {
  /** The document title and heading. */
  title: string;
  /** The part the script refreshes. */
  body: Html;
  /** Static markup above the live part (forms the refresh must not reset). */
  top?: Html;
  /** False when nothing on it changes any more (its refresh would only cost the broker). */
  live?: boolean;
}

/** What every page needs from the request. */
export interface PageContext {
  /** Actions are hidden. */
  readOnly: boolean;
  /** The CSRF token the action forms carry. */
  csrf: string;
  /** A message after an action (from the redirect), shown once. */
  flash?: string;
}

/** The whole document around a page. */
export function layout(page: Page, context: PageContext): string {
  return "<!doctype html>\n" + html`
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${page.title} · machinery</title>
        <link rel="stylesheet" href="/assets/app.css">
        <script src="/assets/app.js" defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href="/">machinery</a>
          <nav aria-label="Sections">
            <a href="/">Overview</a>
            <a href="/delayed">Delayed</a>
            <a href="/schedules">Schedules</a>
          </nav>
          <form action="/task" method="get" role="search">
            <input type="search" name="uuid" placeholder="Task UUID" aria-label="Task UUID" required>
            <button type="submit">Find task</button>
          </form>
        </header>
        <main>
    <h1>${page.title}${context.readOnly
      ? html`
        <span class="badge">read-only</span>
      `
      : ""}</h1>
    ${context.flash ? html`<p class="flash" role="status">${context.flash}</p>` : ""}
    ${page.top ?? ""}
    ${page.live === false ? html`<div>${page.body}</div>` : html`<div data-live>${page.body}</div>`}
    <p class="note">Updated <span id="updated">${new Date().toLocaleTimeString("en-GB")}</span></p>
        </main>
      </body>
    </html>
  `.value;
}

function queueLink(queue: string): Html {
  return html`<a href="/queue/${encodeURIComponent(queue)}">${queue}</a>`;
}

function nonzero(value: number | null): string {
  return value !== null && value > 0 ? " nonzero" : "";
}

/** The overview: the queues with their counts, the throughput and the live workers. */
export function overviewPage(
  queues: QueueCounts[],
  workers: WorkerInfo[] | null,
  registryNote: string | null,
): Page {
  const processed = (workers ?? []).reduce((sum, w) => sum + w.processed, 0);
  const failed = (workers ?? []).reduce((sum, w) => sum + w.failed, 0);
  const rows = queues.map((q) =>
    html`
      <tr data-queue="${q.queue}">
        <td>${queueLink(q.queue)}</td>
        <td class="num ready-count${nonzero(q.ready)}">${count(q.ready)}</td>
        <td class="num">${count(q.delayed)}</td>
        <td class="num">${count(q.held)}</td>
        <td
          class="num dead-count${nonzero(q.dead)}"><a href="/dead/${encodeURIComponent(
            q.queue,
          )}" title="Dead letters of ${q.queue}">${count(q.dead)}</a></td>
      </tr>
    `
  );
  const workerRows = (workers ?? []).map((w) => {
    const age = Math.max(0, (Date.now() - Date.parse(w.lastHeartbeat)) / 1000);
    return html`<tr data-worker="${w.id}">
  <td>${w.name}</td>
  <td class="hide-narrow">${w.host}</td>
  <td class="num hide-narrow">${w.pid}</td>
  <td>${queueLink(w.queue)}</td>
  <td class="num">${w.running} / ${w.concurrency}</td>
  <td class="num">${w.processed}</td>
  <td class="num">${w.failed}</td>
  <td class="num" title="${w.lastHeartbeat}">${age.toFixed(1)} s ago</td>
</tr>`;
  });
  return {
    title: "Overview",
    body: html`
      <section class="panel" aria-labelledby="queues-heading">
        <h2 id="queues-heading">Queues</h2>
        <table id="queues">
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col" class="num">Ready</th>
              <th scope="col" class="num">Delayed</th>
              <th scope="col" class="num">Held</th>
              <th scope="col" class="num">Dead</th>
            </tr>
          </thead>
          <tbody>${rows}</tbody>
        </table>
        <p
          class="note">– : the broker cannot tell (RabbitMQ counts neither held nor delayed messages).</p>
      </section>
      <section class="panel" aria-labelledby="throughput-heading">
        <h2 id="throughput-heading">Throughput</h2>
        <div class="chart" data-processed="${processed}" data-failed="${failed}">
          <svg id="throughput" viewBox="0 0 600 80" preserveAspectRatio="none" role="img"
            aria-label="Tasks processed and failed per second over the last two minutes"></svg>
          <div class="legend"><span class="ok">processed <b id="rate-processed">0.0</b>/s</span>
      <span class="bad">failed <b id="rate-failed">0.0</b>/s</span></div>
        </div>
        <p
          class="note">From the live workers' counters, sampled every 2 seconds while this page is open.</p>
      </section>
      <section class="panel" aria-labelledby="workers-heading">
      <h2 id="workers-heading">Workers</h2>
      ${workers === null
        ? html`<p class="note">${registryNote}</p>`
        : workers.length === 0
        ? html`<p class="note">No live worker.</p>`
        : html`
          <table id="workers">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" class="hide-narrow">Host</th>
                <th scope="col" class="num hide-narrow">PID</th>
                <th scope="col">Queue</th>
                <th scope="col" class="num">Running</th>
                <th scope="col" class="num">Processed</th>
                <th scope="col" class="num">Failed</th>
                <th scope="col" class="num">Heartbeat</th>
              </tr>
            </thead>
            <tbody>${workerRows}</tbody>
          </table>
        `}
      </section>
    `,
  };
}

function pager(path: string, offset: number, limit: number, shown: number): Html {
  const prev = Math.max(0, offset - limit);
  return html`<nav class="pager" aria-label="Pages">
${offset > 0 ? html`<a href="${path}?offset=${prev}&amp;limit=${limit}">← Newer</a>` : ""}
<span class="muted">${shown === 0 ? "none" : `${offset + 1}–${offset + shown}`}</span>
${
    shown === limit
      ? html`<a href="${path}?offset=${offset + limit}&amp;limit=${limit}">Older →</a>`
      : ""
  }
</nav>`;
}

function taskRows(tasks: QueuedTask[], withEta: boolean): Html[] {
  return tasks.map((t) => {
    const s = t.signature;
    return html`<tr>
  <td class="mono">${
      s ? html`<a href="/task/${encodeURIComponent(s.uuid)}">${s.uuid}</a>` : "—"
    }</td>
  <td>${s?.name ?? html`<span class="muted">not a task</span>`}</td>
  ${
      withEta
        ? html`
          <td>${t.eta}</td>
          <td>${queueLink(t.queue)}</td>
        `
        : ""
    }
  <td class="mono body">${s ? pretty(goJson(s.args?.map((a) => a.value) ?? []), 0) : t.body}</td>
</tr>`;
  });
}

/** One queue: its counts and a page of its waiting tasks. */
export function queuePage(
  counts: QueueCounts,
  tasks: QueuedTask[] | string,
  offset: number,
  limit: number,
): Page {
  const path = `/queue/${encodeURIComponent(counts.queue)}`;
  return {
    title: `Queue ${counts.queue}`,
    body: html`
      <section class="panel">
        <dl class="facts">
          <dt>Ready</dt>
          <dd>${count(counts.ready)}</dd>
          <dt>Delayed</dt>
          <dd>${count(counts.delayed)}</dd>
          <dt>Held</dt>
          <dd>${count(counts.held)}</dd>
          <dt>Dead</dt>
          <dd><a href="/dead/${encodeURIComponent(counts.queue)}">${count(counts.dead)}</a></dd>
        </dl>
      </section>
      <section class="panel" aria-labelledby="pending-heading">
      <h2 id="pending-heading">Pending tasks, oldest first</h2>
      ${typeof tasks === "string" ? html`<p class="note">${tasks}</p>` : html`
        <table id="pending">
          <thead>
            <tr>
              <th scope="col">UUID</th>
              <th scope="col">Task</th>
              <th scope="col">Arguments</th>
            </tr>
          </thead>
          <tbody>${taskRows(tasks, false)}</tbody>
        </table>
        ${pager(path, offset, limit, tasks.length)}
      `}
      </section>
    `,
  };
}

/** The tasks waiting for their ETA. */
export function delayedPage(tasks: QueuedTask[] | string, offset: number, limit: number): Page {
  return {
    title: "Delayed tasks",
    body: html`<section class="panel">
${
      typeof tasks === "string" ? html`<p class="note">${tasks}</p>` : html`
        <table id="delayed">
          <thead>
            <tr>
              <th scope="col">UUID</th>
              <th scope="col">Task</th>
              <th scope="col">Due</th>
              <th scope="col">Queue</th>
              <th scope="col">Arguments</th>
            </tr>
          </thead>
          <tbody>${taskRows(tasks, true)}</tbody>
        </table>
        ${pager("/delayed", offset, limit, tasks.length)}
      `
    }
</section>`,
  };
}

function describeLocation(location: MessageLocation): Html {
  switch (location.where) {
    case "queue":
      return html`<span class="badge state-queue">waiting</span> in ${queueLink(location.queue)}`;
    case "delayed":
      return html`<span class="badge state-delayed">delayed</span> until ${
        location.eta ?? "its ETA"
      }, for ${queueLink(location.queue)}`;
    case "held":
      return html`<span class="badge state-held">held</span> by worker <code>${location.consumer}</code>
 (${queueLink(location.queue)})`;
    case "dead":
      return html`<span class="badge state-dead">dead letter</span> of
 <a href="/dead/${encodeURIComponent(location.queue)}">${location.queue}</a>: ${location.reason}`;
    case "unknown":
      return html`<span class="muted">${location.detail}</span>`;
  }
}

/** A group's progress: its members counted by state, finished ones first. */
function groupProgress(count: number, states: TaskState[] | null): string {
  if (states === null) return `(${count} tasks)`;
  const by = new Map<string, number>();
  for (const s of states) by.set(s.state || "PENDING", (by.get(s.state || "PENDING") ?? 0) + 1);
  const done = (by.get("SUCCESS") ?? 0) + (by.get("FAILURE") ?? 0);
  const parts = [...by].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${v} ${k}`);
  return `(${done} of ${count} finished: ${parts.join(", ")})`;
}

/** What is known of a task: its stored state and where its message is. */
export function taskPage(
  uuid: string,
  state: TaskState | null,
  stateNote: string | null,
  location: MessageLocation | null,
  message: QueuedTask | null,
  group: TaskState[] | null,
): Page {
  const name = state?.taskName || message?.signature?.name || "";
  return {
    title: `Task ${uuid}`,
    // A finished task changes no more: no refresh (locating a message reads its queues).
    live: state?.state !== "SUCCESS" && state?.state !== "FAILURE",
    body: html`
      <section class="panel">
        <dl class="facts">
      <dt>Name</dt><dd id="task-name">${name || html`<span class="muted">unknown</span>`}</dd>
      <dt>State</dt><dd id="task-state">${state
        ? html`<span class="badge state-${state.state}">${state.state}</span>`
        : html`<span class="muted">${stateNote}</span>`}</dd>
      ${state?.createdAt && state.createdAt !== ZERO_TIME
        ? html`
          <dt>Created</dt>
          <dd>${state.createdAt}</dd>
        `
        : ""}
      <dt>Message</dt><dd>${location
        ? describeLocation(location)
        : html`<span class="muted">unknown</span>`}</dd>
      ${message?.signature
        ? html`<dt>Retries</dt><dd>${message.signature.retryCount} left, every ${message.signature.retryTimeout} s</dd>
${
          message.signature.groupUUID
            ? html`
              <dt>${message.signature.chordCallback ? "Chord" : "Group"}</dt>
              <dd><span class="mono">${message.signature.groupUUID}</span>
                <span id="group-progress">${groupProgress(
                  message.signature.groupTaskCount,
                  group,
                )}</span>${message.signature.chordCallback
                  ? html`, then <b>${message.signature.chordCallback.name}</b>`
                  : ""}</dd>
            `
            : ""
        }`
        : ""}
        </dl>
      </section>
      ${state?.results
        ? html`
          <section class="panel">
            <h2>Results</h2>
            <pre id="task-results">${pretty(goJson(state.results))}</pre>
          </section>
        `
        : ""}
      ${state?.error
        ? html`
          <section class="panel">
            <h2>Error</h2>
            <pre id="task-error">${state.error}</pre>
          </section>
        `
        : ""}
      ${message?.signature
        ? html`
          <section class="panel">
            <h2>Signature</h2>
            <pre id="task-signature">${pretty(encodedSignature(message.signature))}</pre>
          </section>
        `
        : html`<p class="note">The signature is shown while the message waits in the first page of its queue,
 delayed or dead; the result backend keeps only the state.</p>`}
    `,
  };
}

/** The longest body shown whole in a table; a longer one opens on demand. */
const SHORT_BODY = 120;

function bodyCell(body: string): Html {
  if (body.length <= SHORT_BODY) return html`${body}`;
  return html`
    <details>
      <summary>${body.slice(0, SHORT_BODY)}…</summary>
      <pre>${pretty(body)}</pre>
    </details>
  `;
}

function actionForm(
  context: PageContext,
  queue: string,
  action: "retry" | "delete",
  label: string,
  uuid: string | null,
): Html {
  const path = `/dead/${encodeURIComponent(queue)}/${action}`;
  const confirm = action === "delete" ? "Delete for good?" : undefined;
  return html`
    <form class="inline" method="post" action="${path}" ${confirm
      ? html`
        data-confirm="${confirm}"
      `
      : ""}>
    <input type="hidden" name="csrf" value="${context.csrf}">
    ${uuid === null
      ? html`<input type="hidden" name="all" value="1">`
      : html`<input type="hidden" name="uuid" value="${uuid}">`}
    <button type="submit" class="${action === "delete" ? "danger" : "primary"}">${label}</button>
    </form>
  `;
}

/** A queue's dead letters, with retry and delete unless read-only. */
export function deadPage(
  queue: string,
  letters: DeadLetterRecord[],
  offset: number,
  limit: number,
  context: PageContext,
): Page {
  const rows = letters.map((l) =>
    html`<tr>
  <td>${l.rejectedAt}</td>
  <td>${l.name ?? html`<span class="muted">not a task</span>`}${
      l.uuid
        ? html`<br><a class="mono" href="/task/${encodeURIComponent(l.uuid)}">${l.uuid}</a>`
        : ""
    }</td>
  <td>${l.reason}</td>
  <td class="mono body">${bodyCell(l.body)}${
      l.truncated
        ? html`
          <span class="muted">(cut)</span>
        `
        : ""
    }</td>
  ${
      context.readOnly ? "" : html`<td>${
        l.uuid && !l.truncated
          ? [
            actionForm(context, queue, "retry", "Retry", l.uuid),
            " ",
            actionForm(context, queue, "delete", "Delete", l.uuid),
          ]
          : html`<span class="muted">use “all”</span>`
      }</td>`
    }
</tr>`
  );
  return {
    title: `Dead letters of ${queue}`,
    top: context.readOnly || letters.length === 0 ? undefined : html`<div class="actions">
${actionForm(context, queue, "retry", "Retry all", null)}
${actionForm(context, queue, "delete", "Delete all", null)}
</div>`,
    body: html`<section class="panel">
${
      letters.length === 0 && offset === 0
        ? html`<p class="note" id="no-dead">No dead letters.</p>`
        : html`
          <table id="dead">
            <thead>
              <tr><th scope="col">Rejected</th><th scope="col">Task</th><th scope="col">Reason</th>
          <th scope="col">Body</th>${context.readOnly
            ? ""
            : html`<th scope="col">Actions</th>`}</tr>
            </thead>
            <tbody>${rows}</tbody>
          </table>
        `
    }
${pager(`/dead/${encodeURIComponent(queue)}`, offset, limit, letters.length)}
</section>`,
  };
}

/** The periodic schedules: the brokers keep no record of them. */
export function schedulesPage(): Page {
  return {
    title: "Periodic schedules",
    body: html`
      <section class="panel">
        <p class="note">The schedules live in the processes that run
      them (worker --periodic, or the config file's periodic tasks); neither the broker nor the worker
      registry records them yet, so they cannot be listed here.</p>
      </section>
    `,
  };
}

/** A page that says what went wrong. */
export function errorPage(title: string, message: string): Page {
  return {
    title,
    body: html`
      <section class="panel">
        <p class="note">${message}</p>
      </section>
    `,
  };
}
