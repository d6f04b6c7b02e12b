/**
 * What the commands write: result lines to stdout, and machinery's example handlers' lines to
 * the log (stderr).
 *
 * @module
 */
import type { Logger, Worker } from "../mod.ts";

/** Machinery's example worker handlers: each logs what happened. */
export function setExampleHandlers(worker: Worker, logger: Logger): void {
  worker.setErrorHandler((error) => logger.error(`I am an error handler: ${error.message}`));
  // The start and end lines carry the task, so JSON logs can be joined on its UUID.
  worker.setPreTaskHandler((sig) =>
    logger.info(`I am a start of task handler for: ${sig.name}`, {
      task_uuid: sig.uuid,
      task_name: sig.name,
    })
  );
  worker.setPostTaskHandler((sig) =>
    logger.info(`I am an end of task handler for: ${sig.name}`, {
      task_uuid: sig.uuid,
      task_name: sig.name,
    })
  );
}

/** Writes a result line to stdout (logs go to stderr). */
export function print(line: string): void {
  console.log(line);
}
