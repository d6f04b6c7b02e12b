/**
 * Broker and result backend URLs: machinery's parsing rules (Go `net/url` plus the v1 factories)
 * for `redis://`, `rediss://`, `redis+socket://`, `amqp://`, `amqps://` and `memcache://`, and the
 * redaction used in log lines and error messages.
 *
 * Every error names the URL with its password replaced by `***`, and never quotes a piece of the
 * URL that could hold part of a password.
 *
 * @example
 * ```ts
 * import { parseRedisURL, redactURL } from "./urls.ts";
 *
 * const url = parseRedisURL("redis://:secret@127.0.0.1:6379/2");
 * console.log(url.host, url.port, url.db); // 127.0.0.1 6379 2
 * console.log(redactURL("amqp://guest:guest@localhost:5672")); // amqp://localhost:5672
 * ```
 *
 * @module
 */

/** A URL that cannot be parsed, or that has the wrong scheme. The message never holds a password. */
export class URLError extends Error {
  /** Creates the error; callers pass a message that already redacts the URL. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "URLError";
  }
}

/** A parsed Redis URL (`redis://`, `rediss://` or `redis+socket://`). */
export interface RedisURL {
  /** `tcp` for `redis://` and `rediss://`; `socket` for `redis+socket://`. */
  kind: "tcp" | "socket";
  /** The first host (`127.0.0.1` when the URL has none); `""` for a socket. */
  host: string;
  /** The first host's port (6379 when the URL has none); 0 for a socket. */
  port: number;
  /** Every host of a comma list (`redis://a:1,b:2/3`), the first one included; `[]` for a socket. */
  hosts: { host: string; port: number }[];
  /** The user name (`""` when none: `redis://pass@host` carries only a password). */
  username: string;
  /** The password (`""` when none). */
  password: string;
  /** The database number from the path (`/N`); 0 when missing or not a number. */
  db: number;
  /** True for `rediss://`. */
  tls: boolean;
  /** The socket file for `redis+socket://`; `""` otherwise. */
  socketPath: string;
}

/** One parsed AMQP URL. */
export interface AMQPURL {
  /** The URL as given (one piece of a separator-joined list). */
  url: string;
  /** The host name (`localhost` when the URL has none; IPv6 without brackets). */
  host: string;
  /** The port (5672 for `amqp://`, 5671 for `amqps://` when the URL has none). */
  port: number;
  /** The user name (`guest` when the URL has no user info). */
  username: string;
  /** The password (`guest` when the URL has none). */
  password: string;
  /** The virtual host (`/` for an empty path or `/`; percent-decoded, so `/%2f` is `/`). */
  vhost: string;
  /** True for `amqps://`. */
  tls: boolean;
}

// ---------------------------------------------------------------------------------------------
// Redaction

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const SCHEME_START_RE = /[A-Za-z][A-Za-z0-9+.-]*:\/\//g;

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
 * schemes a lone `user@` is a user name and is kept.
 *
 * @example
 * ```ts
 * redactPassword("redis://:secret@host:6379/1"); // "redis://:***@host:6379/1"
 * redactPassword("amqp://guest:guest@localhost:5672/"); // "amqp://guest:***@localhost:5672/"
 * ```
 */
export function redactPassword(url: string): string {
  const starts: { index: number; scheme: string; body: number }[] = [];
  for (const m of url.matchAll(SCHEME_START_RE)) {
    starts.push({ index: m.index, scheme: m[0].slice(0, -3), body: m.index + m[0].length });
  }
  if (starts.length === 0) return url;
  let out = url.slice(0, starts[0].index);
  for (let i = 0; i < starts.length; i++) {
    const { index, scheme, body } = starts[i];
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
    } else if (lonePartIsPassword(scheme) && userinfo !== "") {
      redacted = "***";
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

// ---------------------------------------------------------------------------------------------
// A Go `net/url`-style parser (only what the URL kinds here need)

interface GoURL {
  scheme: string;
  /** Undefined when the URL has no user info; password undefined when there is no `:`. */
  user?: { username: string; password?: string };
  /** The raw host, port included (`h:1`, `[::1]:6379`, or `a:1,b:2` for a comma list). */
  host: string;
  /** True when the URL has a `//` authority. */
  hasAuthority: boolean;
  /** The percent-decoded path. */
  path: string;
  /** The opaque part (`scheme:opaque`), when the URL has no leading `/` after the scheme. */
  opaque: string;
  /** True when the text after the authority holds an `@`: parts of a password may sit in `host`. */
  suspicious: boolean;
}

/** Thrown inside the parser; `detail` is safe to show (it quotes no user info). */
class Detail extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = "Detail";
  }
}

const PASSWORD_HINT =
  "(if the password holds a '/', '?', '#' or '@', percent-encode it: %2F, %3F, %23, %40)";

function percentDecode(s: string, what: string): string {
  if (!s.includes("%")) return s;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) {
    throw new Detail(`the ${what} holds an invalid percent-escape`);
  }
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (seq) => {
    const bytes = new Uint8Array(seq.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(seq.slice(i * 3 + 1, i * 3 + 3), 16);
    return new TextDecoder().decode(bytes);
  });
}

