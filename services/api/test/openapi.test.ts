// The OpenAPI document checked by real tools and against the real app: Redocly's linter, the
// routes Fastify registered (onRoute), the committed copy in schemas/openapi.json, and the
// response contract the integration tests apply to every answer, shown here to refuse what the
// document does not allow. No database: every request here is answered before a handler runs.
import { readFileSync } from "node:fs";
import type { Pool } from "@loyalty/db";
import { createLogger } from "@loyalty/stream-runtime";
import { type NormalizedProblem, createConfig, lintFromString } from "@redocly/openapi-core";
import type { FastifyInstance } from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { OPENAPI_FILE, openApiDocument, openApiJson } from "../src/http/openapi.ts";
import { MemoryRateLimiter } from "../src/http/rate-limit.ts";
import { buildServer, servedRoutes } from "../src/http/server.ts";
import { KeyStore } from "../src/store/keys.ts";
import { type ObservedResponse, ResponseContract, documentedOperations, routeCoverage } from "./contract.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const ADMIN = "admin-key-for-unit-tests-0123456789abcdef";
const unreachable = new Proxy({} as Pool, {
  get() {
    throw new Error("the database must not be reached");
  },
});
const server = (rate = 1000, burst = 1000) =>
  buildServer({
    pool: unreachable,
    keys: new KeyStore(unreachable, ADMIN),
    limiter: new MemoryRateLimiter({ rate, burst }),
    now: () => Date.UTC(2024, 0, 1),
    expiryMonths: 12,
    ledger: { request: async () => null },
    replyTimeoutMs: 50,
    logger: createLogger("api-test", "silent"),
  });
const app = server();
afterAll(() => app.close());

const doc = openApiDocument();
const contract = new ResponseContract(doc);
type Doc = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };
const copy = (): Doc => structuredClone(doc) as Doc;
const omit = (o: object | undefined, key: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => k !== key));

async function lint(source: string): Promise<NormalizedProblem[]> {
  const config = await createConfig({ extends: ["recommended"] });
  return lintFromString({ source, absoluteRef: `${ROOT}${OPENAPI_FILE}`, config });
}
const brief = (p: NormalizedProblem) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ""}`;

async function observe(
  a: FastifyInstance,
  method: "GET" | "POST",
  path: string,
  opts: { headers?: Record<string, string>; payload?: string } = {},
): Promise<ObservedResponse> {
  const res = await a.inject({ method, url: path, headers: opts.headers, payload: opts.payload });
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, String(v));
  return { method, path, status: res.statusCode, headers, text: res.body };
}

describe("the OpenAPI document", () => {
  it("lints clean with Redocly's recommended rules (no errors; five warnings, each accepted)", async () => {
    const problems = await lint(openApiJson());
    expect(problems.filter((p) => p.severity === "error").map(brief)).toEqual([]);
    // No licence is chosen yet (openapi.ts, LICENSE); the four public routes answer no 4xx at all.
    expect(problems.map(brief).sort()).toEqual([
      "warn info-license-strict #/info/license",
      "warn operation-4xx-response #/paths/~1healthz/get/responses",
      "warn operation-4xx-response #/paths/~1livez/get/responses",
      "warn operation-4xx-response #/paths/~1openapi.json/get/responses",
      "warn operation-4xx-response #/paths/~1readyz/get/responses",
    ]);
  });

  it("the linter itself refuses a broken copy (a response without a description)", async () => {
    const broken = copy();
    const get = broken.paths["/healthz"]?.get as { responses: Record<string, Record<string, unknown>> };
    get.responses["200"] = omit(get.responses["200"], "description");
    const errors = (await lint(JSON.stringify(broken))).filter((p) => p.severity === "error").map(brief);
    expect(errors).toEqual(["error struct #/paths/~1healthz/get/responses/200"]);
  });

  it("has servers, a licence, the public routes and the statuses the API really answers", () => {
    const d = copy() as Doc & {
      info: { license: { name: string } };
      servers: { url: string }[];
      components: { responses: Record<string, { headers?: Record<string, { required: boolean }> }> };
    };
    expect(d.servers.map((s) => s.url)).toEqual(["http://127.0.0.1:{port}", "https://{host}"]);
    expect(d.info.license.name).toMatch(/licen/i);
    const statuses = (path: string, method: string) =>
      Object.keys((d.paths[path]?.[method] as { responses: object }).responses).sort();
    expect(statuses("/healthz", "get")).toEqual(["200", "503"]);
    expect(statuses("/livez", "get")).toEqual(["200", "503"]);
    expect(statuses("/readyz", "get")).toEqual(["200", "503"]);
    expect(statuses("/openapi.json", "get")).toEqual(["200", "503"]);
    expect(statuses("/v1/members/{memberId}", "get")).toEqual(
      ["200", "400", "401", "403", "404", "429", "500", "503"].sort(),
    );
    expect(statuses("/v1/members/{memberId}/redemptions", "post")).toEqual(
      ["201", "202", "400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "503"].sort(),
    );
    expect(statuses("/v1/members/{memberId}/churn", "get")).toEqual(
      ["200", "400", "401", "403", "404", "429", "500", "503"].sort(),
    );
    expect(statuses("/v1/ledger-commands/{commandId}", "get")).toEqual(
      ["200", "400", "401", "403", "404", "429", "500", "503"].sort(),
    );
    for (const op of documentedOperations(d).filter((o) => o.startsWith("POST ")))
      expect(statuses(op.slice(5), "post"), op).toEqual(expect.arrayContaining(["413", "415"]));
    expect(d.components.responses.TooManyRequests?.headers?.["Retry-After"]?.required).toBe(true);
  });

  it(`is committed as ${OPENAPI_FILE}, up to date with the code`, () => {
    const onDisk = readFileSync(`${ROOT}${OPENAPI_FILE}`, "utf8");
    expect(
      onDisk === openApiJson(),
      `${OPENAPI_FILE} is out of date: run \`pnpm --filter @loyalty/api openapi:write\` and commit it`,
    ).toBe(true);
  });
});

