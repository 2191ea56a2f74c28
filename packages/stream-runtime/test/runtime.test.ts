import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  ConfigError,
  DEFAULT_RETRY,
  PoisonMessageError,
  TransientError,
  WatermarkClock,
  backoffMs,
  baseConfigSchema,
  deadLetterRecord,
  isRetriable,
  loadConfig,
  shownValue,
  toConsumed,
  withRetry,
} from "../src/index.ts";

describe("config", () => {
  it("names every missing or wrong variable and what was given", () => {
    const schema = baseConfigSchema.extend({ POINTS_EXPIRY_MONTHS: z.coerce.number().int().positive() });
    let err: unknown;
    try {
      loadConfig(schema, { KAFKA_BROKERS: "", HTTP_PORT: "http", POINTS_EXPIRY_MONTHS: "-1" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    expect(problems).toMatch(/^SERVICE_NAME: .*\(not set\)/m);
    expect(problems).toMatch(/^KAFKA_BROKERS: must list at least one host:port/m);
    expect(problems).toMatch(/^HTTP_PORT: .*\(got 'http'\)/m);
    expect(problems).toMatch(/^POINTS_EXPIRY_MONTHS: .*\(got '-1'\)/m);
  });

  it("names the variable and the rule, never a secret's value", () => {
    const key = "short-admin-key-1";
    const password = "pg-pass-Zq81";
    const schema = baseConfigSchema.extend({
      API_ADMIN_KEY: z.string().min(32, "must be at least 32 characters"),
      DATABASE_URL: z
        .string()
        .url()
        .refine((u) => u.startsWith("postgresql://"), "must use the postgresql:// scheme"),
      REDIS_URL: z.string().url(),
      LOG_LEVEL: z.enum(["info", "debug"]),
      SIGNING_KEY_ALG: z.enum(["ed25519"]),
    });
    let err: unknown;
    try {
      loadConfig(schema, {
        SERVICE_NAME: "x",
        API_ADMIN_KEY: key,
        DATABASE_URL: `postgres://loyalty:${password}@db.internal:5432/loyalty`,
        REDIS_URL: `redis://:${password}@redis:port/0`,
        LOG_LEVEL: "verbose",
        SIGNING_KEY_ALG: password,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const { problems, message } = err as ConfigError;
    expect(problems).toEqual([
      "DATABASE_URL: must use the postgresql:// scheme (got 'postgres://loyalty:***@db.internal:5432/loyalty')",
      "REDIS_URL: Invalid url (value not shown: secret)",
      // Not a secret: what was given is echoed.
      "LOG_LEVEL: Invalid enum value. Expected 'info' | 'debug', received 'verbose' (got 'verbose')",
      "API_ADMIN_KEY: must be at least 32 characters (value not shown: secret)",
      // A secret by name, in a rule that quotes the input.
      "SIGNING_KEY_ALG: Invalid enum value. Expected 'ed25519', received '***' (value not shown: secret)",
    ]);
    expect(message.includes(key)).toBe(false);
    expect(message.includes(password)).toBe(false);
  });

  it("shows a URL's value with its password masked, and a plain value as given", () => {
    expect(shownValue("DATABASE_URL", "postgres://u:pw@h:5432/db")).toBe("postgres://u:***@h:5432/db");
    expect(shownValue("DATABASE_URL", "postgres://u@h:5432/db")).toBe("postgres://u@h:5432/db");
    expect(shownValue("SCHEMA_REGISTRY_URL", "http://[bad")).toBe("http://[bad");
    expect(shownValue("SCHEMA_REGISTRY_URL", "http://u:p@[bad")).toBeNull();
    expect(shownValue("KAFKA_SASL_PASSWORD", "anything")).toBeNull();
    expect(shownValue("SIGNING_TOKEN", "anything")).toBeNull();
    expect(shownValue("HTTP_PORT", "http")).toBe("http");
  });

  it("fills defaults for the local stack", () => {
    const c = loadConfig(baseConfigSchema, { SERVICE_NAME: "x" });
    expect(c.KAFKA_BROKERS).toEqual(["127.0.0.1:9092"]);
    expect(c.CLOCK_MODE).toBe("event");
  });
});

describe("errors and retry", () => {
  it("classifies our errors, kafkajs-style flags and pg/network codes", () => {
    expect(isRetriable(new TransientError("db down"))).toBe(true);
    expect(isRetriable(new PoisonMessageError("MALFORMED_JSON", "x"))).toBe(false);
    expect(isRetriable({ name: "KafkaJSProtocolError", retriable: true })).toBe(true);
    expect(isRetriable(Object.assign(new Error("serialization"), { code: "40001" }))).toBe(true);
    expect(isRetriable(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }))).toBe(true);
    expect(isRetriable(new SyntaxError("bad json"))).toBe(false);
  });

  it("keeps jittered backoff under an exponential cap", () => {
    const p = { ...DEFAULT_RETRY, initialMs: 100, maxMs: 1000 };
    expect(backoffMs(0, p, () => 0.999)).toBe(99);
    expect(backoffMs(3, p, () => 0.999)).toBe(799);
    expect(backoffMs(10, p, () => 0.999)).toBe(999);
    expect(backoffMs(5, p, () => 0)).toBe(0);
  });

  it("retries transient failures, gives up after the budget, and never retries permanent ones", async () => {
    const fast = { retries: 3, initialMs: 1, maxMs: 2, factor: 2 };
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        if (calls < 3) throw new TransientError("flaky");
        return "ok";
      }, fast),
    ).resolves.toBe("ok");
    expect(calls).toBe(3);

    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new TransientError("down");
      }, fast),
    ).rejects.toThrow("down");
    expect(calls).toBe(4);

    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new PoisonMessageError("SCHEMA_VIOLATION", "bad");
      }, fast),
    ).rejects.toThrow("bad");
    expect(calls).toBe(1);
  });
});

