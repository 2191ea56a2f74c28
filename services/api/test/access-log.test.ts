// The API's access log, read back as data: a pino logger writing to a stream here, each line
// parsed as JSON. One line per request with its request id, key id, route template, status and
// latency; never the key itself. The pool is never reached (the keys are checked without it).
import { Writable } from "node:stream";
import type { Pool } from "@loyalty/db";
import { createLogger } from "@loyalty/stream-runtime";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryRateLimiter } from "../src/http/rate-limit.ts";
import { buildServer } from "../src/http/server.ts";
import { type AuthResult, KeyStore } from "../src/store/keys.ts";

const ADMIN = "admin-key-for-access-log-tests-0123456789";
const KEY_ID = "0123456789abcdef";
const SECRET = "S3cr3tPartOfTheKeyThatMustNeverBeLogged0123";
const KEY = `lk_${KEY_ID}_${SECRET}`;

const unreachable = new Proxy({} as Pool, {
  get() {
    throw new Error("the database must not be reached");
  },
});

/** The bootstrap key as usual; KEY as a read key without a database lookup. */
class Keys extends KeyStore {
  override async check(presented: string, now: number): Promise<AuthResult> {
    if (presented === KEY) return { ok: true, principal: { keyId: KEY_ID, scopes: ["read"] } };
    return presented === ADMIN ? super.check(presented, now) : { ok: false, reason: "unknown" };
  }
}

const lines: Array<Record<string, unknown>> = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line));
    done();
  },
});
const app = buildServer({
  pool: unreachable,
  keys: new Keys(unreachable, ADMIN),
  limiter: new MemoryRateLimiter({ rate: 1000, burst: 1000 }),
  now: () => Date.UTC(2024, 0, 1),
  expiryMonths: 12,
  ledger: { request: async () => null },
  replyTimeoutMs: 50,
  logger: createLogger("api-test", "info", sink),
});
afterAll(() => app.close());

const accessLines = () => lines.filter((l) => l.msg === "request");

describe("the access log", () => {
  it("logs one line per request: request id, key id, route template, status, latency", async () => {
    lines.length = 0;
    const res = await app.inject({
      method: "GET",
      url: "/v1/members/member-42/ledger?limit=0",
      headers: { authorization: `Bearer ${KEY}`, "x-request-id": "trace-7.a_b" },
    });
    expect(res.statusCode).toBe(400);
    const [line, ...more] = accessLines();
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      level: 30,
      service: "api-test",
      component: "http",
      reqId: "trace-7.a_b",
      keyId: KEY_ID,
      method: "GET",
      route: "/v1/members/:memberId/ledger",
      status: 400,
    });
    expect(typeof line?.latencyMs).toBe("number");
    expect(line?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("never logs the key or its secret, in any field", async () => {
    lines.length = 0;
    await app.inject({ method: "GET", url: "/v1/members/m1", headers: { authorization: `Bearer ${KEY}` } });
    await app.inject({
      method: "GET",
      url: "/v1/members/m1/ledger?limit=0",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    await app.inject({
      method: "GET",
      url: "/v1/members/m1",
      headers: { authorization: `Bearer ${SECRET}` },
    });
    const values = (v: unknown): string[] =>
      typeof v === "string" ? [v] : v && typeof v === "object" ? Object.values(v).flatMap(values) : [];
    const logged = lines.flatMap(values);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.filter((v) => v.includes(SECRET) || v.includes(ADMIN))).toEqual([]);
    expect(accessLines().map((l) => [l.keyId, l.status])).toEqual([
      [KEY_ID, expect.any(Number)],
      ["env-admin", 400],
      [null, 401],
    ]);
  });

  it("logs the route template or null, never the raw URL, and makes up a request id it cannot trust", async () => {
    lines.length = 0;
    await app.inject({ method: "GET", url: "/livez", headers: { "x-request-id": "bad id\nwith newline" } });
    await app.inject({ method: "GET", url: "/v2/members/secret-member?token=abc" });
    const [live, missing] = accessLines();
    expect(live).toMatchObject({ route: "/livez", status: 200, keyId: null });
    expect(live?.reqId).toMatch(/^[0-9a-f-]{36}$/);
    expect(missing).toMatchObject({ route: null, status: 404, keyId: null, method: "GET" });
    expect(Object.values(missing ?? {}).some((v) => String(v).includes("secret-member"))).toBe(false);
  });
});
