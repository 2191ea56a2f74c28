// TLS on the local stack's client listener (opt-in: LOYALTY_KAFKA_TLS=1 when `stack up` starts
// the broker). The stack makes its own CA and a broker certificate with openssl under
// <stack dir>/tls/ (private keys 0600) and records the listener's protocol in
// <stack dir>/kafka-listener, so that every later client of that stack dir (the CLI, `loyalty up`,
// the tests) knows to speak TLS and to trust the CA without being told (withStackCredentials).
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { stackPaths } from "./paths.ts";

export type ListenerProtocol = "SASL_PLAINTEXT" | "SASL_SSL";

/** The stack's TLS files. `keystore` is the broker's key, certificate and CA (Kafka's PEM keystore). */
export interface StackTlsFiles {
  dir: string;
  caCert: string;
  caKey: string;
  brokerCert: string;
  brokerKey: string;
  keystore: string;
}

export class StackTlsError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "StackTlsError";
  }
}

export function tlsFiles(stateDir: string): StackTlsFiles {
  const dir = join(stateDir, "tls");
  return {
    dir,
    caCert: join(dir, "ca.pem"),
    caKey: join(dir, "ca.key"),
    brokerCert: join(dir, "broker.pem"),
    brokerKey: join(dir, "broker.key"),
    keystore: join(dir, "broker-keystore.pem"),
  };
}

function listenerFile(stateDir: string): string {
  return join(stateDir, "kafka-listener");
}

/** The protocol the stack's broker was last started with (SASL_PLAINTEXT when never recorded). */
export function recordedListener(stateDir: string): ListenerProtocol {
  const f = listenerFile(stateDir);
  if (!existsSync(f)) return "SASL_PLAINTEXT";
  return readFileSync(f, "utf8").trim() === "SASL_SSL" ? "SASL_SSL" : "SASL_PLAINTEXT";
}

export function recordListener(stateDir: string, protocol: ListenerProtocol): void {
  writeFileSync(listenerFile(stateDir), `${protocol}\n`);
}

/**
 * The protocol `stack up` wants: LOYALTY_KAFKA_TLS=1 (or true) SASL_SSL, =0 (or false)
 * SASL_PLAINTEXT, unset whatever the stack dir was last started with.
 */
export function requestedListener(env: NodeJS.ProcessEnv, stateDir: string): ListenerProtocol {
  const v = env.LOYALTY_KAFKA_TLS;
  if (v === undefined || v === "") return recordedListener(stateDir);
  if (v === "1" || v === "true") return "SASL_SSL";
  if (v === "0" || v === "false") return "SASL_PLAINTEXT";
  throw new StackTlsError(`LOYALTY_KAFKA_TLS must be 1/true or 0/false, got '${v}'`);
}

/** The CA file every client of this stack must trust, or null when its broker does not speak TLS. */
export function stackCaFile(env: NodeJS.ProcessEnv = process.env): string | null {
  const { stateDir } = stackPaths(env);
  if (recordedListener(stateDir) !== "SASL_SSL") return null;
  const { caCert } = tlsFiles(stateDir);
  return existsSync(caCert) ? caCert : null;
}

/** KAFKA_SSL and KAFKA_SSL_CA_FILE for a client of this stack; empty when it is not TLS. */
export function stackTlsEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const ca = stackCaFile(env);
  return ca === null ? {} : { KAFKA_SSL: "true", KAFKA_SSL_CA_FILE: ca };
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
    throw new StackTlsError(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`);
  }
}

function protect(file: string): void {
  chmodSync(file, 0o600);
}

const DAYS = 825;
const RENEW_WITHIN_MS = 30 * 24 * 3600 * 1000;

function stillGood(certFile: string, hosts: string[]): boolean {
  if (!existsSync(certFile)) return false;
  const cert = new X509Certificate(readFileSync(certFile));
  if (Date.parse(cert.validTo) - Date.now() < RENEW_WITHIN_MS) return false;
  return hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined);
}

/**
 * Makes the CA (once) and a broker certificate signed by it for localhost, 127.0.0.1 and `host`;
 * the broker certificate is issued again when it does not cover `host` or expires within 30 days.
 * Deleting <stack dir>/tls/ rotates both (docs/security.md).
 */
export function ensureTls(stateDir: string, host: string): StackTlsFiles {
  const f = tlsFiles(stateDir);
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(f.caCert) || !existsSync(f.caKey) || !stillGood(f.caCert, [])) {
    const conf = join(f.dir, "ca.cnf");
    writeFileSync(
      conf,
      [
        "[req]",
        "distinguished_name=dn",
        "x509_extensions=ext",
        "prompt=no",
        "[dn]",
        "CN=loyalty local stack CA",
        "[ext]",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "keyUsage=critical,keyCertSign,cRLSign",
        "subjectKeyIdentifier=hash",
        "",
      ].join("\n"),
    );
    openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      f.caKey,
      "-out",
      f.caCert,
      "-days",
      String(DAYS),
      "-config",
      conf,
    ]);
    protect(f.caKey);
    rmSync(conf, { force: true });
    // A new CA invalidates the broker certificate.
    rmSync(f.brokerCert, { force: true });
  }
  const hosts = [...new Set(["localhost", "127.0.0.1", host])];
  if (!stillGood(f.brokerCert, hosts) || !existsSync(f.brokerKey) || !existsSync(f.keystore)) {
    const csr = join(f.dir, "broker.csr");
    const ext = join(f.dir, "broker.ext");
    const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
    writeFileSync(
      ext,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        `subjectAltName=${san}`,
        "",
      ].join("\n"),
    );
    openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      f.brokerKey,
      "-out",
      csr,
      "-subj",
      `/CN=${host}`,
    ]);
    protect(f.brokerKey);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      f.caCert,
      "-CAkey",
      f.caKey,
      "-set_serial",
      `0x${Date.now().toString(16)}`,
      "-days",
      String(DAYS),
      "-extfile",
      ext,
      "-out",
      f.brokerCert,
    ]);
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
    // Kafka's PEM keystore: the (PKCS#8, unencrypted) key, then the chain up to the CA.
    writeFileSync(
      f.keystore,
      [readFileSync(f.brokerKey, "utf8"), readFileSync(f.brokerCert, "utf8"), readFileSync(f.caCert, "utf8")]
        .map((s) => s.trim())
        .join("\n")
        .concat("\n"),
      { mode: 0o600 },
    );
    protect(f.keystore);
  }
  return f;
}