/** The text from `from` up to the start of the next `scheme://` (several URLs in one string). */
function untilNextURL(s: string, from: number): string {
  const tail = s.slice(from);
  const next = tail.search(/[A-Za-z][A-Za-z0-9+.-]*:\/\//);
  return next >= 0 ? tail.slice(0, next) : tail;
}

function parseGoURL(raw: string): GoURL {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new Detail("it holds a control character");
  let rest = raw;
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);

  let scheme = "";
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (m) {
    scheme = m[1].toLowerCase();
    rest = rest.slice(m[0].length);
  } else if (rest.startsWith(":")) {
    throw new Detail("the scheme is missing");
  }
  const q = rest.indexOf("?");
  if (q >= 0) rest = rest.slice(0, q);

  const url: GoURL = {
    scheme,
    host: "",
    hasAuthority: false,
    path: "",
    opaque: "",
    suspicious: false,
  };
  if (!rest.startsWith("/")) {
    if (scheme !== "") {
      url.opaque = rest;
      return url;
    }
    const slash = rest.indexOf("/");
    const first = slash >= 0 ? rest.slice(0, slash) : rest;
    if (first.includes(":")) throw new Detail("the first path segment holds a colon");
  }
  if (rest.startsWith("//") && (scheme !== "" || !rest.startsWith("///"))) {
    let authority = rest.slice(2);
    rest = "";
    const slash = authority.indexOf("/");
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    url.hasAuthority = true;
    // Everything after the authority, in the raw input: an `@` there means a password may have
    // been cut at a `/`, `?` or `#`, and the host holds part of it.
    url.suspicious = untilNextURL(raw, raw.indexOf("//") + 2 + authority.length).includes("@");
    const at = authority.lastIndexOf("@");
    const hostPart = at >= 0 ? authority.slice(at + 1) : authority;
    try {
      checkHost(hostPart);
    } catch (e) {
      if (url.suspicious && e instanceof Detail) {
        throw new Detail(`the host or port is not valid ${PASSWORD_HINT}`);
      }
      throw e;
    }
    url.host = hostPart;
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      const colon = userinfo.indexOf(":");
      if (colon < 0) {
        url.user = { username: percentDecode(userinfo, "user info") };
      } else {
        url.user = {
          username: percentDecode(userinfo.slice(0, colon), "user info"),
          password: percentDecode(userinfo.slice(colon + 1), "user info"),
        };
      }
    }
  }
  url.path = percentDecode(rest, "path");
  return url;
}

/** Go's parseHost checks: a bracketed IPv6 literal, and a port made of digits only. */
function checkHost(host: string): void {
  if (/\s/.test(host)) throw new Detail("the host holds a space");
  let colonPort: string;
  if (host.startsWith("[")) {
    const close = host.lastIndexOf("]");
    if (close < 0) throw new Detail(`the host "${host}" lacks a closing "]"`);
    colonPort = host.slice(close + 1);
  } else {
    const colon = host.lastIndexOf(":");
    colonPort = colon >= 0 ? host.slice(colon) : "";
  }
  if (colonPort !== "" && !/^:[0-9]*$/.test(colonPort)) {
    throw new Detail(`the port "${colonPort.slice(1)}" is not a number`);
  }
}

