/**
 * `worker --tasks MODULE`: the tasks of a module of the user's, registered on the Server.
 *
 * @module
 */
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import type { Server } from "../mod.ts";
import { CommandError, errorMessage } from "./errors.ts";

/**
 * Imports `spec` (a path, relative to the current directory, or a URL) and registers its
 * exported functions as tasks; a default-exported function is called with the server instead.
 */
export async function loadTasksModule(server: Server, spec: string): Promise<void> {
  // A module task named like a built-in one (`add`) replaces it silently otherwise, and a Go
  // sender's `add` then runs the module's function.
  const builtIn = new Map(
    server.getRegisteredTaskNames().map((name) => [name, server.getRegisteredTask(name)]),
  );
  await registerModuleTasks(server, spec);
  for (const [name, def] of builtIn) {
    if (server.getRegisteredTask(name) !== def) {
      server.logger.warn(`The tasks module "${spec}" replaces the built-in task "${name}"`);
    }
  }
}

async function registerModuleTasks(server: Server, spec: string): Promise<void> {
  const url = /^[a-z][a-z0-9+.-]+:/i.test(spec) ? spec : pathToFileURL(resolvePath(spec)).href;
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new CommandError(`Cannot import the tasks module "${spec}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
  if (typeof module.default === "function") {
    await module.default(server);
    return;
  }
  const tasks: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === "function" && !isClass(value)) {
      tasks[name] = value as (...args: unknown[]) => unknown;
    }
  }
  if (Object.keys(tasks).length === 0) {
    throw new CommandError(
      `The tasks module "${spec}" exports no functions (and no default function taking the Server)`,
    );
  }
  server.registerTasks(tasks);
  server.logger.info(`Registered tasks from ${spec}: ${Object.keys(tasks).join(", ")}`);
}

function isClass(fn: unknown): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}
