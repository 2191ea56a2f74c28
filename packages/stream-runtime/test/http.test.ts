// The ops server on a real socket: /livez, /readyz (each check named), /healthz and /metrics, and a service's own read-only
// JSON routes with their query checked before the handler runs (400 naming the parameter), the
// handler's refusals, and its failures as 503 (retriable) or 500 (anything else).
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransientError } from "../src/errors.ts";
import { OpsRequestError, type OpsRoute, startOpsServer } from "../src/http.ts";
import { RuntimeMetrics } from "../src/metrics.ts";
import { NotReadyError, type ReadinessCheck, checkReadiness, singleFlight } from "../src/readiness.ts";

const DAY = { pattern: /^\d{4}-\d{2}-\d{2}$/, description: "a date YYYY-MM-DD", required: true } as const;
const calls: Array<Record<string, string>> = [];
const failures: string[] = [];

const echo: OpsRoute = {
  path: "/echo",
  query: { from: DAY, to: { ...DAY, required: false } },
  handle: async (q) => {
    calls.push({ ...q });
    if (q.from === "1999-01-01") throw new OpsRequestError(422, "NO_DATA", "nothing then");
    if (q.from === "2000-01-01") throw new TransientError("database restarting");
    if (q.from === "2001-01-01") throw new Error("bug");
    return { got: q };
  },
};

// /readyz's checks: a passing one with details, one that refuses, one that never answers.
let checks: ReadinessCheck[] = [];
const passing: ReadinessCheck = { name: "postgres", check: async () => undefined };
const withDetails: ReadinessCheck = { name: "lag", check: async () => ({ lag: 3, max: null }) };
const refusing: ReadinessCheck = {
  name: "kafka",
  check: async () => {
    throw new NotReadyError("consumer is not in its group");
  },
};
const silent: ReadinessCheck = { name: "postgres", check: () => new Promise<undefined>(() => undefined) };
const secretBearing: ReadinessCheck = {
  name: "postgres",
  check: async () => {
    throw Object.assign(new Error("password authentication failed: pw=hunter2"), { code: "28P01" });
  },
};

let server: Server;
let base: string;

beforeAll(async () => {
  const ops = await startOpsServer(
    0,
    new RuntimeMetrics("ops-test"),
    () => true,
    "127.0.0.1",
    [echo],
    (_err, path) => failures.push(path),
    () => checkReadiness(checks, 200),
  );
  server = ops.server;
  base = `http://127.0.0.1:${ops.port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const get = async (path: string, method = "GET") => {
  const res = await fetch(`${base}${path}`, { method });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), body: text ? JSON.parse(text) : null };
};

describe("ops server routes", () => {
  it("still serves /healthz and /metrics", async () => {
    expect(await get("/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it("answers /livez while the process runs, whatever the checks", async () => {
    checks = [refusing];
    expect(await get("/livez")).toEqual({ status: 200, type: "application/json", body: { status: "ok" } });
  });

  it("answers /readyz 200 with each check when all pass", async () => {
    checks = [passing, withDetails];
    expect(await get("/readyz")).toEqual({
      status: 200,
      type: "application/json",
      body: {
        status: "ready",
        failing: [],
        checks: { postgres: { ok: true }, lag: { ok: true, lag: 3, max: null } },
      },
    });
  });

  it("answers /readyz 503 naming the failing checks: a refusal, a check that never answers", async () => {
    checks = [refusing, withDetails];
    expect(await get("/readyz")).toMatchObject({
      status: 503,
      body: {
        status: "unavailable",
        failing: ["kafka"],
        checks: { kafka: { ok: false, error: "consumer is not in its group" }, lag: { ok: true } },
      },
    });
    checks = [silent];
    expect(await get("/readyz")).toMatchObject({
      status: 503,
      body: {
        failing: ["postgres"],
        checks: { postgres: { ok: false, error: "postgres: no answer within 200 ms" } },
      },
    });
  });

  it("probes a dependency that never answers once, not once per request", async () => {
    let calls = 0;
    const hanging = singleFlight(() => {
      calls++;
      return new Promise<undefined>(() => undefined);
    });
    checks = [{ name: "postgres", check: hanging }];
    for (let i = 0; i < 3; i++) expect((await get("/readyz")).status).toBe(503);
    expect(calls).toBe(1);
  });

  it("says only the code of an error that is not a NotReadyError (its message may hold anything)", async () => {
    checks = [secretBearing];
    const r = await get("/readyz");
    expect(r.body.checks).toEqual({ postgres: { ok: false, error: "28P01" } });
  });

  it("answers a route's JSON with the checked query", async () => {
    const r = await get("/echo?from=1997-09-30&to=1998-06-30");
    expect(r).toEqual({
      status: 200,
      type: "application/json",
      body: { got: { from: "1997-09-30", to: "1998-06-30" } },
    });
    expect(await get("/echo?from=1997-09-30")).toMatchObject({
      status: 200,
      body: { got: { from: "1997-09-30" } },
    });
  });

  it.each([
    ["/echo", "query.from", /query\.from is required \(a date YYYY-MM-DD\)/],
    ["/echo?from=30.9.1997", "query.from", /query\.from must be a date YYYY-MM-DD, got "30\.9\.1997"/],
    ["/echo?from=1997-09-30&to=", "query.to", /query\.to must be a date/],
    ["/echo?from=1997-09-30&extra=1", "query.extra", /query\.extra is not allowed/],
    ["/echo?from=1997-09-30&from=1997-10-01", "query.from", /more than once/],
  ])("%s → 400 at %s, before the handler", async (path, field, message) => {
    const before = calls.length;
    const r = await get(path);
    expect(r.status).toBe(400);
    expect(r.type).toBe("application/json");
    expect(r.body.error).toMatchObject({ code: "VALIDATION_FAILED", field });
    expect(r.body.error.message).toMatch(message);
    expect(calls.length).toBe(before);
  });

  it("the handler's refusal keeps its status; a retriable failure is 503, any other 500, both reported", async () => {
    expect(await get("/echo?from=1999-01-01")).toMatchObject({
      status: 422,
      body: { error: { code: "NO_DATA", message: "nothing then" } },
    });
    expect(await get("/echo?from=2000-01-01")).toMatchObject({
      status: 503,
      body: { error: { code: "UNAVAILABLE" } },
    });
    const bug = await get("/echo?from=2001-01-01");
    expect(bug).toMatchObject({
      status: 500,
      body: { error: { code: "INTERNAL", message: "internal error" } },
    });
    expect(failures).toEqual(["/echo", "/echo"]);
  });

  it("other paths are 404, other methods 405", async () => {
    expect((await get("/nothing?from=1997-01-01")).status).toBe(404);
    expect((await fetch(`${base}/echo?from=1997-01-01`, { method: "POST" })).status).toBe(405);
  });

  it("refuses a route on an ops path, a relative path or a path served twice", async () => {
    const m = new RuntimeMetrics("ops-test-2");
    const own = ["/healthz", "/livez", "/readyz", "/metrics"].map((path) => [{ ...echo, path }]);
    for (const routes of [...own, [{ ...echo, path: "echo" }], [echo, echo]])
      await expect(startOpsServer(0, m, () => true, "127.0.0.1", routes)).rejects.toThrow(/served once/);
  });
});