/** Splits `host[:port]` (IPv6 in brackets); the port is `fallback` when missing or empty. */
function splitHostPort(hostport: string, fallback: number): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) throw new Detail(`the host "${hostport}" lacks a closing "]"`);
    host = hostport.slice(1, close);
    const tail = hostport.slice(close + 1);
    if (tail !== "" && !tail.startsWith(":")) {
      throw new Detail(`the host "${hostport}" has text after "]"`);
    }
    portText = tail.slice(1);
  } else {
    const colon = hostport.lastIndexOf(":");
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : "";
    if (host.includes(":")) {
      throw new Detail(`the host "${hostport}" has more than one ":" (write IPv6 in brackets)`);
    }
  }
  if (/\s/.test(host)) throw new Detail("the host holds a space");
  if (portText === "") return { host, port: fallback };
  if (!/^[0-9]+$/.test(portText)) throw new Detail(`the port "${portText}" is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Detail(`the port "${portText}" is out of range`);
  return { host, port };
}

/** Go `strconv.Atoi` for a database number; anything bad (or negative) gives 0. */
function parseDB(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) return 0;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

// ---------------------------------------------------------------------------------------------
// Redis

const REDIS_DEFAULT_HOST = "127.0.0.1";
const REDIS_DEFAULT_PORT = 6379;

function schemeDetail(scheme: string, expected: string): string {
  return scheme === ""
    ? `it has no scheme (expected ${expected})`
    : `the scheme "${scheme}" is not supported here (expected ${expected})`;
}

function redisError(url: string, detail: string): URLError {
  return new URLError(`Invalid Redis URL "${redactPassword(url)}": ${detail}`);
}

/**
 * Parses a Redis URL with machinery's rules:
 *
 * - `redis://[user:]pass@host:port/db` and `rediss://…` (`tls` true). A lone `pass@` is the
 *   password (user `""`); `user:@` gives an empty password; `:pwd@` a password only; the password
 *   runs from the first `:` (`user:pwd:with:colon` gives `pwd:with:colon`). User info is
 *   percent-decoded.
 * - The database is the first path segment (`/2`); missing or not a number gives 0.
 * - A comma list `redis://[creds@]a:1,b:2/3` gives every host in `hosts` (the credentials belong
 *   to the first, the database follows the last); `host`/`port` are the first.
 * - A missing host gives `127.0.0.1`, a missing port 6379 (`redis:/` is valid).
 * - `redis+socket://[user:]pass@/path/file.sock[:/db]`: split at the first `@`, the credentials
 *   at the first `:`; the path runs to the next `:`, then `/N` gives the database. No
 *   percent-decoding here (as in Go).
 *
 * @throws {URLError} for another scheme or a malformed URL; the message redacts the password.
 */
export function parseRedisURL(url: string): RedisURL {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1].toLowerCase() ?? "";
  if (scheme === "redis+socket") return parseRedisSocketURL(url);
  if (scheme !== "redis" && scheme !== "rediss") {
    throw redisError(
      url,
      schemeDetail(scheme, "redis://, rediss:// or redis+socket://"),
    );
  }
  let parsed: GoURL;
  try {
    parsed = parseGoURL(url);
  } catch (e) {
    if (e instanceof Detail) throw redisError(url, e.detail);
    throw e;
  }
  if (parsed.opaque !== "") throw redisError(url, `expected ${scheme}://host:port/db`);
  if (parsed.suspicious) throw redisError(url, `it holds an "@" after the host ${PASSWORD_HINT}`);

  const hosts: { host: string; port: number }[] = [];
  try {
    const list = parsed.host === "" ? [""] : parsed.host.split(",");
    for (const item of list) {
      const hp = splitHostPort(item, REDIS_DEFAULT_PORT);
      if (hp.host === "") {
        if (list.length > 1) throw new Detail("an address of the host list is empty");
        hp.host = REDIS_DEFAULT_HOST;
      }
      hosts.push(hp);
    }
  } catch (e) {
    if (!(e instanceof Detail)) throw e;
    throw redisError(
      url,
      parsed.suspicious ? `the host or port is not valid ${PASSWORD_HINT}` : e.detail,
    );
  }

  let username = "";
  let password = "";
  if (parsed.user) {
    if (parsed.user.password === undefined) {
      password = parsed.user.username;
    } else {
      username = parsed.user.username;
      password = parsed.user.password;
    }
  }
  const segments = parsed.path.split("/");
  const db = segments.length > 1 ? parseDB(segments[1]) : 0;
  return {
    kind: "tcp",
    host: hosts[0].host,
    port: hosts[0].port,
    hosts,
    username,
    password,
    db,
    tls: scheme === "rediss",
    socketPath: "",
  };
}

function parseRedisSocketURL(url: string): RedisURL {
  const prefix = "redis+socket://";
  if (url.slice(0, prefix.length).toLowerCase() !== prefix) {
    throw redisError(url, "expected redis+socket://[user:]password@/path/to/file.sock[:/db]");
  }
  let remainder = url.slice(prefix.length);
  let username = "";
  let password = "";
  const at = remainder.indexOf("@");
  if (at >= 0) {
    const creds = remainder.slice(0, at);
    remainder = remainder.slice(at + 1);
    const colon = creds.indexOf(":");
    if (colon >= 0) {
      username = creds.slice(0, colon);
      password = creds.slice(colon + 1);
    } else {
      password = creds;
    }
  }
  const colon = remainder.indexOf(":");
  const socketPath = colon >= 0 ? remainder.slice(0, colon) : remainder;
  if (socketPath === "") {
    throw redisError(
      url,
      "the socket path is empty (expected redis+socket://[user:]password@/path/to/file.sock[:/db])",
    );
  }
  let db = 0;
  if (colon >= 0) {
    const dbPart = remainder.slice(colon + 1);
    const slash = dbPart.indexOf("/");
    if (slash >= 0) db = parseDB(dbPart.slice(slash + 1));
  }
  return {
    kind: "socket",
    host: "",
    port: 0,
    hosts: [],
    username,
    password,
    db,
    tls: false,
    socketPath,
  };
}

