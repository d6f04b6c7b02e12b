/**
 * How the inspection commands print: an aligned table for people, or JSON (`--json`) for
 * scripts, always on stdout.
 *
 * @module
 */
import { print } from "./output.ts";

/** A table cell: text, a number, or nothing known (`-`). */
export type Cell = string | number | null | undefined;

/** Prints `rows` under `headers`, columns padded to their widest cell; `empty` when no rows. */
export function printTable(headers: string[], rows: Cell[][], empty = "(none)"): void {
  if (rows.length === 0) {
    print(empty);
    return;
  }
  const text = rows.map((row) => row.map((cell) => (cell ?? "-").toString()));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  print(line(headers));
  for (const row of text) print(line(row));
}

/** Prints a value as one line of JSON. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value));
}

/** Text cut to `max` characters with an ellipsis, on one line. */
export function shorten(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
