// Reads the JUnit reports of `deno test` and `bun test` and prints the line CI reads:
// "N passed, N failed, N skipped". A runner that exited non-zero without a counted failure
// (a crash, a file that did not load) counts as one failure.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";

const [denoXml, bunXml, checksPassed, checksFailed, denoRc, bunRc] = process.argv.slice(2);

// A path is one report, or a folder of reports (Bun writes one per test file).
function count(path) {
  if (!existsSync(path)) return { passed: 0, failed: 0, skipped: 0, missing: true };
  const files = statSync(path).isDirectory()
    ? readdirSync(path).filter((f) => f.endsWith(".xml")).map((f) => `${path}/${f}`)
    : [path];
  const xml = files.map((f) => readFileSync(f, "utf8")).join("\n");
  const cases = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  let passed = 0, failed = 0, skipped = 0;
  for (const c of cases) {
    if (/<(failure|error)\b/.test(c)) failed++;
    else if (/<skipped\b/.test(c)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped, missing: false };
}

let passed = Number(checksPassed);
let failed = Number(checksFailed);
let skipped = 0;
for (const [name, path, rc] of [["deno", denoXml, denoRc], ["bun", bunXml, bunRc]]) {
  const r = count(path);
  console.error(
    `${name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (exit ${rc})`,
  );
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  if (Number(rc) !== 0 && r.failed === 0) failed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 ? 0 : 1);
