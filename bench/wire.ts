/**
 * `deno task bench:wire` (or `bun bench/wire.ts`): the Go codec on the hot path. Every task is
 * decoded once by its worker and its states are encoded several times, so a slower codec is a
 * lower task rate. This times decode and encode of the Go vectors' messages, task states and
 * group metas (`tests/fixtures/go_vectors.json`) for a fixed number of iterations, in rounds, and
 * prints the best round of each in nanoseconds per operation.
 *
 * With `BENCH_WIRE_BASELINE=<another checkout>` the same run also times that checkout's codec,
 * alternating with this one round by round, and prints the ratio: compare a change with `main`
 * in one sitting (`git worktree add /tmp/main main`), where a shared, noisy machine would make
 * two separate runs disagree by more than the change.
 *
 * Env: BENCH_WIRE_N (iterations over all vectors per round, 200), BENCH_WIRE_ROUNDS (50: many short
 * rounds, so that the best of them is likely to have run undisturbed),
 * BENCH_WIRE_BASELINE (none).
 */
import process from "node:process";
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { join, resolve } from "node:path";

const N = Number(process.env.BENCH_WIRE_N || "200");
const ROUNDS = Number(process.env.BENCH_WIRE_ROUNDS || "50");
const BASELINE = process.env.BENCH_WIRE_BASELINE || "";

/** The part of `src/wire/mod.ts` this benchmark calls. */
interface Codec {
  decodeSignature(text: string): unknown;
  encodeSignature(sig: never): string;
  decodeTaskState(text: string): unknown;
  encodeTaskState(state: never): string;
  decodeGroupMeta(text: string): unknown;
  encodeGroupMeta(meta: never): string;
}

interface Vectors {
  messages: Record<string, string>;
  task_states: Record<string, string>;
  group_metas: Record<string, string>;
}

const vectors: Vectors = JSON.parse(
  await readFile(new URL("../tests/fixtures/go_vectors.json", import.meta.url), "utf8"),
);
const messages = Object.values(vectors.messages);
const states = Object.values(vectors.task_states);
const metas = Object.values(vectors.group_metas);

/** One timed operation: a name and how many codec calls one iteration makes. */
interface Case {
  name: string;
  perIteration: number;
  make(codec: Codec): () => void;
}

// Each case keeps a result live (`sink`) so that no engine drops the work as unused.
let sink = 0;
const cases: Case[] = [
  {
    name: "signature decode",
    perIteration: messages.length,
    make: (c) => () => {
      for (const m of messages) sink += c.decodeSignature(m) === null ? 1 : 0;
    },
  },
  {
    name: "signature encode",
    perIteration: messages.length,
    make: (c) => {
      const sigs = messages.map((m) => c.decodeSignature(m) as never);
      return () => {
        for (const s of sigs) sink += c.encodeSignature(s).length;
      };
    },
  },
  {
    name: "task state decode",
    perIteration: states.length,
    make: (c) => () => {
      for (const s of states) sink += c.decodeTaskState(s) === null ? 1 : 0;
    },
  },
  {
    name: "task state encode",
    perIteration: states.length,
    make: (c) => {
      const decoded = states.map((s) => c.decodeTaskState(s) as never);
      return () => {
        for (const s of decoded) sink += c.encodeTaskState(s).length;
      };
    },
  },
  {
    name: "group meta decode+encode",
    perIteration: metas.length,
    make: (c) => () => {
      for (const m of metas) sink += c.encodeGroupMeta(c.decodeGroupMeta(m) as never).length;
    },
  },
];

/** Nanoseconds per codec call of one round of `run`. */
function time(run: () => void, perIteration: number): number {
  const start = performance.now();
  for (let i = 0; i < N; i++) run();
  return (performance.now() - start) * 1e6 / (N * perIteration);
}

async function load(root: string): Promise<Codec> {
  return await import(pathToFileURL(join(root, "src/wire/mod.ts")).href) as Codec;
}

const here = new URL("..", import.meta.url).pathname;
const codecs: { label: string; codec: Codec }[] = [{ label: "this", codec: await load(here) }];
if (BASELINE) codecs.push({ label: "baseline", codec: await load(resolve(BASELINE)) });

// Both codecs must give the same bytes, or the comparison means nothing.
for (const { label, codec } of codecs) {
  for (const m of messages) {
    if (codec.encodeSignature(codec.decodeSignature(m) as never) !== m) {
      throw new Error(`The ${label} codec does not round-trip a vector`);
    }
  }
}

const runtime = "Deno" in globalThis ? "deno" : "bun";
console.log(`wire codec, ${runtime}, ${N} iterations x ${ROUNDS} rounds, best round (ns/op)`);
const best = new Map<string, number>();
const runs = codecs.map(({ label, codec }) => ({
  label,
  runs: cases.map((k) => ({ name: k.name, run: k.make(codec), per: k.perIteration })),
}));
// Warm-up round, then the timed rounds; within each round the codecs alternate case by case.
for (let round = 0; round <= ROUNDS; round++) {
  for (let k = 0; k < cases.length; k++) {
    const order = round % 2 === 0 ? runs : [...runs].reverse();
    for (const { label, runs: rs } of order) {
      const ns = time(rs[k].run, rs[k].per);
      if (round === 0) continue;
      const key = `${label}\t${rs[k].name}`;
      best.set(key, Math.min(best.get(key) ?? Infinity, ns));
    }
  }
}

const rows: string[] = [];
for (const k of cases) {
  const mine = best.get(`this\t${k.name}`)!;
  let row = `${k.name.padEnd(26)} ${mine.toFixed(0).padStart(7)}`;
  if (BASELINE) {
    const base = best.get(`baseline\t${k.name}`)!;
    row += `   baseline ${base.toFixed(0).padStart(7)}   this/baseline ${(mine / base).toFixed(3)}`;
  }
  rows.push(row);
}
console.log(rows.join("\n"));
if (sink === -1) console.log(""); // keeps `sink` observable