// ---------------------------------------------------------------------------------------------
// AMQP

function amqpError(url: string, detail: string): URLError {
  return new URLError(`Invalid AMQP URL "${redactPassword(url)}": ${detail}`);
}

function parseOneAMQPURL(url: string): AMQPURL {
  if (/\s/.test(url)) throw amqpError(url, "it holds whitespace");
  let parsed: GoURL;
  try {
    parsed = parseGoURL(url);
  } catch (e) {
    if (e instanceof Detail) throw amqpError(url, e.detail);
    throw e;
  }
  if (parsed.scheme !== "amqp" && parsed.scheme !== "amqps") {
    throw amqpError(url, schemeDetail(parsed.scheme, "amqp:// or amqps://"));
  }
  if (parsed.opaque !== "") throw amqpError(url, `expected ${parsed.scheme}://host:port/vhost`);
  const tls = parsed.scheme === "amqps";
  let hp: { host: string; port: number };
  try {
    if (parsed.host.includes(",")) {
      throw new Detail("the host holds a comma (is the broker separator set?)");
    }
    hp = splitHostPort(parsed.host, tls ? 5671 : 5672);
  } catch (e) {
    if (!(e instanceof Detail)) throw e;
    throw amqpError(
      url,
      parsed.suspicious ? `the host or port is not valid ${PASSWORD_HINT}` : e.detail,
    );
  }
  let username = "guest";
  let password = "guest";
  if (parsed.user) {
    username = parsed.user.username;
    if (parsed.user.password !== undefined) password = parsed.user.password;
  }
  let vhost = "/";
  if (parsed.path.length > 1) vhost = parsed.path.slice(1);
  return {
    url,
    host: hp.host === "" ? "localhost" : hp.host,
    port: hp.port,
    username,
    password,
    vhost,
    tls,
  };
}

/**
 * Parses an AMQP broker setting: one URL, or several joined by `separator` (machinery's
 * `MultipleBrokerSeparator`; an empty separator means one URL). The pieces are trimmed and empty
 * ones skipped. Each URL follows the AMQP client rules: defaults `guest`/`guest`, host
 * `localhost`, port 5672 (5671 for `amqps://`), vhost `/` from an empty path; user info and path
 * are percent-decoded (`/%2f` is the vhost `/`). A user without a password keeps the password
 * `guest`, as in Go's AMQP client.
 *
 * @throws {URLError} for another scheme, a malformed URL or an empty list.
 */
export function parseAMQPURLs(url: string, separator: string): AMQPURL[] {
  const pieces = separator === "" ? [url.trim()] : url.split(separator).map((s) => s.trim());
  const urls = pieces.filter((s) => s !== "").map(parseOneAMQPURL);
  if (urls.length === 0) throw amqpError(url, "no URL given");
  return urls;
}

// ---------------------------------------------------------------------------------------------
// Memcache

/**
 * Parses `memcache://h1:p1,h2:p2` into its server list (`host:port` strings; a missing port is
 * 11211). Entries are trimmed, empty ones skipped, and a trailing `/` is ignored.
 *
 * @throws {URLError} for another scheme, a bad port, or no server at all.
 */
export function parseMemcacheURL(url: string): { servers: string[] } {
  const fail = (detail: string): URLError =>
    new URLError(`Invalid Memcache URL "${redactPassword(url)}": ${detail}`);
  const prefix = "memcache://";
  if (url.slice(0, prefix.length).toLowerCase() !== prefix) {
    throw fail(schemeDetail(urlScheme(url), "memcache://"));
  }
  const body = url.slice(prefix.length).replace(/\/+$/, "");
  if (body.includes("@")) throw fail("memcache URLs take no credentials");
  if (body.includes("/")) throw fail("expected memcache://host:port,host:port");
  const servers: string[] = [];
  for (const item of body.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    try {
      const { host, port } = splitHostPort(item, 11211);
      if (host === "") throw new Detail(`the server "${item}" has no host`);
      servers.push(host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);
    } catch (e) {
      if (e instanceof Detail) throw fail(e.detail);
      throw e;
    }
  }
  if (servers.length === 0) throw fail("no server given");
  return { servers };
}
