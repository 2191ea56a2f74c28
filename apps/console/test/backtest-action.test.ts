// POST /console/backtest without Kafka: a fake member API (sessions and the published standard
// programme) and an in-memory history reader. Who may run one (401 without a key, the API's
// refusal passed on, 403 for a read-only key, 503 when the server has no history), what is
// refused (bad window, invalid draft), and a report equal to the library's for the same input.
import { type Server, createServer } from "node:http";
import type { PurchaseEvent } from "@loyalty/contracts";
import { STANDARD_RULES_DIR, backtest, readRuleSetSource, validateRuleSet } from "@loyalty/rules-engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BacktestConfig } from "../server/backtest.ts";
import { type ConsoleServer, startConsoleServer } from "../server/serve.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-03-01T12:00:00Z");
const HISTORY: PurchaseEvent[] = Array.from({ length: 12 }, (_, i) => ({
  eventId: `e${i}`,
  type: "PURCHASE",
  memberId: `m${i % 4}`,
  source: "web",
  orderId: `o${i}`,
  eventTime: T0 + i * 3 * DAY,
  amountMinor: 2_000 + i * 150,
  currency: "USD",
  baseAmountMinor: 2_000 + i * 150,
  baseCurrency: "USD",
  fxRate: "1",
  lines: [],
  channel: null,
  storeId: null,
  refundId: null,
  refundedLineIds: [],
}));

const source = readRuleSetSource(STANDARD_RULES_DIR());
const checked = validateRuleSet(source.json, source.programme);
if (!checked.ok) throw new Error("rules/standard does not validate");
const standard = checked.ruleSet;

let api: Server;
let withHistory: ConsoleServer;
let without: ConsoleServer;
const reads: number[] = [];

const listen = (s: Server) =>
  new Promise<number>((ok) =>
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      ok(typeof a === "object" && a ? a.port : 0);
    }),
  );

beforeAll(async () => {
  api = createServer((req, res) => {
    const key = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const scopes = key === "k-marketer" ? ["marketer"] : key === "k-reader" ? ["read"] : null;
    if (scopes === null) return json(401, { error: { code: "UNAUTHENTICATED", message: "unknown key" } });
    if (req.url === "/v1/session") return json(200, { keyId: key, scopes });
    if (req.url === "/v1/rulesets")
      return json(200, { ruleSets: [{ ruleSetId: "standard", versions: [{ version: 1 }] }] });
    if (req.url === "/v1/rulesets/standard/versions/1") return json(200, { ruleSet: standard });
    return json(404, { error: { code: "NOT_FOUND", message: req.url } });
  });
  const apiUrl = `http://127.0.0.1:${await listen(api)}`;
  const config: BacktestConfig = {
    programme: source.programme,
    programmeFrom: "rules/standard/programme.json",
    history: {
      read: async (to) => {
        reads.push(to);
        return {
          purchases: HISTORY.filter((p) => p.eventTime < to),
          memberEvents: [],
          records: { "loyalty.purchases.v1": HISTORY.length, "loyalty.members.v1": 0 },
          skipped: 0,
        };
      },
    },
  };
  withHistory = await startConsoleServer({
    port: 0,
    host: "127.0.0.1",
    apiUrl,
    dist: "/nonexistent",
    backtest: config,
  });
  without = await startConsoleServer({ port: 0, host: "127.0.0.1", apiUrl, dist: "/nonexistent" });
});

afterAll(async () => {
  await withHistory?.close();
  await without?.close();
  await new Promise<void>((ok) => api.close(() => ok()));
});

