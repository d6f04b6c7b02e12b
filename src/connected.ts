/**
 * Starting an adapter: connect it, or close it again when that fails, so a failed start leaves
 * no socket or timer behind.
 *
 * @module
 */

/** Something with a connection to open and to close. */
export interface Connectable {
  /** Opens the connection; rejects when the server cannot be reached. */
  connect(): Promise<void>;
  /** Closes whatever is open. */
  close(): Promise<void>;
}

/** Resolves with `adapter` once it connected; when it cannot, closes it and rejects. */
export async function connected<T extends Connectable>(adapter: T): Promise<T> {
  try {
    await adapter.connect();
  } catch (error) {
    await adapter.close();
    throw error;
  }
  return adapter;
}
