// Fails when a tracked source, test or script file names a relative path that leaves the
// repository (the repository must stand alone: users clone it without anything beside it).
import { execSync } from "node:child_process";
import path from "node:path";
import fs from "node:fs";

const root = process.cwd();
const files = execSync("git ls-files '*.ts' '*.mjs' '*.js' '*.sh' '.ci/run' 'deno.json'", {
  encoding: "utf8",
}).trim().split("\n");
const relative = /["'`](\.\.\/[^"'`\s]*)["'`]/g;
let bad = 0;
for (const file of files) {
  const text = fs.readFileSync(file, "utf8");
  for (const [, spec] of text.matchAll(relative)) {
    const target = path.resolve(root, path.dirname(file), spec);
    if (target !== root && !target.startsWith(root + path.sep)) {
      console.log(`${file}: "${spec}" resolves outside the repository`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
