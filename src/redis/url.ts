/**
 * Redis URLs (`redis://`, `rediss://`, `redis+socket://`) parsed with machinery's rules. Loads no
 * driver: the config and the CLI may import it.
 *
 * @example
 * ```ts
 * import { parseRedisURL } from "./url.ts";
 *
 * const url = parseRedisURL("redis://:secret@127.0.0.1:6379/2");
 * console.log(url.host, url.port, url.db); // 127.0.0.1 6379 2
 * ```
 *
 * @module
 */
import {
  parseGoURL,
  PASSWORD_HINT,
  schemeDetail,
  splitHostPort,
  URLDetailError,
  withURLDetail,
} from "../go_url.ts";
import { redactPassword, URLError } from "../urls.ts";

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

const REDIS_DEFAULT_HOST = "127.0.0.1";
const REDIS_DEFAULT_PORT = 6379;

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
  const fail = (detail: string): URLError => redisError(url, detail);
  const parsed = withURLDetail(fail, () => parseGoURL(url));
  if (parsed.opaque !== "") throw redisError(url, `expected ${scheme}://host:port/db`);
  if (parsed.suspicious) throw redisError(url, `it holds an "@" after the host ${PASSWORD_HINT}`);

  const hosts: { host: string; port: number }[] = [];
  withURLDetail(fail, () => {
    const list = parsed.host === "" ? [""] : parsed.host.split(",");
    for (const item of list) {
      const hp = splitHostPort(item, REDIS_DEFAULT_PORT);
      if (hp.host === "") {
        if (list.length > 1) throw new URLDetailError("an address of the host list is empty");
        hp.host = REDIS_DEFAULT_HOST;
      }
      hosts.push(hp);
    }
  }, parsed.suspicious);

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

/** Go `strconv.Atoi` for a database number; anything bad (or negative) gives 0. */
function parseDB(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) return 0;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}
