// The ops server on a real socket: /healthz and /metrics as before, and a service's own read-only
// JSON routes with their query checked before the handler runs (400 naming the parameter), the
// handler's refusals, and its failures as 503 (retriable) or 500 (anything else).
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransientError } from "../src/errors.ts";
import { OpsRequestError, type OpsRoute, startOpsServer } from "../src/http.ts";
import { RuntimeMetrics } from "../src/metrics.ts";

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

  it("refuses a route on /healthz, a relative path or a path served twice", async () => {
    const m = new RuntimeMetrics("ops-test-2");
    for (const routes of [[{ ...echo, path: "/healthz" }], [{ ...echo, path: "echo" }], [echo, echo]])
      await expect(startOpsServer(0, m, () => true, "127.0.0.1", routes)).rejects.toThrow(/served once/);
  });
});
