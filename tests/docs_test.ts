/**
 * The documentation stays true to its citations: every `docs/<page>.md#<anchor>` named in the
 * code, the tests, the examples or the README, and every link between the docs, points at a
 * heading that exists; the JSON examples of `docs/wire.md` are Go's exact bytes; and no comment
 * cites numbered sections of a document outside the repository.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const PAGES = ["wire.md", "architecture.md", "sizing.md"];
const SECTION_SIGN = "\u00a7";

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors of a Markdown page (headings outside fenced code), with GitHub's `-n` suffixes. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The files the citations live in: sources, tests, examples, benchmarks, scripts, README. */
function sourceFiles(): string[] {
  const files = ["mod.ts", "cli.ts", "README.md"];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(root, dir))) {
      const path = join(dir, name);
      if (statSync(join(root, path)).isDirectory()) {
        if (name !== "node_modules" && name !== "fixtures" && name !== "results") walk(path);
      } else if (/\.(ts|mjs|js|sh)$/.test(name) || name === "run") files.push(path);
    }
  };
  for (const dir of ["src", "tests", "examples", "bench", ".ci", "cli"]) {
    try {
      walk(dir);
    } catch {
      // A folder that does not exist has nothing to check.
    }
  }
  return files;
}

const pages = new Map(
  PAGES.map((page) => [page, anchors(readFileSync(join(root, "docs", page), "utf8"))]),
);

describe("docs citations", () => {
  test("every docs/<page>.md#<anchor> in the code names an existing heading", () => {
    const broken: string[] = [];
    for (const file of sourceFiles()) {
      const text = readFileSync(join(root, file), "utf8");
      for (const [, page, anchor] of text.matchAll(/docs\/([a-z_]+\.md)(?:#([\w-]+))?/g)) {
        const known = pages.get(page);
        if (!known) broken.push(`${file}: docs/${page} does not exist`);
        else if (anchor && !known.has(anchor)) broken.push(`${file}: docs/${page}#${anchor}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test("links between the docs name existing headings", () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      const text = readFileSync(join(root, "docs", page), "utf8");
      for (const [, target, anchor] of text.matchAll(/\]\(([a-z_]+\.md)?#([\w-]+)\)/g)) {
        const known = pages.get(target ?? page);
        if (!known?.has(anchor)) broken.push(`docs/${page}: ${target ?? ""}#${anchor}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test("every JSON example in docs/wire.md is one of Go's vectors, byte for byte", () => {
    const vectors = JSON.parse(
      readFileSync(join(root, "tests", "fixtures", "go_vectors.json"), "utf8"),
    ) as Record<string, Record<string, string> | string>;
    const known = new Set<string>();
    for (const group of Object.values(vectors)) {
      if (typeof group === "object") { for (const bytes of Object.values(group)) known.add(bytes); }
    }
    const wire = readFileSync(join(root, "docs", "wire.md"), "utf8");
    const examples = [...wire.matchAll(/^```json\n([\s\S]*?)\n```/gm)].map((m) => m[1]);
    assert.ok(examples.length > 0, "no JSON examples found");
    assert.deepEqual(examples.filter((json) => !known.has(json)), []);
  });

  test("no comment cites numbered sections of an outside document", () => {
    const found = sourceFiles().filter((file) =>
      readFileSync(join(root, file), "utf8").includes(SECTION_SIGN)
    );
    assert.deepEqual(found.map((f) => relative(root, join(root, f))), []);
  });
});
