/** Shared test helpers: waiting on conditions with a deadline, and service URLs. */
import { describe } from "node:test";

/**
 * Polls `check` every 10 ms until it returns a truthy value, and returns that value. Fails with
 * `what` after `timeoutMs`: tests wait on conditions, never on fixed sleeps.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The environment, on Deno or Bun, without touching `Deno.*` in shared code. */
export function env(name: string): string | undefined {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Deno) return g.Deno.env.get(name);
  return g.process?.env?.[name];
}

/**
 * `describe` that skips visibly when `skip` is a reason. Bun's `node:test` ignores the `skip`
 * option, so suites must use `describe.skip`, which both runtimes honour.
 */
export function describeUnless(
  skip: string | false | undefined,
  name: string,
  fn: () => void,
): void {
  if (skip) {
    console.error(`SKIP ${name}: ${skip}`);
    describe.skip(`${name} (skipped: ${skip})`, fn);
  } else {
    describe(name, fn);
  }
}
