// The stack's own CA and broker certificate (LOYALTY_KAFKA_TLS=1): made once with openssl, private
// keys only their owner reads, the broker certificate valid for the broker's host and issued
// again when the host changes, and the credentials fallback giving clients the CA.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureCredentials, withStackCredentials } from "../src/credentials.ts";
import { StackTlsError, ensureTls, recordListener, requestedListener, stackTlsEnv } from "../src/tls.ts";

describe("stack TLS files", () => {
  const dir = mkdtempSync(join(tmpdir(), "loyalty-tls-"));
  const files = ensureTls(dir, "kafka.internal");

  it("makes a CA and a broker certificate it signed, for localhost, 127.0.0.1 and the host", () => {
    const ca = new X509Certificate(readFileSync(files.caCert));
    const broker = new X509Certificate(readFileSync(files.brokerCert));
    expect(ca.ca).toBe(true);
    expect(broker.ca).toBe(false);
    expect(broker.checkIssued(ca)).toBe(true);
    expect(broker.verify(ca.publicKey)).toBe(true);
    expect(broker.checkHost("kafka.internal")).toBe("kafka.internal");
    expect(broker.checkHost("localhost")).toBe("localhost");
    expect(broker.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(broker.checkHost("elsewhere.example")).toBeUndefined();
  });

  it("keeps private keys and the keystore 0600; the keystore is key, certificate and CA", () => {
    for (const f of [files.caKey, files.brokerKey, files.keystore])
      expect(statSync(f).mode & 0o777).toBe(0o600);
    const keystore = readFileSync(files.keystore, "utf8");
    expect(keystore.match(/-----BEGIN PRIVATE KEY-----/g)).toHaveLength(1);
    expect(keystore.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
  });

  it("keeps the CA and certificate on the next start; a new host gets a new certificate, same CA", () => {
    const ca = readFileSync(files.caCert, "utf8");
    const cert = readFileSync(files.brokerCert, "utf8");
    ensureTls(dir, "kafka.internal");
    expect(readFileSync(files.brokerCert, "utf8")).toBe(cert);
    ensureTls(dir, "10.1.2.3");
    expect(readFileSync(files.caCert, "utf8")).toBe(ca);
    const moved = new X509Certificate(readFileSync(files.brokerCert));
    expect(moved.checkIP("10.1.2.3")).toBe("10.1.2.3");
  });

  it("gives clients of a TLS stack KAFKA_SSL and the CA, unless they say how to do TLS", () => {
    ensureCredentials(dir);
    const env = { LOYALTY_STACK_DIR: dir };
    expect(stackTlsEnv(env)).toEqual({});
    expect(withStackCredentials(env).KAFKA_SSL_CA_FILE).toBeUndefined();
    recordListener(dir, "SASL_SSL");
    expect(withStackCredentials(env)).toMatchObject({
      KAFKA_SASL_USERNAME: "admin",
      KAFKA_SSL: "true",
      KAFKA_SSL_CA_FILE: files.caCert,
    });
    const own = join(dir, "own-ca.pem");
    writeFileSync(own, readFileSync(files.caCert));
    expect(withStackCredentials({ ...env, KAFKA_SSL_CA_FILE: own }).KAFKA_SSL_CA_FILE).toBe(own);
    expect(withStackCredentials({ ...env, KAFKA_SSL: "false" }).KAFKA_SSL_CA_FILE).toBeUndefined();
  });

  it("reads LOYALTY_KAFKA_TLS; unset keeps what the stack dir was started with", () => {
    const fresh = mkdtempSync(join(tmpdir(), "loyalty-tls-"));
    expect(requestedListener({}, fresh)).toBe("SASL_PLAINTEXT");
    expect(requestedListener({ LOYALTY_KAFKA_TLS: "1" }, fresh)).toBe("SASL_SSL");
    recordListener(fresh, "SASL_SSL");
    expect(requestedListener({}, fresh)).toBe("SASL_SSL");
    expect(requestedListener({ LOYALTY_KAFKA_TLS: "0" }, fresh)).toBe("SASL_PLAINTEXT");
    expect(() => requestedListener({ LOYALTY_KAFKA_TLS: "yes" }, fresh)).toThrow(StackTlsError);
  });
});
