// The HTTP layer without I/O: the OpenAPI document, authentication with the bootstrap key,
// validation (400 with the field at fault) and rate limiting. The pool is never reached: every
// request here is refused before a handler runs.
import type { Pool } from "@loyalty/db";
import { createLogger } from "@loyalty/stream-runtime";
import { afterAll, describe, expect, it } from "vitest";
import { IpLimiter } from "../src/http/ip-limit.ts";
import { openApiDocument } from "../src/http/openapi.ts";
import { MemoryRateLimiter } from "../src/http/rate-limit.ts";
import { ROUTES } from "../src/http/schemas.ts";
import { buildServer } from "../src/http/server.ts";
import { KeyStore } from "../src/store/keys.ts";

const ADMIN = "admin-key-for-unit-tests-0123456789abcdef";
const unreachable = new Proxy({} as Pool, {
  get() {
    throw new Error("the database must not be reached");
  },
});
const app = buildServer({
  pool: unreachable,
  keys: new KeyStore(unreachable, ADMIN),
  limiter: new MemoryRateLimiter({ rate: 1000, burst: 1000 }),
  now: () => Date.UTC(2024, 0, 1),
  expiryMonths: 12,
  ledger: { request: async () => null },
  replyTimeoutMs: 50,
  logger: createLogger("api-test", "silent"),
});
afterAll(() => app.close());
const auth = { authorization: `Bearer ${ADMIN}` };

describe("OpenAPI", () => {
  it("is served and built from the routes' own schemas", async () => {
    const res = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument("0.1.0"))));
    for (const r of Object.values(ROUTES)) {
      const op = doc.paths[r.url.replace(/:([A-Za-z]+)/g, "{$1}")][r.method.toLowerCase()];
      expect(op.operationId).toBe(r.operationId);
      if ("body" in r.schema)
        expect(op.requestBody.content["application/json"].schema).toEqual(r.schema.body);
      const ok = Object.keys(r.schema.response).find((s) => Number(s) < 300) ?? "";
      expect(op.responses[ok].content["application/json"].schema).toEqual(
        (r.schema.response as Record<string, unknown>)[ok],
      );
    }
    expect(doc.paths["/v1/members/{memberId}/redemptions"].post.parameters).toContainEqual(
      expect.objectContaining({ name: "Idempotency-Key", in: "header", required: true }),
    );
  });
});

describe("validation", () => {
  const redeem = (
    body: unknown,
    headers: Record<string, string> = { "idempotency-key": "k1" },
    member = "m1",
  ) =>
    app.inject({
      method: "POST",
      url: `/v1/members/${member}/redemptions`,
      headers: { ...auth, ...headers, "content-type": "application/json" },
      payload: typeof body === "string" ? body : JSON.stringify(body),
    });

  it.each([
    [{}, "body.points"],
    [{ points: 0 }, "body.points"],
    [{ points: "500" }, "body.points"],
    [{ points: 1.5 }, "body.points"],
    [{ points: 5, extra: true }, "body.extra"],
    [{ points: 5, orderId: "" }, "body.orderId"],
  ])("%j → 400 at %s", async (body, field) => {
    const res = await redeem(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: "VALIDATION_FAILED", field });
  });

  it("a missing Idempotency-Key, a bad member id, bad JSON", async () => {
    const noKey = await redeem({ points: 5 }, {});
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json().error).toMatchObject({
      code: "IDEMPOTENCY_KEY_REQUIRED",
      field: "headers.idempotency-key",
    });
    const badMember = await redeem({ points: 5 }, undefined, "a%20b");
    expect(badMember.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "params.memberId" });
    // The longest valid id reaches the schema (the router's default limit was 100), even with
    // its `:` percent-encoded, and one character more is refused by the schema, not the router.
    const longest = `m:${"x".repeat(126)}`;
    const longQuery = (id: string) =>
      app.inject({ method: "GET", url: `/v1/members/${id}/ledger?limit=0`, headers: auth });
    const atLimit = await longQuery(longest.replace(":", "%3A"));
    expect(atLimit.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "querystring.limit" });
    const tooLong = await longQuery(`${longest}x`);
    expect(tooLong.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "params.memberId" });
    const badJson = await redeem("{points:");
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "body" });
  });

  it("queries, adjustments and keys", async () => {
    const q = await app.inject({ method: "GET", url: "/v1/members/m1/ledger?limit=0", headers: auth });
    expect(q.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "querystring.limit" });
    const adj = await app.inject({
      method: "POST",
      url: "/v1/members/m1/adjustments",
      headers: { ...auth, "idempotency-key": "a" },
      payload: { points: 10 },
    });
    expect(adj.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "body.reason" });
    const zero = await app.inject({
      method: "POST",
      url: "/v1/members/m1/adjustments",
      headers: { ...auth, "idempotency-key": "a" },
      payload: { points: 0, reason: "goodwill" },
    });
    expect(zero.json().error).toMatchObject({ field: "body.points" });
    const key = await app.inject({
      method: "POST",
      url: "/v1/keys",
      headers: auth,
      payload: { name: "x", scopes: ["root"] },
    });
    expect(key.json().error).toMatchObject({ code: "VALIDATION_FAILED", field: "body.scopes.0" });
  });
});

