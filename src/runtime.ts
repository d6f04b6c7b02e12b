/**
 * The one place that knows whether it runs on Deno or Bun (or Node): arguments, environment,
 * signals, exit, the number of CPUs, and the runtime itself where a runtime's behaviour differs
 * (Bun's TLS checks).
 * Everything else uses web standards.
 *
 * @module
 */

interface DenoLike {
  args: string[];
  stdin: { isTerminal(): boolean };
  env: { toObject(): Record<string, string> };
  exit(code: number): never;
  addSignalListener(signal: string, handler: () => void): void;
  removeSignalListener(signal: string, handler: () => void): void;
}

interface ProcessLike {
  argv: string[];
  stdin?: { isTTY?: boolean };
  env: Record<string, string | undefined>;
  exit(code: number): never;
  on(signal: string, handler: () => void): void;
  off(signal: string, handler: () => void): void;
}

const deno = (globalThis as { Deno?: DenoLike }).Deno;
const proc = (globalThis as { process?: ProcessLike }).process;
const webNavigator = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
// Node 20 has no `navigator` (Node 21 added it): ask node:os there, and only there.
const nodeOS = !webNavigator && proc ? await import("node:os") : undefined;

/**
 * True on Bun. Its TLS client checks a certificate's names only when given a `servername`, so
 * the adapters' TLS options differ there (see `src/net/tls.ts`).
 */
export function isBun(): boolean {
  return "Bun" in globalThis;
}

/** The number of logical CPUs (at least 1): a worker's default concurrency is twice this. */
export function hardwareConcurrency(): number {
  const count = webNavigator?.hardwareConcurrency ?? nodeOS?.availableParallelism();
  return count && count > 0 ? count : 1;
}

/** The command-line arguments after the script. */
export function args(): string[] {
  if (deno) return deno.args;
  return proc ? proc.argv.slice(2) : [];
}

/** The environment variables. */
export function env(): Record<string, string | undefined> {
  if (deno) return deno.env.toObject();
  return proc ? { ...proc.env } : {};
}

/** True when standard input is a terminal (someone can answer a question). */
export function stdinIsTerminal(): boolean {
  if (deno) return deno.stdin.isTerminal();
  return proc?.stdin?.isTTY === true;
}

/** Ends the process. */
export function exit(code: number): never {
  if (deno) deno.exit(code);
  if (proc) proc.exit(code);
  throw new Error(`exit ${code}`);
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Calls `handler` on every SIGINT or SIGTERM; returns a function that stops listening. */
export function onShutdownSignals(handler: (signal: string) => void): () => void {
  const listeners = SIGNALS.map((signal) => [signal, () => handler(signal)] as const);
  for (const [signal, listener] of listeners) {
    if (deno) deno.addSignalListener(signal, listener);
    else proc?.on(signal, listener);
  }
  return () => {
    for (const [signal, listener] of listeners) {
      if (deno) deno.removeSignalListener(signal, listener);
      else proc?.off(signal, listener);
    }
  };
}
