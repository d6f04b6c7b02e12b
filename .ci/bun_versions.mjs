// Run by Bun from the repository root: fails unless every driver Bun resolves here has the
// version deno.lock records (the versions the tests run on). A driver Bun cannot resolve fails
// too, and says so: run `deno install` first.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const DRIVERS = ["ioredis", "amqplib", "memjs", "mongodb", "yaml", "croner", "@logtape/logtape"];
const imports = JSON.parse(readFileSync("deno.json", "utf8")).imports;
const locked = JSON.parse(readFileSync("deno.lock", "utf8")).specifiers;

/** The version of the package `name` that `entry` (a resolved file) belongs to. */
function packageVersion(name, entry) {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name === name) return pkg.version;
    } catch {
      // No package.json here: keep walking up.
    }
  }
  return undefined;
}

let bad = 0;
for (const name of DRIVERS) {
  const want = locked[imports[name].replace("^", "")];
  let got;
  try {
    got = packageVersion(name, fileURLToPath(import.meta.resolve(name)));
  } catch (error) {
    got = `not resolved (${error.message})`;
  }
  const same = got === want;
  if (!same) bad++;
  console.log(`${same ? "ok" : "MISMATCH"}: ${name} ${got} (deno.lock: ${want})`);
}
process.exit(bad ? 1 : 0);
