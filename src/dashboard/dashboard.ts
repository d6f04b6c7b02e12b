/**
 * The dashboard as a web-standard fetch handler, `(request: Request) => Promise<Response>`:
 * serve it with Deno's or Bun's `serve`, Hono, or Node's http through an adapter. It reads the
 * broker through an `Inspector`, the workers through a `WorkerRegistry` and the states through a
 * `Backend`; it owns none of them (the caller closes them).
 *
 * Safe by default: a strict Content-Security-Policy without inline script, every value escaped,
 * actions only as POSTs carrying a per-process CSRF token from a same-origin page, refused in
 * read-only mode, and an optional bearer token (or the cookie `?token=` sets).
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { InspectionUnsupportedError, StateNotFoundError } from "../errors.ts";
import type {
  DeadLetterSelection,
  Inspector,
  MessageLocation,
  QueueCounts,
  QueuedTask,
  WorkerInfo,
  WorkerRegistry,
} from "../inspector.ts";
import type { TaskState } from "../wire/state.ts";
import {
  deadPage,
  delayedPage,
  errorPage,
  layout,
  overviewPage,
  type Page,
  type PageContext,
  queuePage,
  schedulesPage,
  taskPage,
} from "./_pages.ts";
import { type LocatedTask, LocationCache } from "./_location_cache.ts";
import { SCRIPT_JS } from "./_script.ts";
import { STYLE_CSS } from "./_style.ts";

/** What the dashboard reads and how it behaves. */
export interface DashboardOptions {
  /** The broker's inspector (counts, pages, dead letters). */
  inspector: Inspector;
  /** The worker registry (live workers and their counters); without it, no workers are shown. */
  registry?: WorkerRegistry;
  /** The result backend (task states); without it, a task page shows only its message. */
  backend?: Backend;
  /** The queues always shown (the configured ones); those live workers consume are added. */
  queues?: string[];
  /** Hides the actions and refuses them with 403. */
  readOnly?: boolean;
  /** When set, every request needs it: `Authorization: Bearer TOKEN`, or `?token=` once. */
  authToken?: string;
}

/** The dashboard's fetch handler. */
export type DashboardHandler = (request: Request) => Promise<Response>;

const PAGE_LIMIT = 20;
const MAX_LIMIT = 200;
const TOKEN_COOKIE = "machinery_dashboard";

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

function respond(body: string, status: number, type: string, extra: HeadersInit = {}): Response {
  const headers = new Headers({ ...SECURITY_HEADERS, "content-type": type });
  for (const [k, v] of new Headers(extra)) headers.set(k, v);
  return new Response(body, { status, headers });
}

function text(body: string, status: number): Response {
  return respond(`${body}\n`, status, "text/plain; charset=utf-8");
}

function redirect(location: string, extra: HeadersInit = {}): Response {
  return new Response(null, { status: 303, headers: { location, ...extra } });
}

