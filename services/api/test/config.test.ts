import { ConfigError, loadConfig } from "@loyalty/stream-runtime";
import { describe, expect, it } from "vitest";
import { apiConfigSchema } from "../src/config.ts";

describe("the API's configuration errors", () => {
  it("name a short admin key and a bad DATABASE_URL by variable and rule, without their secrets", () => {
    const key = "too-short-admin-key";
    const password = "db-pass-4471";
    let err: unknown;
    try {
      loadConfig(apiConfigSchema, {
        API_PORT: "8080",
        API_ADMIN_KEY: key,
        DATABASE_URL: `postgres://loyalty:${password}@db:not-a-port/loyalty`,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const { problems, message, retriable } = err as ConfigError;
    expect(retriable).toBe(false);
    expect(problems).toEqual([
      "DATABASE_URL: Invalid url (value not shown: secret)",
      "API_ADMIN_KEY: must be at least 32 characters (value not shown: secret)",
    ]);
    expect(message.includes(key)).toBe(false);
    expect(message.includes(password)).toBe(false);
  });
});
