// GET /v1/members/{memberId}/churn without the stack: the API forwards to churn-alert's ops server
// (here a real ops server, from stream-runtime, serving canned cards) and reads none of its tables.
// Authentication and the id's schema run first; churn-alert's refusals map onto the API's error
// contract; churn-alert not configured, not answering in time, without the route or answering
// something that is no card is a 503. Every answer is held to the OpenAPI document.
import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Pool } from "@loyalty/db";
import {
  OpsRequestError,
  type OpsRoute,
  RuntimeMetrics,
  createLogger,
  startOpsServer,
} from "@loyalty/stream-runtime";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChurnAlertLink } from "../src/http/churn-calibration.ts";
import { openApiDocument } from "../src/http/openapi.ts";
import { MemoryRateLimiter } from "../src/http/rate-limit.ts";
import { buildServer } from "../src/http/server.ts";
import { KeyStore } from "../src/store/keys.ts";
import { ResponseContract } from "./contract.ts";

const ADMIN = "admin-key-for-unit-tests-0123456789abcdef";
const unreachable = new Proxy({} as Pool, {
  get() {
    throw new Error("the database must not be reached");
  },
});
const auth = { authorization: `Bearer ${ADMIN}` };
const contract = new ResponseContract(openApiDocument());

const AS_OF = Date.UTC(1998, 5, 30);
const card = (memberId: string, lastAlertAt: number | null) => ({
  memberId,
  asOf: AS_OF,
  modelVersion: "bgnbd-1998-06-24",
  pAlive: 0.6125,
  expectedPurchases: 0.84,
  horizonDays: 90,
  expectedValueMinor: 3120,
  segment: "at-risk",
  rfm: { r: 2, f: 4, m: 3 },
  lastAlertAt,
});

const seen: string[] = [];
const fakeChurnAlert: OpsRoute = {
  path: "/churn-card",
  query: { memberId: { pattern: /^[A-Za-z0-9._:@-]{1,128}$/, description: "a member id", required: true } },
  handle: async (q) => {
    const id = q.memberId ?? "";
    seen.push(id);
    if (id === "nobody") throw new OpsRequestError(404, "NOT_FOUND", "no churn card for member nobody");
    if (id === "odd") throw new OpsRequestError(400, "VALIDATION_FAILED", "odd id", "query.memberId");
    if (id === "bug") throw new Error("bug in churn-alert");
    if (id === "garbled") return { memberId: id, pAlive: "high" };
    if (id === "slow") await sleep(1500);
    return card(id, id === "alerted" ? Date.UTC(1998, 2, 1) : null);
  },
};

const servers: Server[] = [];
let churnAlertUrl: string;
let withoutRouteUrl: string;
const apps: FastifyInstance[] = [];

function api(link?: ChurnAlertLink): FastifyInstance {
  const app = buildServer({
    pool: unreachable,
    keys: new KeyStore(unreachable, ADMIN),
    limiter: new MemoryRateLimiter({ rate: 1000, burst: 1000 }),
    now: () => Date.UTC(2024, 0, 1),
    expiryMonths: 12,
    ledger: { request: async () => null },
    replyTimeoutMs: 50,
    logger: createLogger("api-test", "silent"),
    ...(link ? { churnAlert: link } : {}),
  });
  apps.push(app);
  return app;
}

beforeAll(async () => {
  const ops = await startOpsServer(0, new RuntimeMetrics("churn-alert-fake"), () => true, "127.0.0.1", [
    fakeChurnAlert,
  ]);
  // An older churn-alert: an ops server without the route (a bare 404).
  const old = await startOpsServer(0, new RuntimeMetrics("churn-alert-old"), () => true, "127.0.0.1", []);
  servers.push(ops.server, old.server);
  churnAlertUrl = `http://127.0.0.1:${ops.port}`;
  withoutRouteUrl = `http://127.0.0.1:${old.port}`;
});
afterAll(async () => {
  for (const a of apps) await a.close();
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
});

async function get(app: FastifyInstance, url: string, headers: Record<string, string> = auth) {
  const res = await app.inject({ method: "GET", url, headers });
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, String(v));
  expect(
    contract.check({ method: "GET", path: url, status: res.statusCode, headers: h, text: res.body }),
  ).toEqual([]);
  return { status: res.statusCode, body: res.json() };
}

describe("GET /v1/members/{memberId}/churn", () => {
  it("forwards the id to churn-alert and answers its card, times as ISO", async () => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    const before = seen.length;
    const quiet = await get(app, "/v1/members/m-1.a@b:c/churn");
    expect(quiet.status).toBe(200);
    expect(quiet.body).toEqual({
      ...card("m-1.a@b:c", null),
      asOf: "1998-06-30T00:00:00.000Z",
    });
    const alerted = await get(app, "/v1/members/alerted/churn");
    expect(alerted.body.lastAlertAt).toBe("1998-03-01T00:00:00.000Z");
    expect(seen.slice(before)).toEqual(["m-1.a@b:c", "alerted"]);
  });

  it("needs a key with the read scope, and a valid id before churn-alert is asked", async () => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    const before = seen.length;
    expect((await get(app, "/v1/members/m1/churn", {})).body.error.code).toBe("AUTH_MISSING");
    expect((await get(app, "/v1/members/m1/churn", { authorization: "Bearer nope" })).status).toBe(401);
    for (const bad of ["a%20b", "%C3%A9", "a%2Fb"]) {
      const r = await get(app, `/v1/members/${bad}/churn`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error, bad).toMatchObject({ code: "VALIDATION_FAILED", field: "params.memberId" });
    }
    expect(seen.length).toBe(before);
  });

  it("maps churn-alert's refusals: no card 404, a bad id 400 at params.memberId, its failure 503", async () => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    const none = await get(app, "/v1/members/nobody/churn");
    expect(none.status).toBe(404);
    expect(none.body.error).toEqual({ code: "NOT_FOUND", message: "no churn card for member nobody" });
    const odd = await get(app, "/v1/members/odd/churn");
    expect(odd.status).toBe(400);
    expect(odd.body.error).toMatchObject({ code: "VALIDATION_FAILED", field: "params.memberId" });
    const failed = await get(app, "/v1/members/bug/churn");
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(/churn-alert at .* answered 500: internal error/);
    const garbled = await get(app, "/v1/members/garbled/churn");
    expect(garbled.status).toBe(503);
    expect(garbled.body.error.message).toMatch(/a body that is no churn card/);
  });

  it("503 when churn-alert is not set, too slow, down or without the route", async () => {
    const unset = await get(api(), "/v1/members/m1/churn");
    expect(unset.status).toBe(503);
    expect(unset.body.error.message).toMatch(/CHURN_ALERT_URL is not set/);
    const slow = await get(api({ url: churnAlertUrl, timeoutMs: 200 }), "/v1/members/slow/churn");
    expect(slow.status).toBe(503);
    expect(slow.body.error.message).toMatch(/no answer within 200 ms; retry/);
    const down = await get(api({ url: "http://127.0.0.1:9", timeoutMs: 2000 }), "/v1/members/m1/churn");
    expect(down.status).toBe(503);
    expect(down.body.error.message).toMatch(/is unreachable; retry/);
    const old = await get(api({ url: withoutRouteUrl, timeoutMs: 2000 }), "/v1/members/m1/churn");
    expect(old.status).toBe(503);
    expect(old.body.error).toMatchObject({ code: "UNAVAILABLE" });
  });
});