/** Compares without stopping at the first difference (the token must not leak by timing). */
function sameSecret(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

function cookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

function pageOf(url: URL): { offset: number; limit: number } {
  const whole = (name: string, fallback: number) => {
    const n = Number(url.searchParams.get(name));
    return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
  };
  return {
    offset: whole("offset", 0),
    limit: Math.max(1, Math.min(MAX_LIMIT, whole("limit", PAGE_LIMIT) || PAGE_LIMIT)),
  };
}

function unsupported(error: unknown): string {
  if (error instanceof InspectionUnsupportedError) return error.message;
  throw error;
}

/** Makes the dashboard's handler. */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const { inspector, registry, backend } = options;
  const readOnly = options.readOnly === true;
  const csrf = crypto.randomUUID();
  const configured = options.queues ?? [];
  const locations = new LocationCache();

  async function workers(): Promise<WorkerInfo[] | null> {
    return registry ? await registry.workers() : null;
  }

  /** The queues shown: the configured ones and every queue a live worker consumes, sorted. */
  function queueNames(live: WorkerInfo[] | null): string[] {
    return [...new Set([...configured, ...(live ?? []).map((w) => w.queue)])].sort();
  }

  async function queueCounts(live: WorkerInfo[] | null): Promise<QueueCounts[]> {
    return await inspector.queues(queueNames(live));
  }

  /** The overview's data, also served as JSON at `/api/overview`. */
  async function overview(): Promise<{ queues: QueueCounts[]; workers: WorkerInfo[] | null }> {
    const live = await workers();
    return { queues: await queueCounts(live), workers: live };
  }

  async function taskState(uuid: string): Promise<[TaskState | null, string | null]> {
    if (!backend) return [null, "no result backend"];
    try {
      return [await backend.getState(uuid), null];
    } catch (error) {
      if (error instanceof StateNotFoundError) return [null, "no state stored"];
      throw error;
    }
  }

  /** The message of a task located in a queue, delayed or dead, when on the first page. */
  async function messageOf(uuid: string, location: MessageLocation): Promise<QueuedTask | null> {
    const find = (tasks: QueuedTask[]) => tasks.find((t) => t.signature?.uuid === uuid) ?? null;
    try {
      if (location.where === "queue") {
        return find(await inspector.pending(location.queue, { limit: MAX_LIMIT }));
      }
      if (location.where === "delayed") return find(await inspector.delayed({ limit: MAX_LIMIT }));
    } catch (error) {
      unsupported(error);
    }
    return null;
  }

  /** The states of the group the task belongs to, when its signature and a backend tell. */
  async function groupOf(message: QueuedTask | null): Promise<TaskState[] | null> {
    const signature = message?.signature;
    if (!backend || !signature?.groupUUID || signature.groupTaskCount <= 0) return null;
    try {
      return await backend.groupTaskStates(signature.groupUUID, signature.groupTaskCount);
    } catch {
      return null; // The group's meta expired or was never stored: its progress is unknown.
    }
  }

  /** Where a task's message is and the message itself, found by scanning the queues. */
  async function locateTask(uuid: string): Promise<LocatedTask> {
    const names = queueNames(await workers());
    const location = await inspector.locate(uuid, names).catch((error) => {
      unsupported(error);
      return null;
    });
    return { location, message: location ? await messageOf(uuid, location) : null };
  }

  /** `refresh`: the page's own poll, which may reuse a recent location (see `LocationCache`). */
  async function page(url: URL, context: PageContext, refresh: boolean): Promise<Page | null> {
    const parts = url.pathname.split("/").slice(1).map(decodeURIComponent);
    const { offset, limit } = pageOf(url);
    if (url.pathname === "/") {
      const data = await overview();
      return overviewPage(
        data.queues,
        data.workers,
        "No worker registry: workers announce themselves in Redis (the broker or the backend)",
      );
    }
    if (parts[0] === "queue" && parts.length === 2 && parts[1]) {
      const [counts] = await inspector.queues([parts[1]]);
      const tasks = await inspector.pending(parts[1], { offset, limit }).catch(unsupported);
      return queuePage(counts, tasks, offset, limit);
    }
    if (url.pathname === "/delayed") {
      const tasks = await inspector.delayed({ offset, limit }).catch(unsupported);
      return delayedPage(tasks, offset, limit);
    }
    if (parts[0] === "task" && parts.length === 2 && parts[1]) {
      const uuid = parts[1].trim();
      const [state, note] = await taskState(uuid);
      let located = refresh ? locations.get(uuid, state?.state) : undefined;
      if (!located) {
        located = await locateTask(uuid);
        locations.set(uuid, state?.state, located);
      }
      const { location, message } = located;
      return taskPage(uuid, state, note, location, message, await groupOf(message));
    }
    if (parts[0] === "dead" && parts.length === 2 && parts[1]) {
      const letters = await inspector.deadLetters(parts[1], { offset, limit });
      return deadPage(parts[1], letters, offset, limit, context);
    }
    if (url.pathname === "/schedules") return schedulesPage();
    return null;
  }

  async function act(request: Request, url: URL): Promise<Response> {
    if (readOnly) return text("The dashboard is read-only", 403);
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== url.origin) return text("Cross-origin request refused", 403);
    const form = await request.formData().catch(() => null);
    const token = form?.get("csrf");
    if (typeof token !== "string" || !sameSecret(token, csrf)) {
      return text("Missing or stale form token: reload the page", 403);
    }
    const match = /^\/dead\/([^/]+)\/(retry|delete)$/.exec(url.pathname);
    if (!match) return text("Not found", 404);
    const queue = decodeURIComponent(match[1]);
    const uuids = form!.getAll("uuid").filter((u): u is string => typeof u === "string" && !!u);
    const selection: DeadLetterSelection = form!.get("all") === "1" ? { all: true } : { uuids };
    if (!("all" in selection) && uuids.length === 0) return text("No dead letter selected", 400);
    const done = match[2] === "retry"
      ? `Retried ${await inspector.retryDeadLetters(queue, selection)}`
      : `Deleted ${await inspector.deleteDeadLetters(queue, selection)}`;
    return redirect(
      `/dead/${encodeURIComponent(queue)}?done=${encodeURIComponent(`${done} dead letters`)}`,
    );
  }

  function authorized(request: Request, url: URL): Response | true {
    const secret = options.authToken;
    if (!secret) return true;
    const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
    if (bearer !== undefined && sameSecret(bearer, secret)) return true;
    const query = url.searchParams.get("token");
    if (query !== null && sameSecret(query, secret)) {
      url.searchParams.delete("token");
      return redirect(url.pathname + url.search, {
        "set-cookie": `${TOKEN_COOKIE}=${
          encodeURIComponent(secret)
        }; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    const kept = cookie(request, TOKEN_COOKIE);
    if (kept !== undefined && sameSecret(kept, secret)) return true;
    return text("Unauthorized: open the dashboard with ?token=TOKEN once", 401);
  }

  return async (request) => {
    const url = new URL(request.url);
    const auth = authorized(request, url);
    if (auth !== true) return auth;
    try {
      if (request.method === "POST") return await act(request, url);
      if (request.method !== "GET" && request.method !== "HEAD") {
        return text("Method not allowed", 405);
      }
      if (url.pathname === "/assets/app.css") {
        return respond(STYLE_CSS, 200, "text/css; charset=utf-8");
      }
      if (url.pathname === "/assets/app.js") {
        return respond(SCRIPT_JS, 200, "text/javascript; charset=utf-8");
      }
      if (url.pathname === "/api/overview") {
        return respond(JSON.stringify(await overview()), 200, "application/json");
      }
      if (url.pathname === "/task") {
        const uuid = url.searchParams.get("uuid")?.trim() ?? "";
        return redirect(uuid ? `/task/${encodeURIComponent(uuid)}` : "/");
      }
      const context: PageContext = {
        readOnly,
        csrf,
        flash: url.searchParams.get("done") ?? undefined,
      };
      const refresh = request.headers.get("x-dashboard-fragment") === "1";
      const shown = await page(url, context, refresh);
      if (shown === null) {
        return respond(layout(errorPage("Not found", "No such page"), context), 404, HTML_TYPE);
      }
      if (refresh) {
        return respond(shown.body.value, 200, HTML_TYPE);
      }
      return respond(layout(shown, context), 200, HTML_TYPE);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return respond(
        layout(errorPage("Error", message), { readOnly, csrf }),
        502,
        HTML_TYPE,
      );
    }
  };
}

const HTML_TYPE = "text/html; charset=utf-8";