describe("authentication comes first", () => {
  it("no key → 401 AUTH_MISSING even for a malformed body; a malformed key → 401 AUTH_INVALID", async () => {
    const none = await app.inject({
      method: "POST",
      url: "/v1/members/m1/redemptions",
      payload: { nope: 1 },
    });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe("AUTH_MISSING");
    const bad = await app.inject({
      method: "GET",
      url: "/v1/members/m1",
      headers: { authorization: "Bearer not-a-key" },
    });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.code).toBe("AUTH_INVALID");
    const basic = await app.inject({
      method: "GET",
      url: "/v1/members/m1",
      headers: { authorization: `Basic ${ADMIN}` },
    });
    expect(basic.json().error.code).toBe("AUTH_INVALID");
  });

  it("unknown routes answer the error contract", async () => {
    const res = await app.inject({ method: "GET", url: "/v2/nothing" });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe("NOT_FOUND");
  });
});

describe("rate limiting", () => {
  it("429 with Retry-After once the key's bucket is empty", async () => {
    const limited = buildServer({
      pool: unreachable,
      keys: new KeyStore(unreachable, ADMIN),
      limiter: new MemoryRateLimiter({ rate: 0.5, burst: 2 }),
      now: () => 0,
      expiryMonths: 12,
      ledger: { request: async () => null },
      replyTimeoutMs: 50,
      logger: createLogger("api-test", "silent"),
    });
    const hit = () => limited.inject({ method: "GET", url: "/v1/members/m1/ledger?limit=0", headers: auth });
    expect((await hit()).statusCode).toBe(400);
    expect((await hit()).statusCode).toBe(400);
    const third = await hit();
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe("RATE_LIMITED");
    expect(Number(third.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    await limited.close();
  });
});

describe("the per-IP limit runs before authentication", () => {
  it("an address that failed too often gets 429 before its key is read; others are not affected", async () => {
    const gated = buildServer({
      pool: unreachable,
      keys: new KeyStore(unreachable, ADMIN),
      limiter: new MemoryRateLimiter({ rate: 1000, burst: 1000 }),
      ipLimiter: new IpLimiter({ rate: 1000, burst: 1000, failureRate: 0.001, failureBurst: 2 }),
      now: () => 0,
      expiryMonths: 12,
      ledger: { request: async () => null },
      replyTimeoutMs: 50,
      logger: createLogger("api-test", "silent"),
    });
    const hit = (authorization: string, remoteAddress = "192.0.2.1") =>
      gated.inject({
        method: "GET",
        url: "/v1/members/m1/ledger?limit=0",
        remoteAddress,
        headers: { authorization },
      });
    expect((await hit("Bearer nope")).statusCode).toBe(401);
    expect((await hit("Bearer nope")).statusCode).toBe(401);
    // Even the right key: the address is refused before any key is looked at.
    const third = await hit(`Bearer ${ADMIN}`);
    expect([third.statusCode, third.json().error.code]).toEqual([429, "RATE_LIMITED"]);
    expect(third.json().error.message).toMatch(/failed authentications from this address/);
    expect(Number(third.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect((await hit(`Bearer ${ADMIN}`, "192.0.2.2")).statusCode).toBe(400);
    // Public routes are not limited.
    expect(
      (await gated.inject({ method: "GET", url: "/livez", remoteAddress: "192.0.2.1" })).statusCode,
    ).toBe(200);
    await gated.close();
  });

  it("a text/plain body is 415, like any body that is not JSON", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/members/m1/redemptions",
      headers: { ...auth, "content-type": "text/plain", "idempotency-key": "k" },
      payload: "points=5",
    });
    expect([res.statusCode, res.json().error.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
  });
});
