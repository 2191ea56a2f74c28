// GET /v1/churn/calibration without the stack: the API forwards to churn-alert's ops server (here
// a real ops server, from stream-runtime, serving a canned report) and reads none of its tables.
// Authentication and the query schema run first; churn-alert's refusals map onto the API's error
// contract; churn-alert not configured or not answering is a 503. Every answer is held to the
// OpenAPI document.
import type { Server } from "node:http";
import { calibrationFigures } from "@loyalty/churn-alert";
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

const params = { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 };
const figures = calibrationFigures(
  [
    { memberId: "m1", x: 0, tx: 0, T: 30, actual: 1 },
    { memberId: "m2", x: 3, tx: 20, T: 38, actual: 2 },
    { memberId: "m3", x: 9, tx: 35, T: 38.5, actual: 7 },
  ],
  params,
  39,
);
const REPORT = {
  calibrationEnd: "1997-09-30",
  holdoutEnd: "1998-06-30",
  unitDays: 7,
  fit: { params, logLikelihood: -12.5, members: 3, converged: true, iterations: 40 },
  ...figures,
  laterMembers: 1,
  frontier: Date.UTC(1998, 5, 30),
  holdoutReached: true,
};

const seen: Array<Record<string, string>> = [];
const fakeChurnAlert: OpsRoute = {
  path: "/calibration",
  query: {
    calibrationEnd: { pattern: /^\d{4}-\d{2}-\d{2}$/, description: "a date", required: true },
    holdoutEnd: { pattern: /^\d{4}-\d{2}-\d{2}$/, description: "a date", required: true },
  },
  handle: async (q) => {
    seen.push({ ...q });
    if (q.calibrationEnd === "1990-01-31")
      throw new OpsRequestError(422, "NO_DATA", "fewer than 2 members with purchases up to 1990-01-31");
    if (q.calibrationEnd === "1991-01-31")
      throw new OpsRequestError(400, "VALIDATION_FAILED", "calibrationEnd is odd", "query.calibrationEnd");
    if (q.calibrationEnd === "1992-01-31") throw new Error("bug in churn-alert");
    return REPORT;
  },
};

let churnAlert: Server;
let churnAlertUrl: string;
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
  churnAlert = ops.server;
  churnAlertUrl = `http://127.0.0.1:${ops.port}`;
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await new Promise<void>((r) => churnAlert.close(() => r()));
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

const URL_OK = "/v1/churn/calibration?calibrationEnd=1997-09-30&holdoutEnd=1998-06-30";

describe("GET /v1/churn/calibration", () => {
  it("forwards the query to churn-alert and answers its report as it is", async () => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    const before = seen.length;
    const r = await get(app, URL_OK);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(JSON.parse(JSON.stringify(REPORT)));
    expect(seen.slice(before)).toEqual([{ calibrationEnd: "1997-09-30", holdoutEnd: "1998-06-30" }]);
  });

  it("needs a key with the read scope", async () => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    expect((await get(app, URL_OK, {})).body.error.code).toBe("AUTH_MISSING");
    expect((await get(app, URL_OK, { authorization: "Bearer nope" })).status).toBe(401);
  });

  it.each([
    ["?holdoutEnd=1998-06-30", "querystring.calibrationEnd"],
    ["?calibrationEnd=1997-09-30", "querystring.holdoutEnd"],
    ["?calibrationEnd=30.09.1997&holdoutEnd=1998-06-30", "querystring.calibrationEnd"],
    ["?calibrationEnd=1997-02-30&holdoutEnd=1998-06-30", "querystring.calibrationEnd"],
    ["?calibrationEnd=1997-09-30&holdoutEnd=1997-09-30", "querystring.holdoutEnd"],
    ["?calibrationEnd=1997-09-30&holdoutEnd=1998-06-30&x=1", "querystring.x"],
  ])("%s → 400 at %s, churn-alert not asked", async (query, field) => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    const before = seen.length;
    const r = await get(app, `/v1/churn/calibration${query}`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "VALIDATION_FAILED", field });
    expect(seen.length).toBe(before);
  });

  it("maps churn-alert's refusals: nothing to fit 422, a bad day 400 at the API's field name", async () => {
    const app = api({ url: churnAlertUrl, timeoutMs: 5000 });
    const none = await get(app, "/v1/churn/calibration?calibrationEnd=1990-01-31&holdoutEnd=1990-06-30");
    expect(none.status).toBe(422);
    expect(none.body.error).toEqual({
      code: "CALIBRATION_NO_DATA",
      message: "fewer than 2 members with purchases up to 1990-01-31",
    });
    const odd = await get(app, "/v1/churn/calibration?calibrationEnd=1991-01-31&holdoutEnd=1991-06-30");
    expect(odd.status).toBe(400);
    expect(odd.body.error).toMatchObject({ code: "VALIDATION_FAILED", field: "querystring.calibrationEnd" });
    const failed = await get(app, "/v1/churn/calibration?calibrationEnd=1992-01-31&holdoutEnd=1992-06-30");
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(/churn-alert at .* answered 500: internal error/);
  });

  it("503 with a clear message when CHURN_ALERT_URL is not set or churn-alert does not answer", async () => {
    const unset = await get(api(), URL_OK);
    expect(unset.status).toBe(503);
    expect(unset.body.error).toMatchObject({ code: "UNAVAILABLE" });
    expect(unset.body.error.message).toMatch(/CHURN_ALERT_URL is not set/);
    // A port nothing listens on (the fake's own, once closed, would race other tests: port 9 is discard).
    const down = await get(api({ url: "http://127.0.0.1:9", timeoutMs: 2000 }), URL_OK);
    expect(down.status).toBe(503);
    expect(down.body.error.message).toMatch(/churn-alert at http:\/\/127\.0\.0\.1:9 is unreachable; retry/);
  });
});
