/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: it throws on
 * anything a Prometheus server would refuse (bad names, bad escapes, a sample before its TYPE,
 * a duplicate series, histogram buckets that are not cumulative or miss `+Inf`).
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The families (name → type) and the samples of a scrape. */
export interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses `text`; throws with the line number on the first violation. */
export function parsePrometheus(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  if (text !== "" && !text.endsWith("\n")) throw new Error("The text does not end with a newline");
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1} (${JSON.stringify(line)})`;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`Bad comment at ${where}`);
      if (!METRIC_NAME.test(m[2])) throw new Error(`Bad metric name at ${where}`);
      if (m[1] === "TYPE") {
        if (!TYPES.has(m[3])) throw new Error(`Bad type at ${where}`);
        if (types.has(m[2])) throw new Error(`Second TYPE at ${where}`);
        types.set(m[2], m[3]);
      } else if (/\\[^\\n]/.test(m[3].replace(/\\\\/g, ""))) {
        throw new Error(`Bad escape in HELP at ${where}`);
      }
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(sample.name, types);
    if (!family) throw new Error(`Sample before its TYPE at ${where}`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(key)) throw new Error(`Duplicate series at ${where}`);
    seen.add(key);
    samples.push(sample);
  });
  checkHistograms(types, samples);
  return { types, samples };
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
  if (!m) throw new Error(`Bad sample at ${where}`);
  const labels: Record<string, string> = {};
  let rest = m[3] ?? "";
  while (rest !== "") {
    const lm = /^([^=]+)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
    if (!lm) throw new Error(`Bad labels at ${where}`);
    if (!LABEL_NAME.test(lm[1])) throw new Error(`Bad label name at ${where}`);
    if (lm[1] in labels) throw new Error(`Repeated label at ${where}`);
    labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => {
      if (c === "n") return "\n";
      if (c === "\\" || c === '"') return c;
      throw new Error(`Bad escape \\${c} at ${where}`);
    });
    rest = rest.slice(lm[0].length);
    if (lm[3] === "," && rest === "") throw new Error(`Trailing comma at ${where}`);
  }
  const raw = m[4];
  const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
  if (raw !== "NaN" && Number.isNaN(value)) throw new Error(`Bad value at ${where}`);
  return { name: m[1], labels, value };
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : "";
    if (base && ["histogram", "summary"].includes(types.get(base) ?? "")) return base;
  }
  return undefined;
}

function checkHistograms(types: Map<string, string>, samples: Sample[]): void {
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const key = JSON.stringify(Object.entries(rest).sort());
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      let last = -Infinity;
      let count = 0;
      for (const b of buckets) {
        const le = b.labels.le === "+Inf" ? Infinity : Number(b.labels.le);
        if (!(le > last)) throw new Error(`${family} buckets out of order for ${key}`);
        if (b.value < count) throw new Error(`${family} buckets not cumulative for ${key}`);
        last = le;
        count = b.value;
      }
      if (last !== Infinity) throw new Error(`${family} has no +Inf bucket for ${key}`);
      const total = samples.find((s) =>
        s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key
      );
      if (total?.value !== count) throw new Error(`${family}_count differs from +Inf for ${key}`);
    }
  }
}

/** The value of the sample `name` with exactly these labels (0 when absent). */
export function valueOf(scrape: Scrape, name: string, labels: Record<string, string>): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const s = scrape.samples.find((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want
  );
  return s?.value ?? 0;
}
