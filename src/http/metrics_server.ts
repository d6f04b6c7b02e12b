/**
 * The endpoints a monitoring stack scrapes from a worker: `/metrics` (Prometheus text),
 * `/healthz` (the process is up) and `/readyz` (the worker is consuming from its broker).
 *
 * @module
 */
import type { Metrics } from "../metrics/worker_metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics/prometheus.ts";
import { type HttpServer, type ListenOptions, serveHttp } from "./serve.ts";

/** Answers `/metrics`, `/healthz` and `/readyz`; `ready()` says whether the worker consumes. */
export function metricsHandler(
  metrics: Metrics,
  ready: () => boolean,
): (request: Request) => Response {
  return (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405 });
    }
    switch (path) {
      case "/metrics":
        return new Response(metrics.text(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        });
      case "/healthz":
        return new Response("ok\n");
      case "/readyz":
        return ready()
          ? new Response("ready\n")
          : new Response("not consuming from the broker\n", { status: 503 });
      default:
        return new Response("Not found\n", { status: 404 });
    }
  };
}

/** Serves `metricsHandler` on `options.port`. */
export function serveMetrics(
  options: ListenOptions,
  metrics: Metrics,
  ready: () => boolean,
): Promise<HttpServer> {
  return serveHttp(options, metricsHandler(metrics, ready));
}
