import { randomBytes } from "node:crypto";
import { TEST_DATABASE_URL } from "@loyalty/local-stack";
import pg from "pg";
import { afterEach, describe, expect, it, vi } from "vitest";

// requireStack() caches its stack per module: each case imports a fresh copy.
async function freshTestkit() {
  vi.resetModules();
  return import("../src/index.ts");
}

async function databaseExists(server: string, name: string): Promise<boolean> {
  const url = new URL(server);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query("select 1 from pg_database where datname = $1", [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function dropDatabase(server: string, name: string): Promise<void> {
  const url = new URL(server);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    // The name is made by the test from hex digits.
    await client.query(`drop database if exists ${name} with (force)`);
  } finally {
    await client.end();
  }
}

describe("requireStack", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("creates the test database on a server that has never seen it", async () => {
    const base = process.env.DATABASE_URL ?? TEST_DATABASE_URL;
    const name = `testkit_fresh_${randomBytes(6).toString("hex")}`;
    const url = new URL(base);
    url.pathname = `/${name}`;
    vi.stubEnv("DATABASE_URL", url.toString());
    expect(await databaseExists(base, name)).toBe(false);
    try {
      const { requireStack } = await freshTestkit();
      const stack = await requireStack();
      expect(stack.databaseUrl).toBe(url.toString());
      expect(await databaseExists(base, name)).toBe(true);
    } finally {
      await dropDatabase(base, name);
    }
  });

  it("fails, never skips, with instructions when a part of the stack is unreachable", async () => {
    vi.stubEnv("KAFKA_BROKERS", "127.0.0.1:1"); // nothing listens on port 1
    vi.stubEnv("LOYALTY_TEST_AUTOSTART", "0");
    vi.stubEnv("LOYALTY_TEST_STACK", "");
    const { requireStack } = await freshTestkit();
    await expect(requireStack()).rejects.toThrow(
      /integration tests need the real stack; unreachable: kafka .*pnpm loyalty stack up/s,
    );
  });
});
