// Kafka's TLS and SASL settings come from the environment, are checked at start, and a problem
// is a ConfigError that names the variable and never shows a password.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registryAuth } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.ts";
import { kafkaSecurity } from "../src/kafka.ts";

const SECRET = "s3cr3t-password-never-shown";

function problems(env: Record<string, string>): string[] {
  try {
    kafkaSecurity(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).retriable).toBe(false);
    expect((err as Error).message).not.toContain(SECRET);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("kafkaSecurity", () => {
  it("is plaintext without any variable, SCRAM-SHA-512 by default with a username and password", () => {
    expect(kafkaSecurity({})).toEqual({});
    expect(kafkaSecurity({ KAFKA_SASL_USERNAME: "ingestor", KAFKA_SASL_PASSWORD: SECRET })).toEqual({
      sasl: { mechanism: "scram-sha-512", username: "ingestor", password: SECRET },
    });
    expect(
      kafkaSecurity({
        KAFKA_SASL_MECHANISM: "plain",
        KAFKA_SASL_USERNAME: "x",
        KAFKA_SASL_PASSWORD: SECRET,
        KAFKA_SSL: "true",
      }),
    ).toEqual({ sasl: { mechanism: "plain", username: "x", password: SECRET }, ssl: true });
  });

  it("names the missing half of a username and password, never the password", () => {
    expect(problems({ KAFKA_SASL_PASSWORD: SECRET })).toEqual([
      "KAFKA_SASL_USERNAME: is required with KAFKA_SASL_PASSWORD (not set)",
    ]);
    expect(problems({ KAFKA_SASL_USERNAME: "ingestor" })).toEqual([
      "KAFKA_SASL_PASSWORD: is required with KAFKA_SASL_USERNAME (not set)",
    ]);
  });

  it("refuses an unknown mechanism and a bad KAFKA_SSL, naming each variable", () => {
    const p = problems({
      KAFKA_SASL_MECHANISM: "gssapi",
      KAFKA_SASL_USERNAME: "u",
      KAFKA_SASL_PASSWORD: SECRET,
      KAFKA_SSL: "yes",
    });
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^KAFKA_SASL_MECHANISM: must be one of scram-sha-512, scram-sha-256, plain/);
    expect(p[1]).toMatch(/^KAFKA_SSL: must be true or false/);
  });

  it("reads a PEM CA bundle, and names KAFKA_SSL_CA_FILE when it cannot", () => {
    const dir = mkdtempSync(join(tmpdir(), "kafka-ca-"));
    const pem = join(dir, "ca.pem");
    writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    expect(kafkaSecurity({ KAFKA_SSL_CA_FILE: pem }).ssl).toEqual({ ca: [expect.stringContaining("BEGIN")] });
    expect(problems({ KAFKA_SSL_CA_FILE: join(dir, "missing.pem") })[0]).toMatch(
      /^KAFKA_SSL_CA_FILE: cannot be read \(ENOENT\)/,
    );
    const notPem = join(dir, "x.txt");
    writeFileSync(notPem, "hello");
    expect(problems({ KAFKA_SSL_CA_FILE: notPem })[0]).toMatch(/^KAFKA_SSL_CA_FILE: must be a PEM file/);
  });
});

describe("registryAuth", () => {
  it("reads both halves or none, and never shows the password", () => {
    expect(registryAuth({})).toBeUndefined();
    expect(registryAuth({ SCHEMA_REGISTRY_USERNAME: "api", SCHEMA_REGISTRY_PASSWORD: SECRET })).toEqual({
      username: "api",
      password: SECRET,
    });
    expect(() => registryAuth({ SCHEMA_REGISTRY_PASSWORD: SECRET })).toThrow(
      /^SCHEMA_REGISTRY_USERNAME: is required/,
    );
    try {
      registryAuth({ SCHEMA_REGISTRY_PASSWORD: SECRET });
    } catch (err) {
      expect((err as Error).message).not.toContain(SECRET);
      expect((err as { retriable?: boolean }).retriable).toBe(false);
    }
  });
});
