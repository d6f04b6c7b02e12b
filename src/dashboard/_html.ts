/**
 * HTML building for the dashboard: every value goes through `escapeHtml`, so a task name,
 * argument or error is always text, never markup.
 *
 * @module
 */

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** `text` with the characters HTML gives a meaning escaped (safe in content and attributes). */
export function escapeHtml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Markup already escaped: the only thing `html` inserts as is. */
export class Html {
  /** The markup. */
  readonly value: string;
  /** Wraps markup that was built from escaped parts. */
  constructor(value: string) {
    this.value = value;
  }
  /** The markup. */
  toString(): string {
    return this.value;
  }
}

/** A template tag that escapes every interpolated value except `Html` (and arrays of them). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(value);
}

/** A count, or "–" when the broker cannot tell. */
export function count(value: number | null): Html {
  return value === null
    ? html`<span class="unknown" title="the broker cannot tell">–</span>`
    : html`${value.toLocaleString("en-US")}`;
}
