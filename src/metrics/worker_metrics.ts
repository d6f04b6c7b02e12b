/**
 * Machinery's Prometheus metrics: tasks by outcome, task duration and wait histograms, running
 * tasks, worker concurrency and sampled queue depths. One `Metrics` may serve several workers of
 * a process. A worker finds a task's series with one `Map` lookup; every label set is rendered
 * once, when its series is made (see `docs/architecture.md#operating-a-worker`).
 *
 * @module
 */
import type { QueueDepth } from "../broker.ts";
import { familyHeader, Histogram, renderLabels } from "./prometheus.ts";

export type { QueueDepth };

/** How a task's message ended. `dead`: set aside, never to run (a dead letter). */
export type TaskOutcome = "success" | "failure" | "retry" | "dead";

/** Counts a queue by state; the worker calls it every few seconds, never per task. */
export type QueueDepthSampler = (queue: string) => Promise<QueueDepth>;

const OUTCOMES: readonly TaskOutcome[] = ["success", "failure", "retry", "dead"];

/** The series of one task name on one queue. */
export class TaskSeries {
  /** `task="…",queue="…"`, escaped. */
  readonly labels: string;
  /** The outcome counters. */
  readonly outcomes: Record<TaskOutcome, number> = { success: 0, failure: 0, retry: 0, dead: 0 };
  /** Seconds from start to outcome. */
  readonly duration: Histogram = new Histogram();
  /** Seconds from send (or ETA) to start. */
  readonly wait: Histogram = new Histogram();

  /** Use `QueueMetrics.series`. */
  constructor(task: string, queue: string) {
    this.labels = renderLabels({ task, queue });
  }
}

/** The series of one queue, by task name. */
export class QueueMetrics {
  /** The queue. */
  readonly queue: string;
  readonly #tasks = new Map<string, TaskSeries>();

  /** Use `Metrics.queue`. */
  constructor(queue: string) {
    this.queue = queue;
  }

  /** The series of `task`, made on first use. */
  series(task: string): TaskSeries {
    let series = this.#tasks.get(task);
    if (!series) {
      series = new TaskSeries(task, this.queue);
      this.#tasks.set(task, series);
    }
    return series;
  }

  /** Every series of this queue. */
  all(): IterableIterator<TaskSeries> {
    return this.#tasks.values();
  }
}

/** The registry of machinery's metrics; `text()` renders them in the Prometheus text format. */
export class Metrics {
  /** Tasks running now, over every worker using this registry. */
  running = 0;
  /** The sum of the concurrency of the workers using this registry. */
  concurrency = 0;
  readonly #queues = new Map<string, QueueMetrics>();
  readonly #depths = new Map<string, QueueDepth>();

  /** The series of `queue`, made on first use (a worker asks once, when it starts). */
  queue(queue: string): QueueMetrics {
    let metrics = this.#queues.get(queue);
    if (!metrics) {
      metrics = new QueueMetrics(queue);
      this.#queues.set(queue, metrics);
    }
    return metrics;
  }

  /** Records the last sampled depth of `queue`. */
  setQueueDepth(queue: string, depth: QueueDepth): void {
    this.#depths.set(queue, depth);
  }

  /**
   * Samples `queue` with `sampler` now and every `intervalMs` (default 5 s) until the returned
   * function is called. A failed sample keeps the last values.
   */
  sampleQueueDepth(queue: string, sampler: QueueDepthSampler, intervalMs = 5_000): () => void {
    let busy = false;
    const sample = () => {
      if (busy) return;
      busy = true;
      sampler(queue).then((depth) => this.setQueueDepth(queue, depth), () => {}).finally(() => {
        busy = false;
      });
    };
    sample();
    const timer = setInterval(sample, intervalMs);
    return () => clearInterval(timer);
  }

  /** Every metric in the Prometheus text exposition format (version 0.0.4). */
  text(): string {
    const queues = [...this.#queues.values()];
    let out = familyHeader(
      "machinery_tasks_total",
      "counter",
      "Task messages handled, by task, queue and outcome (success, failure, retry, dead).",
    );
    for (const q of queues) {
      for (const s of q.all()) {
        for (const outcome of OUTCOMES) {
          out += `machinery_tasks_total{${s.labels},outcome="${outcome}"} ${s.outcomes[outcome]}\n`;
        }
      }
    }
    out += familyHeader(
      "machinery_task_duration_seconds",
      "histogram",
      "Seconds from a task's start to its outcome.",
    );
    for (const q of queues) {
      for (const s of q.all()) {
        out += s.duration.render("machinery_task_duration_seconds", s.labels);
      }
    }
    out += familyHeader(
      "machinery_task_wait_seconds",
      "histogram",
      "Seconds from a task's send (or its ETA, when later) to its start.",
    );
    for (const q of queues) {
      for (const s of q.all()) {
        if (s.wait.count > 0) out += s.wait.render("machinery_task_wait_seconds", s.labels);
      }
    }
    out += familyHeader("machinery_tasks_running", "gauge", "Tasks running now.");
    out += `machinery_tasks_running ${this.running}\n`;
    out += familyHeader(
      "machinery_worker_concurrency",
      "gauge",
      "The most tasks the workers run at once.",
    );
    out += `machinery_worker_concurrency ${this.concurrency}\n`;
    out += familyHeader(
      "machinery_queue_depth",
      "gauge",
      "Messages in a queue by state (ready, delayed, held, dead), sampled every few seconds.",
    );
    for (const [queue, depth] of this.#depths) {
      for (const [state, count] of Object.entries(depth)) {
        if (count === undefined) continue;
        out += `machinery_queue_depth{${renderLabels({ queue, state })}} ${count}\n`;
      }
    }
    return out;
  }
}
