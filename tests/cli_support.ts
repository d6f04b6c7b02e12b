/**
 * Running the command line as a child process with the runtime running the test (Deno or Bun),
 * for the tests that drive `cli.ts` end to end.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { waitFor } from "./helpers.ts";

/** The repository root, where the children run. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));
const IS_DENO = "Deno" in globalThis;

/** Variables that would change what the CLI connects to; the tests set them explicitly. */
const CONFIG_VARS = [
  "BROKER",
  "RESULT_BACKEND",
  "DEFAULT_QUEUE",
  "RESULTS_EXPIRE_IN",
  "REDIS_DELAYED_TASKS_KEY",
  "CLI_FIXTURE_MODE",
];

/** A running child process and what it wrote so far. */
export interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Starts `script` with the current runtime; the child is killed after `timeoutMs`. */
export function start(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Child {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !CONFIG_VARS.includes(k)) childEnv[k] = v;
  }
  Object.assign(childEnv, { NO_COLOR: "1" }, env);
  const argv = IS_DENO ? ["run", "-A", "--quiet", script, ...args] : [script, ...args];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: childEnv, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal });
    });
  });
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}

/**
 * Sends a signal with `process.kill`: Deno's `ChildProcess.kill` marks the child as killed by
 * the signal (exit code null) even when it handles the signal and exits with its own code.
 */
export function signal(child: Child, name: "SIGINT" | "SIGTERM"): void {
  try {
    process.kill(child.process.pid!, name);
  } catch (error) {
    // Already gone: the caller's check of the exit code says why.
    if ((error as { code?: string }).code !== "ESRCH") throw error;
  }
}

/** Runs the CLI to completion. */
export async function cli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start("cli.ts", args, env, timeoutMs);
  const { code } = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Starts `machinery worker ARGS` and resolves once it waits for tasks. */
export async function startWorker(args: string[], env: Record<string, string>): Promise<Child> {
  const worker = start("cli.ts", ["worker", ...args], env, 120_000);
  await waitFor(() => worker.stderr().includes("Waiting for tasks on"), "the worker to launch");
  return worker;
}

/** Stops a worker with SIGTERM and checks that it drained and exited 0. */
export async function stopWorker(worker: Child): Promise<void> {
  signal(worker, "SIGTERM");
  const { code } = await worker.exited;
  assert.equal(code, 0, worker.stderr());
}
