/**
 * Workflow builders, shaped as Go machinery's: a chain nests each link in the previous link's OnSuccess,
 * a group shares a group UUID, a chord gives every member a copy of the callback.
 *
 * @module
 */
import { newChordUUID, newGroupUUID, newTaskUUID, type Signature } from "./wire/signature.ts";

/** Tasks run one after another; each link's results are appended to the next link's args. */
export interface Chain {
  /** The links, in order; `tasks[0]` carries the rest in its OnSuccess tree. */
  readonly tasks: Signature[];
}

/** Tasks run in parallel. */
export interface Group {
  /** `group_<uuid>`. */
  readonly groupUUID: string;
  /** The members, in group order. */
  readonly tasks: Signature[];
}

/** A group, then a callback with all the members' results. */
export interface Chord {
  /** The group. */
  readonly group: Group;
  /** Sent once every member succeeded. */
  readonly callback: Signature;
}

/** Links the signatures into a chain (replacing their OnSuccess lists). */
export function newChain(...signatures: Signature[]): Chain {
  if (signatures.length === 0) throw new RangeError("A chain needs at least one task");
  for (const sig of signatures) sig.uuid ||= newTaskUUID();
  for (let i = signatures.length - 1; i > 0; i--) signatures[i - 1].onSuccess = [signatures[i]];
  return { tasks: signatures };
}

/** Makes a group with a fresh group UUID; members get their UUIDs and the group size. */
export function newGroup(...signatures: Signature[]): Group {
  const groupUUID = newGroupUUID();
  for (const sig of signatures) {
    sig.uuid ||= newTaskUUID();
    sig.groupUUID = groupUUID;
    sig.groupTaskCount = signatures.length;
  }
  return { groupUUID, tasks: signatures };
}

/** Makes a chord: every member carries the callback, which gets a `chord_` UUID if it has none. */
export function newChord(group: Group, callback: Signature): Chord {
  callback.uuid ||= newChordUUID();
  for (const sig of group.tasks) sig.chordCallback = callback;
  return { group, callback };
}
