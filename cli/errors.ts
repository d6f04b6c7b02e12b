/**
 * How a command ends: its exit statuses, and the two errors `main` turns into them (a
 * {@link UsageError} exits 2 with a hint, a {@link CommandError} exits 1 with its message).
 *
 * @module
 */

/** The command did what it was asked. */
export const OK = 0;
/** The command failed (its task failed, a server did not answer, …). */
export const FAILURE = 1;
/** The command line was wrong. */
export const USAGE = 2;
/** `send --unique-for`: a task with the same unique key is not finished; nothing was sent. */
export const DUPLICATE = 3;

/** A bad command line: exits 2 with the message and a hint. */
export class UsageError extends Error {
  /** Creates the error; the message names the flag or argument at fault. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure with a message meant for the user as is: exits 1. */
export class CommandError extends Error {
  /** Creates the error; the message is printed after "machinery: ". */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandError";
  }
}

/** The message of an error, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
