/**
 * What a waiting `send` says on stderr: each state of the task as it changes (PENDING,
 * RECEIVED, STARTED, RETRY), and, when the task is still PENDING after
 * {@link NO_WORKER_HINT_SECONDS}, that no worker has taken it from its queue on its broker.
 * stdout stays as it is: scripts read it.
 *
 * @module
 */
import type { Config, GetOptions, TaskState } from "../mod.ts";
import { redactPassword } from "../src/urls.ts";

/** How long a task may stay PENDING before we say that no worker has taken it. */
export const NO_WORKER_HINT_SECONDS = 5;

/**
 * The `get` options of one wait: they report the task's state changes and the no-worker hint
 * through `log` (stderr by default). Call it once per wait: the hint's clock starts then.
 */
export function reportProgress(
  config: Config,
  log: (line: string) => void = console.error,
): Pick<GetOptions, "onState"> {
  const started = Date.now();
  let last = "";
  let hinted = false;
  return {
    onState(state: TaskState): void {
      if (state.state !== "" && state.state !== last) {
        last = state.state;
        log(`Task ${state.taskUUID} is ${state.state}`);
      }
      const waiting = last === "" || last === "PENDING";
      if (waiting && !hinted && Date.now() - started >= NO_WORKER_HINT_SECONDS * 1000) {
        hinted = true;
        log(noWorkerHint(state.taskUUID, config));
      }
    },
  };
}

/** The hint for a task no worker has taken: its queue and broker (password hidden). */
function noWorkerHint(uuid: string, config: Config): string {
  return `No worker has taken task ${uuid} after ${NO_WORKER_HINT_SECONDS} seconds: ` +
    `is a worker running on the queue "${config.defaultQueue}" of the broker "${
      redactPassword(config.broker)
    }"?`;
}
