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

  it("take the programme's money per point as a decimal and refuse anything else by name", () => {
    const base = { API_PORT: "8080", API_ADMIN_KEY: "a".repeat(40) };
    const ok = loadConfig(apiConfigSchema, { ...base, PROGRAMME_POINT_VALUE_MINOR: "0.25" });
    expect([
      ok.PROGRAMME_POINT_VALUE_MINOR,
      ok.PROGRAMME_BASE_CURRENCY,
      ok.PROGRAMME_CURRENCY_EXPONENT,
    ]).toEqual(["0.25", "USD", 2]);
    let err: unknown;
    try {
      loadConfig(apiConfigSchema, {
        ...base,
        PROGRAMME_POINT_VALUE_MINOR: "1e3",
        PROGRAMME_BASE_CURRENCY: "usd",
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    expect(problems).toContain("PROGRAMME_POINT_VALUE_MINOR: must be a non-negative decimal");
    expect(problems).toContain("PROGRAMME_BASE_CURRENCY: must be an ISO 4217 code");
  });
});
