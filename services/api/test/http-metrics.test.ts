// The API's HTTP metrics on the real server (routes built by buildServer, the hook added after
// them as main.ts does): answers are counted by route template, method and status, timed, and
// member ids never become label values.
import type { Pool } from "@loyalty/db";
import { RuntimeMetrics, createLogger } from "@loyalty/stream-runtime";
import { afterAll, describe, expect, it } from "vitest";
import { instrumentHttp } from "../src/http-metrics.ts";
import { MemoryRateLimiter } from "../src/http/rate-limit.ts";
import { buildServer } from "../src/http/server.ts";
import { KeyStore } from "../src/store/keys.ts";

const unreachable = new Proxy({} as Pool, {
  get() {
    throw new Error("the database must not be reached");
  },
});
const app = buildServer({
  pool: unreachable,
  keys: new KeyStore(unreachable, "admin-key-for-unit-tests-0123456789abcdef"),
  limiter: new MemoryRateLimiter({ rate: 1000, burst: 1000 }),
  now: () => Date.UTC(2024, 0, 1),
  expiryMonths: 12,
  ledger: { request: async () => null },
  replyTimeoutMs: 50,
  logger: createLogger("api-test", "silent"),
});
const metrics = new RuntimeMetrics("api");
instrumentHttp(app, metrics);
afterAll(() => app.close());

describe("HTTP metrics", () => {
  it("counts answers by route template, method and status, and times them", async () => {
    expect((await app.inject({ method: "GET", url: "/openapi.json" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/openapi.json" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/v1/members/m-secret-42" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/no/such/thing" })).statusCode).toBe(404);

    const text = await metrics.registry.metrics();
    /** The sample line `name{...} value` with these labels (and the service's), in any order. */
    const sample = (name: string, labels: string) => {
      const want = `${labels},service="api"`.split(",").sort().join(",");
      return text.split("\n").find((l) => {
        const m = /^([a-z_]+)\{(.*)\} /.exec(l);
        return m?.[1] === name && m[2]!.split(",").sort().join(",") === want;
      });
    };
    expect(sample("loyalty_http_requests_total", 'route="/openapi.json",method="GET",status="200"')).toMatch(
      / 2$/,
    );
    expect(
      sample("loyalty_http_requests_total", 'route="/v1/members/:memberId",method="GET",status="401"'),
    ).toMatch(/ 1$/);
    expect(sample("loyalty_http_requests_total", 'route="unmatched",method="GET",status="404"')).toMatch(
      / 1$/,
    );
    expect(
      sample("loyalty_http_request_duration_seconds_count", 'route="/openapi.json",method="GET"'),
    ).toMatch(/ 2$/);
    expect(text).not.toContain("m-secret-42");
  });
});
