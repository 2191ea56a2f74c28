// The stack's credentials file: generated once with mode 0600, kept across runs, and the
// fallback that gives a process the admin's (or a named principal's) credentials unless its
// environment already holds a username and password.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PRINCIPALS, credentialsFile, ensureCredentials, withStackCredentials } from "../src/credentials.ts";

describe("stack credentials", () => {
  const dir = mkdtempSync(join(tmpdir(), "loyalty-stack-"));
  const first = ensureCredentials(dir);

  it("gives every principal its own random password, in a file only its owner reads", () => {
    expect(Object.keys(first).sort()).toEqual([...PRINCIPALS].sort());
    expect(new Set(Object.values(first)).size).toBe(PRINCIPALS.length);
    for (const p of Object.values(first)) expect(p.length).toBeGreaterThanOrEqual(40);
    expect(statSync(credentialsFile(dir)).mode & 0o777).toBe(0o600);
    expect(ensureCredentials(dir)).toEqual(first);
  });

  it("falls back to admin, or to the principal named without a password; the environment wins", () => {
    const env = { LOYALTY_STACK_DIR: dir };
    expect(withStackCredentials(env)).toMatchObject({
      KAFKA_SASL_USERNAME: "admin",
      KAFKA_SASL_PASSWORD: first.admin,
      SCHEMA_REGISTRY_USERNAME: "admin",
      SCHEMA_REGISTRY_PASSWORD: first.admin,
    });
    expect(withStackCredentials({ ...env, KAFKA_SASL_USERNAME: "publisher" })).toMatchObject({
      KAFKA_SASL_USERNAME: "publisher",
      KAFKA_SASL_PASSWORD: first.publisher,
    });
    const own = { ...env, KAFKA_SASL_USERNAME: "someone", KAFKA_SASL_PASSWORD: "theirs" };
    expect(withStackCredentials(own)).toBe(own);
    const none = { LOYALTY_STACK_DIR: mkdtempSync(join(tmpdir(), "loyalty-empty-")) };
    expect(withStackCredentials(none)).toBe(none);
  });
});
