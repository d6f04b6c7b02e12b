/**
 * `machinery purge QUEUE`: removes every message waiting in a queue, after a confirmation on a
 * terminal, or with `--yes`.
 *
 * @module
 */
import { createInterface } from "node:readline/promises";
import process from "node:process";
import { stdinIsTerminal } from "../src/runtime.ts";
import type { Command } from "./command.ts";
import { FAILURE, OK, UsageError } from "./errors.ts";
import { atMostPositionals, type Parsed } from "./flags.ts";
import { INSPECT_OPTIONS, JSON_HELP, withInspector } from "./inspection.ts";
import { print } from "./output.ts";
import { printJson } from "./table.ts";

/** `machinery purge`. */
export const purge: Command = {
  options: { ...INSPECT_OPTIONS, yes: { type: "boolean", short: "y" } },
  help: `machinery purge QUEUE [--yes] [--json] [connection options]
  Removes every message waiting in QUEUE (not the ones workers hold, delayed or dead). Asks
  first on a terminal; elsewhere it needs --yes.
  -y, --yes                  do not ask
${JSON_HELP}`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  if (positionals.length === 0) throw new UsageError("purge needs a queue name");
  atMostPositionals("purge", positionals, 1);
  const queue = positionals[0];
  if (values.yes !== true) {
    if (!stdinIsTerminal()) {
      throw new UsageError(`purge asks before it deletes: pass --yes to purge "${queue}"`);
    }
    if (!(await confirm(`Delete every message waiting in "${queue}"? [y/N] `))) {
      console.error("Nothing purged");
      return FAILURE;
    }
  }
  return await withInspector(values, async (inspector) => {
    const purged = await inspector.purge(queue);
    if (values.json) printJson({ queue, purged });
    else print(`Purged ${purged} messages from "${queue}"`);
    return OK;
  });
}

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}
