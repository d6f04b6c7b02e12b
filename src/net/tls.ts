/**
 * The TLS options every adapter passes when it dials with TLS (`rediss://`, `amqps://`): the
 * server identity to check, and the CA file of the configuration (`tlsCAFile`).
 *
 * Why each connection names the host explicitly: Bun checks a certificate's names only when
 * `servername` is given (it never calls `checkServerIdentity` otherwise), so a certificate signed
 * by a trusted CA for another host was accepted. A DNS name is passed as `servername` (also the
 * SNI); an IP address gets an explicit `checkServerIdentity` against that address, and on Bun
 * the address as `servername` too (Deno refuses an IP there, and checks the address itself).
 *
 * Node-only module: the adapters import it, the core never does.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, type ConnectionOptions, rootCertificates } from "node:tls";
import { isBun } from "../runtime.ts";

/** The CA file could not be read. */
export class TLSConfigError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TLSConfigError";
  }
}

/** Read CA files by path: a reconnect storm must not read the file each time. */
const caFiles = new Map<string, string>();

/** The PEM text of `path`, read once. */
function readCAFile(path: string): string {
  let pem = caFiles.get(path);
  if (pem === undefined) {
    try {
      pem = readFileSync(path, "utf8");
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new TLSConfigError(`Cannot read the TLS CA file "${path}": ${reason}`, {
        cause: error,
      });
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new TLSConfigError(`The TLS CA file "${path}" holds no PEM certificate`);
    }
    caFiles.set(path, pem);
  }
  return pem;
}

/**
 * The `tls.connect` options for a server at `host` (a DNS name or an IP address, IPv6 with or
 * without brackets): the identity check described above, and, when `caFile` is set, the system's
 * CAs plus the file's (so `NODE_EXTRA_CA_CERTS` is not needed).
 *
 * @throws {TLSConfigError} when the CA file cannot be read or holds no certificate.
 */
export function tlsOptions(host: string, caFile: string): ConnectionOptions {
  const options: ConnectionOptions = {};
  const name = host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(name)) {
    options.checkServerIdentity = (_servername, cert) => checkServerIdentity(name, cert);
    if (isBun()) options.servername = name;
  } else if (name !== "") {
    options.servername = name;
  }
  if (caFile !== "") options.ca = [...rootCertificates, readCAFile(caFile)];
  return options;
}
