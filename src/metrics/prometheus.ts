/**
 * The pieces of the Prometheus text exposition format (version 0.0.4) that machinery's metrics
 * use: label escaping, `# HELP`/`# TYPE` lines and histograms with fixed buckets. Label sets are
 * rendered once, when a series is made, so counting a task builds no string.
 *
 * @module
 */

/** The `Content-Type` of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A label value escaped as the format requires: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** `name1="v1",name2="v2"` for a label set, values escaped. */
export function renderLabels(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
}

/** A number as the format writes it (`+Inf`, `-Inf`, `NaN` spelled out). */
export function formatNumber(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return Number.isNaN(n) ? "NaN" : String(n);
}

/** The `# HELP` and `# TYPE` lines of a metric family. */
export function familyHeader(name: string, type: string, help: string): string {
  const escaped = help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
  return `# HELP ${name} ${escaped}\n# TYPE ${name} ${type}\n`;
}

/** Upper bounds in seconds, from 5 ms to 5 min: a fast task and a slow batch job both fit. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
];

/** One histogram series: per-bucket counts (not cumulative until rendered), sum and count. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  /** A histogram with these upper bounds (ascending; `+Inf` is implied). */
  constructor(bounds: readonly number[] = DEFAULT_BUCKETS) {
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Adds one observation. */
  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** The number of observations. */
  get count(): number {
    return this.#count;
  }

  /** The `_bucket`, `_sum` and `_count` lines of this series; `labels` is rendered already. */
  render(name: string, labels: string): string {
    const sep = labels ? "," : "";
    let out = "";
    let cumulative = 0;
    for (let i = 0; i <= this.#bounds.length; i++) {
      cumulative += this.#counts[i];
      const le = i < this.#bounds.length ? formatNumber(this.#bounds[i]) : "+Inf";
      out += `${name}_bucket{${labels}${sep}le="${le}"} ${cumulative}\n`;
    }
    const braces = labels ? `{${labels}}` : "";
    return `${out}${name}_sum${braces} ${
      formatNumber(this.#sum)
    }\n${name}_count${braces} ${this.#count}\n`;
  }
}
