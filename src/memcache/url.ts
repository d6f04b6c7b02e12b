/**
 * Memcache URLs (`memcache://h1:p1,h2:p2`). Loads no driver: the config and the CLI may import it.
 *
 * @module
 */
import { schemeDetail, splitHostPort, withURLDetail } from "../go_url.ts";
import { redactPassword, URLError, urlScheme } from "../urls.ts";

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
    const { host, port } = withURLDetail(fail, () => splitHostPort(item, 11211));
    if (host === "") throw fail(`the server "${item}" has no host`);
    servers.push(host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);
  }
  if (servers.length === 0) throw fail("no server given");
  return { servers };
}
