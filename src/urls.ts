/**
 * URL helpers every adapter shares: the scheme of a URL, and the redaction used in log lines and
 * error messages (passwords replaced by `***`, or dropped). Each technology parses its own URLs
 * beside its adapters: `redis/url.ts`, `amqp/url.ts`, `memcache/url.ts`.
 *
 * @example
 * ```ts
 * import { redactURL, urlScheme } from "./urls.ts";
 *
 * console.log(redactURL("amqp://guest:guest@localhost:5672")); // amqp://localhost:5672
 * console.log(urlScheme("rediss://h:6379")); // rediss
 * ```
 *
 * @module
 */
import { type GoURL, parseGoURL, untilNextURL } from "./go_url.ts";

/** A URL that cannot be parsed, or that has the wrong scheme. The message never holds a password. */
export class URLError extends Error {
  /** Creates the error; callers pass a message that already redacts the URL. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "URLError";
  }
}

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*$/;
/**
 * Where a URL starts: `scheme://` anywhere, or a bare `scheme:` (`redis:/:pw@h`, `redis::pw@h`)
 * at the start of the text or after whitespace. Not after other characters: a password or a
 * host list (`a:1,b:2`) may hold `x:`, and cutting a URL there would show part of a password.
 * (A bare start is also skipped while the URL before it has no `@` yet: see `redactPassword`.)
 */
const URL_START_RE = /[A-Za-z][A-Za-z0-9+.-]*:\/\/|(?<!\S)[A-Za-z][A-Za-z0-9+.-]*:/g;

/** Schemes where a lone user info (`pass@`) is a password, not a user name. */
function lonePartIsPassword(scheme: string): boolean {
  const s = scheme.toLowerCase();
  return s === "redis" || s === "rediss" || s === "redis+socket";
}

/**
 * The URL with every password replaced by `***`; the rest is kept, so error messages can still
 * name the URL. Several URLs in one string (a broker list) are each redacted. The user info is
 * taken to run to the last `@` of each URL, so a password holding `/`, `?` or `#` is hidden too.
 * For Redis URLs a lone `pass@` is a password (machinery's rule) and is redacted; for other
 * schemes a lone `user@` is a user name and is kept. Forms without `//` (`redis:/:pw@h`,
 * `amqp:user:pw@h`) are redacted too, a lone part there always (`user:pw@h` has no scheme at
 * all, and reads as one).
 *
 * @example
 * ```ts
 * redactPassword("redis://:secret@host:6379/1"); // "redis://:***@host:6379/1"
 * redactPassword("amqp://guest:guest@localhost:5672/"); // "amqp://guest:***@localhost:5672/"
 * redactPassword("redis:/:secret@host"); // "redis:/:***@host"
 * ```
 */
export function redactPassword(url: string): string {
  const starts: { index: number; scheme: string; body: number; opaque: boolean }[] = [];
  for (const m of url.matchAll(URL_START_RE)) {
    const body = m.index + m[0].length;
    const previous = starts[starts.length - 1];
    // A bare start right after a URL with no `@` yet may be inside its password (`u:a b:c@h`).
    const bare = !m[0].endsWith("//");
    if (bare && previous && !url.slice(previous.body, m.index).includes("@")) continue;
    starts.push({
      index: m.index,
      scheme: m[0].replace(/:(\/\/)?$/, ""),
      body,
      opaque: bare && url[body] !== "/",
    });
  }
  if (starts.length === 0) return url;
  let out = url.slice(0, starts[0].index);
  for (let i = 0; i < starts.length; i++) {
    const { index, scheme, body, opaque } = starts[i];
    const end = i + 1 < starts.length ? starts[i + 1].index : url.length;
    const segment = url.slice(body, end);
    out += url.slice(index, body);
    const at = segment.lastIndexOf("@");
    if (at < 0) {
      out += segment;
      continue;
    }
    const userinfo = segment.slice(0, at);
    const colon = userinfo.indexOf(":");
    let redacted: string;
    if (colon >= 0) {
      redacted = userinfo.slice(0, colon + 1) + (colon + 1 < userinfo.length ? "***" : "");
    } else if ((opaque || lonePartIsPassword(scheme)) && userinfo.replace(/^\/+/, "") !== "") {
      redacted = userinfo.match(/^\/*/)![0] + "***";
    } else {
      redacted = userinfo;
    }
    out += redacted + segment.slice(at);
  }
  return out;
}

/**
 * Go machinery's `RedactURL`: `scheme://host`, with the credentials, path and query removed
 * (`amqp://guest:guest@localhost:5672` gives `amqp://localhost:5672`). Like Go, a string without
 * a host gives `scheme://` (`""` gives `://`). Two departures, both for safety or clarity: a URL
 * Go cannot parse is returned with its password redacted (Go returns it as given), and a bare
 * word such as `eager` or `memory` is returned as is (Go gives `://`).
 */
export function redactURL(url: string): string {
  if (SCHEME_RE.test(url)) return url;
  let parsed: GoURL;
  try {
    parsed = parseGoURL(url);
  } catch {
    return redactPassword(url);
  }
  if (parsed.suspicious) {
    // An `@` after the authority: the "host" may be part of a password that holds a `/`, so
    // take the host after the last `@` of this URL instead.
    const body = url.indexOf("//") + 2;
    const segment = untilNextURL(url, body);
    const host = segment.slice(segment.lastIndexOf("@") + 1).split(/[/?#]/, 1)[0];
    return `${parsed.scheme}://${host}`;
  }
  return `${parsed.scheme}://${parsed.host}`;
}

/**
 * The lower-cased scheme before `://` (`redis+socket://…` gives `redis+socket`). A bare word such
 * as `eager`, `memory` or `null` gives the word itself, lower-cased. Anything else gives `""`.
 */
export function urlScheme(url: string): string {
  const i = url.indexOf("://");
  if (i >= 0) {
    const scheme = url.slice(0, i);
    return SCHEME_RE.test(scheme) ? scheme.toLowerCase() : "";
  }
  return SCHEME_RE.test(url) ? url.toLowerCase() : "";
}

/**
 * The lock URL a process should use when the config names none: the config's `lock` if set,
 * else the broker URL if it is a Redis URL, else the result backend URL if it is one, else `""`
 * (the in-process lock). Unlike Go machinery, whose default is the in-process lock, this makes
 * workers that share a Redis broker or backend share their ticks too.
 */
export function defaultLockURL(
  config: { lock?: string; broker?: string; resultBackend?: string },
): string {
  if (config.lock) return config.lock;
  for (const url of [config.broker ?? "", config.resultBackend ?? ""]) {
    if (REDIS_SCHEMES.has(urlScheme(url))) return url;
  }
  return "";
}

/** The schemes of Redis URLs. */
export const REDIS_SCHEMES: ReadonlySet<string> = new Set(["redis", "rediss", "redis+socket"]);