async function run(server: ConsoleServer, key: string | null, body: unknown, method = "POST") {
  const res = await fetch(`${server.url}/console/backtest`, {
    method,
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(method === "POST" ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: res.status,
    csp: res.headers.get("content-security-policy"),
    // biome-ignore lint/suspicious/noExplicitAny: test-side JSON, asserted field by field
    body: (await res.json()) as any,
  };
}

const draft = {
  ...standard,
  version: 2,
  rules: standard.rules.map((r) =>
    r.id === "base-points"
      ? { ...r, version: 2, event: { type: "points-per-unit", params: { rate: "3", rounding: "floor" } } }
      : r,
  ),
};

describe("POST /console/backtest", () => {
  it("answers who may not run one before reading any history", async () => {
    expect((await run(withHistory, null, {})).body.error.code).toBe("UNAUTHENTICATED");
    const unknown = await run(withHistory, "k-nobody", {});
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.message).toBe("unknown key");
    const reader = await run(withHistory, "k-reader", { draft, from: "2026-03-10", to: "2026-04-10" });
    expect(reader.status).toBe(403);
    expect(reader.body.error.code).toBe("SCOPE_FORBIDDEN");
    const unconfigured = await run(without, "k-marketer", { draft, from: "2026-03-10", to: "2026-04-10" });
    expect(unconfigured.status).toBe(503);
    expect(unconfigured.body.error.code).toBe("NOT_CONFIGURED");
    expect((await run(withHistory, "k-marketer", null, "GET")).status).toBe(405);
    expect(reads).toEqual([]);
  });

  it("refuses a bad window and an invalid draft with the validator's problems", async () => {
    const window = await run(withHistory, "k-marketer", { draft, from: "2026-04-10", to: "2026-03-10" });
    expect(window.status).toBe(400);
    const notADate = await run(withHistory, "k-marketer", { draft, from: "March", to: "2026-03-10" });
    expect(notADate.body.error).toMatchObject({
      code: "VALIDATION_FAILED",
      message: "from must be a date YYYY-MM-DD (UTC)",
    });
    const invalid = await run(withHistory, "k-marketer", {
      draft: { ...draft, rules: [{ ...draft.rules[0], status: "sometimes" }] },
      from: "2026-03-10",
      to: "2026-04-10",
    });
    expect(invalid.status).toBe(422);
    expect(invalid.body.error.code).toBe("RULESET_INVALID");
    expect(invalid.body.error.errors.length).toBeGreaterThan(0);
    expect(reads).toEqual([]);
  });

  it("reports what the backtest library reports for the draft beside the published set", async () => {
    const r = await run(withHistory, "k-marketer", { draft, from: "2026-03-10", to: "2026-04-10" });
    expect(r.status).toBe(200);
    expect(r.csp).toContain("script-src 'self'");
    const from = Date.parse("2026-03-10T00:00:00Z");
    const to = Date.parse("2026-04-10T00:00:00Z");
    expect(reads).toEqual([to]);
    const validDraft = validateRuleSet(draft, source.programme);
    expect(validDraft.ok).toBe(true);
    if (!validDraft.ok) return;
    const expected = backtest({
      running: standard,
      draft: validDraft.ruleSet,
      programme: source.programme,
      purchases: HISTORY,
      from,
      to,
    });
    expect(r.body.report).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(r.body.runningFrom).toBe("published v1");
    expect(r.body.history).toEqual({
      topics: { "loyalty.purchases.v1": 12, "loyalty.members.v1": 0 },
      purchases: 12,
      memberEvents: 0,
      skipped: 0,
    });
    // Base points tripled: floor(3 x dollars) per order in the window instead of floor(dollars).
    const inWindow = HISTORY.filter((p) => p.eventTime >= from && p.eventTime < to);
    const base = r.body.report.byRule.find((x: { ruleId: string }) => x.ruleId === "base-points");
    expect(base.running.netPoints).toBe(
      inWindow.reduce((n, p) => n + Math.floor(p.baseAmountMinor / 100), 0),
    );
    expect(base.draft.netPoints).toBe(
      inWindow.reduce((n, p) => n + Math.floor((3 * p.baseAmountMinor) / 100), 0),
    );
  });

  it("simulates one order for any signed-in key, and for no one else", async () => {
    const body = {
      draft,
      order: { placedAt: "2026-03-12T10:00:00Z", amountMinor: 2_000, currency: "USD" },
      member: { tier: "member", orderCount: 3 },
    };
    const post = (key: string | null) =>
      fetch(`${withHistory.url}/console/simulate`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      });
    expect((await post(null)).status).toBe(401);
    const r = await post("k-reader");
    expect(r.status).toBe(200);
    const s = (await r.json()) as { rules: { ruleId: string; outcome: string; points: number }[] };
    expect(s.rules.find((x) => x.ruleId === "base-points")).toMatchObject({ outcome: "awarded", points: 60 });
    const bad = await fetch(`${withHistory.url}/console/simulate`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer k-reader" },
      body: JSON.stringify({ ...body, order: { ...body.order, currency: "usd" } }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
      "order.currency: an ISO 4217 code",
    );
  });
});
