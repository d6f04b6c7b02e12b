/**
 * A Go `net/url`-style URL parser, only as far as machinery's URL kinds need it (the Redis, AMQP
 * and Memcache parsers build on it). Errors thrown inside carry a detail that is safe to show:
 * it never quotes a piece of the URL that could hold part of a password.
 *
 * @module
 */

/** A URL split the way Go's `url.Parse` splits it. */
export interface GoURL {
  /** The scheme, lower-cased (`""` when none). */
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

/** Thrown by the parser; `detail` is safe to show (it quotes no user info). */
export class URLDetailError extends Error {
  /** What is wrong with the URL. */
  readonly detail: string;
  /** Creates the error; `detail` must quote no user info. */
  constructor(detail: string) {
    super(detail);
    this.name = "URLDetailError";
    this.detail = detail;
  }
}

/** Said when a password may have been cut at a reserved character. */
export const PASSWORD_HINT =
  "(if the password holds a '/', '?', '#' or '@', percent-encode it: %2F, %3F, %23, %40)";

function percentDecode(s: string, what: string): string {
  if (!s.includes("%")) return s;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) {
    throw new URLDetailError(`the ${what} holds an invalid percent-escape`);
  }
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (seq) => {
    const bytes = new Uint8Array(seq.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(seq.slice(i * 3 + 1, i * 3 + 3), 16);
    return new TextDecoder().decode(bytes);
  });
}

/** The text from `from` up to the start of the next `scheme://` (several URLs in one string). */
export function untilNextURL(s: string, from: number): string {
  const tail = s.slice(from);
  const next = tail.search(/[A-Za-z][A-Za-z0-9+.-]*:\/\//);
  return next >= 0 ? tail.slice(0, next) : tail;
}

/** Splits `raw` as Go's `url.Parse` does (query and fragment dropped). */
export function parseGoURL(raw: string): GoURL {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new URLDetailError("it holds a control character");
  let rest = raw;
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);

  let scheme = "";
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (m) {
    scheme = m[1].toLowerCase();
    rest = rest.slice(m[0].length);
  } else if (rest.startsWith(":")) {
    throw new URLDetailError("the scheme is missing");
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
    if (first.includes(":")) throw new URLDetailError("the first path segment holds a colon");
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
      if (url.suspicious && e instanceof URLDetailError) {
        throw new URLDetailError(`the host or port is not valid ${PASSWORD_HINT}`);
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
  if (/\s/.test(host)) throw new URLDetailError("the host holds a space");
  let colonPort: string;
  if (host.startsWith("[")) {
    const close = host.lastIndexOf("]");
    if (close < 0) throw new URLDetailError(`the host "${host}" lacks a closing "]"`);
    colonPort = host.slice(close + 1);
  } else {
    const colon = host.lastIndexOf(":");
    colonPort = colon >= 0 ? host.slice(colon) : "";
  }
  if (colonPort !== "" && !/^:[0-9]*$/.test(colonPort)) {
    throw new URLDetailError(`the port "${colonPort.slice(1)}" is not a number`);
  }
}

/** Splits `host[:port]` (IPv6 in brackets); the port is `fallback` when missing or empty. */
export function splitHostPort(hostport: string, fallback: number): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) throw new URLDetailError(`the host "${hostport}" lacks a closing "]"`);
    host = hostport.slice(1, close);
    const tail = hostport.slice(close + 1);
    if (tail !== "" && !tail.startsWith(":")) {
      throw new URLDetailError(`the host "${hostport}" has text after "]"`);
    }
    portText = tail.slice(1);
  } else {
    const colon = hostport.lastIndexOf(":");
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : "";
    if (host.includes(":")) {
      throw new URLDetailError(
        `the host "${hostport}" has more than one ":" (write IPv6 in brackets)`,
      );
    }
  }
  if (/\s/.test(host)) throw new URLDetailError("the host holds a space");
  if (portText === "") return { host, port: fallback };
  if (!/^[0-9]+$/.test(portText)) {
    throw new URLDetailError(`the port "${portText}" is not a number`);
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new URLDetailError(`the port "${portText}" is out of range`);
  return { host, port };
}

/** The detail for a URL of the wrong scheme. */
export function schemeDetail(scheme: string, expected: string): string {
  return scheme === ""
    ? `it has no scheme (expected ${expected})`
    : `the scheme "${scheme}" is not supported here (expected ${expected})`;
}

/**
 * Runs `parse`, turning a {@linkcode URLDetailError} into `fail(detail)`. With `suspicious` (an
 * `@` after the authority), the detail is the password hint instead: the host may hold part of a
 * password, which the detail could quote.
 */
export function withURLDetail<T>(
  fail: (detail: string) => Error,
  parse: () => T,
  suspicious = false,
): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof URLDetailError)) throw e;
    throw fail(suspicious ? `the host or port is not valid ${PASSWORD_HINT}` : e.detail);
  }
}