describe("routes served = operations documented", () => {
  const served = servedRoutes(app);

  it("every route Fastify registered is documented, and every documented operation is served", () => {
    expect(served.length).toBe(32); // 17 member, key and ledger-command routes, 10 for the console, 5 dashboard and churn (ADR 18)
    expect(routeCoverage(doc, served)).toEqual({ undocumented: [], unserved: [] });
  });

  it("reports exactly the path removed from a copy of the document", () => {
    const withoutHealth = copy();
    withoutHealth.paths = omit(withoutHealth.paths, "/healthz") as Doc["paths"];
    expect(routeCoverage(withoutHealth, served)).toEqual({ undocumented: ["GET /healthz"], unserved: [] });
    const withoutCancel = copy();
    const cancel = "/v1/members/{memberId}/redemptions/{redemptionId}/cancel";
    withoutCancel.paths[cancel] = omit(withoutCancel.paths[cancel], "post");
    expect(routeCoverage(withoutCancel, served)).toEqual({
      undocumented: ["POST /v1/members/{memberId}/redemptions/{redemptionId}/cancel"],
      unserved: [],
    });
  });

  it("reports exactly the route the app does not serve", () => {
    const extra = copy();
    extra.paths["/v1/gifts"] = { get: { responses: { 200: { description: "OK" } } } };
    expect(routeCoverage(extra, served)).toEqual({ undocumented: [], unserved: ["GET /v1/gifts"] });
    expect(routeCoverage(doc, [...served, { method: "DELETE", url: "/v1/keys/:keyId" }])).toEqual({
      undocumented: ["DELETE /v1/keys/{keyId}"],
      unserved: [],
    });
  });
});

describe("the response contract", () => {
  const auth = { authorization: `Bearer ${ADMIN}` };

  it("accepts what the app really answers before a handler runs (200, 400, 401, 404, 413, 415, 429)", async () => {
    const big = JSON.stringify({ name: "x".repeat(17 * 1024), scopes: ["read"] });
    const answers = [
      await observe(app, "GET", "/healthz"),
      await observe(app, "GET", "/livez"),
      await observe(app, "GET", "/readyz"),
      await observe(app, "GET", "/openapi.json"),
      await observe(app, "GET", "/v1/members/m1/ledger?limit=0", { headers: auth }),
      await observe(app, "POST", "/v1/members/m1/redemptions", { headers: auth }),
      await observe(app, "GET", "/v1/members/m1"),
      await observe(app, "GET", "/v2/nothing"),
      await observe(app, "POST", "/v1/keys", {
        headers: { ...auth, "content-type": "application/json" },
        payload: big,
      }),
      await observe(app, "POST", "/v1/keys", {
        headers: { ...auth, "content-type": "application/xml" },
        payload: "<key/>",
      }),
    ];
    const limited = server(0.5, 1);
    const hit = () => observe(limited, "GET", "/v1/members/m1/ledger?limit=0", { headers: auth });
    await hit();
    answers.push(await hit());
    await limited.close();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 400, 400, 401, 404, 413, 415, 429]);
    for (const a of answers) expect(contract.check(a), `${a.method} ${a.path}`).toEqual([]);
  });

  it("refuses a body, a status, a content type or a header the document does not allow", () => {
    const json = new Headers({ "content-type": "application/json; charset=utf-8" });
    const at = (status: number, text: string, headers = json, path = "/v1/members/m1") =>
      contract.check({ method: "GET", path, status, headers, text });
    expect(at(200, JSON.stringify({ memberId: 1 }))).toEqual([
      expect.stringMatching(/^GET \/v1\/members\/m1 → 200: body does not match .*must be string/),
    ]);
    expect(at(409, JSON.stringify({ error: { code: "MEMBER_CLOSED", message: "closed" } }))).toEqual([
      expect.stringMatching(/status not documented/),
    ]);
    expect(at(404, JSON.stringify({ error: { code: "RATE_LIMITED", message: "x" } }))).toEqual([
      expect.stringMatching(/must be equal to one of the allowed values/),
    ]);
    expect(at(401, "{}", new Headers({ "content-type": "text/html" }))).toEqual([
      expect.stringMatching(/Content-Type 'text\/html' is not one of application\/json/),
    ]);
    expect(at(429, JSON.stringify({ error: { code: "RATE_LIMITED", message: "slow down" } }))).toEqual([
      expect.stringMatching(/required header Retry-After is missing/),
    ]);
    expect(at(500, "{}", json, "/v2/nothing")).toEqual([expect.stringMatching(/no such operation/)]);
  });
});
