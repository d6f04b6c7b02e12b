/**
 * AMQP URLs (`amqp://`, `amqps://`, several joined by a separator) parsed with the AMQP client's
 * rules. Loads no driver: the config and the CLI may import it.
 *
 * @module
 */
import {
  parseGoURL,
  schemeDetail,
  splitHostPort,
  URLDetailError,
  withURLDetail,
} from "../go_url.ts";
import { redactPassword, URLError } from "../urls.ts";

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

function amqpError(url: string, detail: string): URLError {
  return new URLError(`Invalid AMQP URL "${redactPassword(url)}": ${detail}`);
}

function parseOneAMQPURL(url: string): AMQPURL {
  if (/\s/.test(url)) throw amqpError(url, "it holds whitespace");
  const fail = (detail: string): URLError => amqpError(url, detail);
  const parsed = withURLDetail(fail, () => parseGoURL(url));
  if (parsed.scheme !== "amqp" && parsed.scheme !== "amqps") {
    throw amqpError(url, schemeDetail(parsed.scheme, "amqp:// or amqps://"));
  }
  if (parsed.opaque !== "") throw amqpError(url, `expected ${parsed.scheme}://host:port/vhost`);
  const tls = parsed.scheme === "amqps";
  const hp = withURLDetail(fail, () => {
    if (parsed.host.includes(",")) {
      throw new URLDetailError("the host holds a comma (is the broker separator set?)");
    }
    return splitHostPort(parsed.host, tls ? 5671 : 5672);
  }, parsed.suspicious);
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
