/**
 * `worker --tasks MODULE`: the tasks of a module of the user's, registered on the Server.
 *
 * @module
 */
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import type { Server } from "../mod.ts";
import { moduleTasks } from "../src/module_tasks.ts";
import { CommandError, errorMessage } from "./errors.ts";

/**
 * Imports `spec` (a path, relative to the current directory, or a URL) and registers its tasks
 * (see `moduleTasks`: its `tasks` object, or else every exported function; only the names in
 * `only` when given). A default-exported function is called with the server instead.
 */
export async function loadTasksModule(
  server: Server,
  spec: string,
  only: string[] = [],
): Promise<void> {
  // A module task named like a built-in one (`add`) replaces it silently otherwise, and a Go
  // sender's `add` then runs the module's function.
  const builtIn = new Map(
    server.getRegisteredTaskNames().map((name) => [name, server.getRegisteredTask(name)]),
  );
  await registerModuleTasks(server, spec, only);
  for (const [name, def] of builtIn) {
    if (server.getRegisteredTask(name) !== def) {
      server.logger.warn(`The tasks module "${spec}" replaces the built-in task "${name}"`);
    }
  }
}

async function registerModuleTasks(server: Server, spec: string, only: string[]): Promise<void> {
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
    if (only.length > 0) {
      throw new CommandError(
        `--task cannot pick from "${spec}": it registers its own tasks (a default-exported function)`,
      );
    }
    await module.default(server);
    return;
  }
  let tasks;
  try {
    tasks = moduleTasks(module, only);
  } catch (error) {
    throw new CommandError(`The tasks module "${spec}": ${errorMessage(error)}`, { cause: error });
  }
  if (Object.keys(tasks).length === 0) {
    throw new CommandError(
      `The tasks module "${spec}" exports no functions (and no default function taking the Server)`,
    );
  }
  server.registerTasks(tasks);
  server.logger.info(`Registered tasks from ${spec}: ${Object.keys(tasks).join(", ")}`);
}
