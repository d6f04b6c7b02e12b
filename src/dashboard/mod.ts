/**
 * A web dashboard for machinery's queues, workers, tasks and dead letters, as a web-standard
 * fetch handler.
 *
 * @example
 * ```ts ignore
 * import { inspectorFromURL, registryFromURL } from "@machinery/machinery";
 * import { createDashboard } from "@machinery/machinery/dashboard";
 *
 * const url = "redis://127.0.0.1:6379";
 * const handler = createDashboard({
 *   inspector: await inspectorFromURL(url),
 *   registry: await registryFromURL(url),
 *   queues: ["machinery_tasks"],
 * });
 * // `deno serve --host 127.0.0.1 --port 8080 app.ts`, or `bun app.ts`
 * export default { fetch: handler, hostname: "127.0.0.1", port: 8080 };
 * ```
 *
 * @module
 */
export { createDashboard, type DashboardHandler, type DashboardOptions } from "./dashboard.ts";
