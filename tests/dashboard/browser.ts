/**
 * Debian's chromium driven by playwright-core for the dashboard tests: no browser download, a
 * fresh profile per launch, the flags that keep it quiet and offline.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { ROOT } from "../cli_support.ts";

/** Where Debian installs chromium (`apt-get install chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or false. */
export function browserSkipReason(): string | false {
  if (!existsSync(CHROMIUM)) return `no ${CHROMIUM} (apt-get install chromium)`;
  return false;
}

/** A running browser with a fresh profile, removed by `close`. */
export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches chromium headless with a fresh `--user-data-dir`. */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  const profile = await mkdtemp(join(tmpdir(), "machinery-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The serious and critical accessibility violations axe-core finds on `page`. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const source = await readFile(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
  // evaluate() is not subject to the page's Content-Security-Policy, a script tag would be.
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as {
      axe: {
        run(): Promise<
          { violations: { id: string; impact: string | null; nodes: { target: unknown }[] }[] }
        >;
      };
    }).axe;
    const result = await axe.run();
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => JSON.stringify(n.target)),
    }));
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.targets.join(" ")}`);
}

/** The folder CI keeps screenshots in (git-ignored), created when missing. */
export const REPORTS: string = join(ROOT, ".ci/reports");
