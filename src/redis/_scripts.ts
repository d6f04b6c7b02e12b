/**
 * Lua scripts as named commands on an ioredis client: the shape of a script and the two calls
 * every script file uses. It imports no script, so any script file may import it.
 *
 * @module
 */
import type { Redis } from "ioredis";

/** A Lua script registered on a client under a name (EVALSHA, falling back to EVAL). */
export interface ScriptDef {
  /** The command name given to ioredis `defineCommand`. */
  readonly name: string;
  /** How many of the arguments are keys; -1: any number (the call passes them all as keys). */
  readonly keys: number;
  /** The script source. */
  readonly lua: string;
}

/** Registers `scripts` on a client (once per client). */
export function registerScripts(client: Redis, scripts: ScriptDef[]): void {
  for (const s of scripts) {
    client.defineCommand(
      s.name,
      s.keys >= 0 ? { numberOfKeys: s.keys, lua: s.lua } : { lua: s.lua },
    );
  }
}

/** Runs a script registered with {@linkcode registerScripts}. */
export function runScript<T = unknown>(
  client: Redis,
  script: ScriptDef,
  keys: string[],
  args: (string | number)[],
): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[
    script.name
  ];
  if (script.keys < 0) return fn.call(client, keys.length, ...keys, ...args);
  return fn.call(client, ...keys, ...args);
}