describe("event-time watermark", () => {
  it("is the minimum over partitions, and a caught-up partition stops holding time only once idle", () => {
    let wall = 0;
    const c = new WatermarkClock(5_000, () => wall);
    c.observe("t", 0, 1000);
    c.observe("t", 1, 500);
    expect(c.now()).toBe(500);
    c.observe("t", 1, 2000);
    expect(c.now()).toBe(1000);
    // Caught up but not yet idle: it still holds time back (the replayer may be a moment behind).
    c.observe("t", 0, 1000, true);
    expect(c.now()).toBe(1000);
    wall = 6_000;
    c.observe("t", 1, 2500);
    expect(c.now()).toBe(2500);
    c.revoke("t", 1);
    c.observe("t", 2, 10);
    expect(c.now()).toBe(2500); // never backwards
  });

  it("counts assigned partitions that have not delivered yet, until they prove idle", () => {
    let wall = 0;
    const c = new WatermarkClock(5_000, () => wall);
    c.assign("t", [0, 1]);
    c.observe("t", 0, 9000);
    // Partition 1 may still hold older events (after a restart): time must not jump to 9000.
    expect(c.now()).toBe(Number.NEGATIVE_INFINITY);
    c.observe("t", 1, 4000);
    expect(c.now()).toBe(4000);
    const d = new WatermarkClock(5_000, () => wall);
    d.assign("t", [0, 1]);
    d.observe("t", 0, 9000);
    wall = 5_000; // partition 1 never delivered: empty, it no longer holds time
    d.observe("t", 0, 9000, true);
    expect(d.now()).toBe(9000);
  });

  it("also gives the strict minimum (no idle rule) and the latest time of any partition", () => {
    let wall = 0;
    const c = new WatermarkClock(5_000, () => wall);
    expect(c.strictMin()).toBe(Number.NEGATIVE_INFINITY);
    c.assign("t", [0, 1]);
    c.observe("t", 0, 9000, true);
    expect(c.strictMin()).toBe(Number.NEGATIVE_INFINITY); // partition 1 has not delivered
    c.observe("t", 1, 4000, true);
    wall = 60_000; // both idle and caught up: now() moves on, the strict minimum does not
    expect(c.now()).toBe(9000);
    expect(c.strictMin()).toBe(4000);
    expect(c.latest()).toBe(9000);
  });
});

describe("dead-letter record", () => {
  it("keeps the original key, bytes, headers and position", () => {
    const value = Buffer.from([0, 1, 2, 255]);
    const r = deadLetterRecord("ingestor", {
      message: {
        topic: "orders.v1",
        partition: 2,
        offset: "41",
        key: Buffer.from("c1"),
        value,
        headers: { h: "v" },
        timestamp: 123,
      },
      code: "MALFORMED_JSON",
    });
    expect(r).toMatchObject({
      reasonCode: "MALFORMED_JSON",
      sourceTopic: "orders.v1",
      sourcePartition: 2,
      sourceOffset: 41,
      sourceTimestamp: 123,
      originalHeaders: { h: "v" },
    });
    expect(r.reason).toBe("payload is not valid JSON");
    expect(r.originalValue?.equals(value)).toBe(true);
    expect(r.headers).toEqual([{ key: "h", value: Buffer.from("v") }]);
  });

  it("keeps kafkajs's header values as bytes, each value separately", () => {
    const bin = Buffer.from([0xff, 0xfe, 0x00]);
    const m = toConsumed("orders.v1", 0, {
      key: null,
      value: Buffer.from("{}"),
      timestamp: "5",
      attributes: 0,
      offset: "7",
      headers: { bin, multi: [Buffer.from("a,b"), "c"], gone: undefined },
    });
    const r = deadLetterRecord("ingestor", { message: m, code: "MALFORMED_JSON" });
    expect(r.headers).toEqual([
      { key: "bin", value: bin },
      { key: "multi", value: Buffer.from("a,b") },
      { key: "multi", value: Buffer.from("c") },
      { key: "gone", value: null },
    ]);
    expect(r.originalHeaders.multi).toBe("a,b,c");
  });

  it("keeps headers named after Object.prototype members, and only their own values", () => {
    // kafkajs 2.2.4 groups headers in a plain object: a header named toString, constructor or
    // __proto__ arrives as [<inherited member>, value]. The dead letter once failed to encode it
    // and the consumer crashed.
    const v = Buffer.from([0x00, 0xff]);
    const headers: Record<string, unknown> = {};
    for (const [k, value] of [
      ["toString", [Object.prototype.toString, v]],
      ["constructor", [Object, Buffer.from("c"), Buffer.from("d")]],
      ["__proto__", [Object.prototype, Buffer.from("p")]],
    ] as const)
      Object.defineProperty(headers, k, { value, enumerable: true });
    const m = toConsumed("members.v1", 0, {
      key: null,
      value: Buffer.from("{}"),
      timestamp: "5",
      attributes: 0,
      offset: "7",
      headers: headers as never,
    });
    const r = deadLetterRecord("ingestor", { message: m, code: "MALFORMED_JSON" });
    expect(r.headers).toEqual([
      { key: "toString", value: v },
      { key: "constructor", value: Buffer.from("c") },
      { key: "constructor", value: Buffer.from("d") },
      { key: "__proto__", value: Buffer.from("p") },
    ]);
    expect(Object.hasOwn(r.originalHeaders, "__proto__")).toBe(true);
    expect(r.originalHeaders.constructor).toBe("c,d");
    expect(Object.getPrototypeOf(r.originalHeaders)).toBe(Object.prototype);
  });
});
