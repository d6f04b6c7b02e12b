import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const IMPORT_RE = /^(import|export)\s+(type\s+)?[^;]*?\sfrom\s+"(\.[^"]+)"/gms;

interface Edge {
  to: string;
  typeOnly: boolean;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Every static relative import of mod.ts, cli.ts, cli/ and src/, by file relative to the root. */
async function moduleGraph(): Promise<Map<string, Edge[]>> {
  const files = [
    join(ROOT, "mod.ts"),
    join(ROOT, "cli.ts"),
    ...await sourceFiles(join(ROOT, "cli")),
    ...await sourceFiles(join(ROOT, "src")),
  ];
  const graph = new Map<string, Edge[]>();
  for (const file of files) {
    const text = await readFile(file, "utf8");
    const edges: Edge[] = [];
    for (const m of text.matchAll(IMPORT_RE)) {
      const to = relative(ROOT, resolve(dirname(file), m[3]));
      if (to.endsWith(".ts")) edges.push({ to, typeOnly: m[2] !== undefined });
    }
    graph.set(relative(ROOT, file), edges);
  }
  return graph;
}

/** The import cycles (type-only imports included), each as a path that returns to its start. */
function cycles(graph: Map<string, Edge[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): void => {
    const at = path.indexOf(node);
    if (at >= 0) {
      found.push([...path.slice(at), node]);
      return;
    }
    if (done.has(node)) return;
    path.push(node);
    for (const { to } of graph.get(node) ?? []) visit(to);
    path.pop();
    done.add(node);
  };
  for (const node of graph.keys()) visit(node);
  return found;
}

describe("module graph", () => {
  it("has no import cycles, type-only imports included", async () => {
    assert.deepEqual(cycles(await moduleGraph()), []);
  });

  it("the contracts import only types, and only from the wire codec", async () => {
    const graph = await moduleGraph();
    for (const contract of ["src/broker.ts", "src/backend.ts", "src/lock.ts"]) {
      for (const edge of graph.get(contract) ?? []) {
        assert.ok(edge.typeOnly, `${contract} imports ${edge.to} for its values`);
        assert.ok(edge.to.startsWith("src/wire/"), `${contract} imports ${edge.to}`);
      }
    }
  });
});
