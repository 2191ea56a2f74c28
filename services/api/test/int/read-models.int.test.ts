// The API's read models of loyalty.tiers.v1 and loyalty.churn-alerts.v1 against the real stack
// (ADR 16 step 5): records produced as the tier evaluator and churn-alert principals land as rows
// in api_tier_changes and api_churn_alerts (a frontier marker is not a row), the member summary's
// tier and churn card come from them, the dashboard's weekly figures count them, and their event
// times (a year after the ledger's) never move the API's event-time "now". Every answer is held
// to the OpenAPI document by `call`.
import {
  AvroCodec,
  type ChurnAlert,
  type TierChanged,
  frontierHeaders,
  namespacedTopics,
} from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import {
  type TestStack,
  grantTestNamespace,
  principalKafka,
  requireStack,
  testNamespace,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_KEY,
  type Api,
  DAY,
  call,
  namespacePool,
  seedLots,
  startApi,
  untilApplied,
  waitFor,
} from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api;
const admin = { key: ADMIN_KEY };
// The ledger's newest event time: the API's "now" in event mode.
const LEDGER_T = Date.UTC(1997, 0, 15, 12);
// Tier changes and alerts happen later than anything in the ledger.
const T1 = Date.UTC(1998, 0, 6, 10); // a Tuesday
const T2 = T1 + 14 * DAY;

const change = (n: number, memberId: string, fromTier: string, toTier: string, at: number): TierChanged => ({
  eventId: `tier-${n}`,
  memberId,
  fromTier,
  toTier,
  direction: toTier === "base" ? "DOWN" : "UP",
  reason: "QUALIFIED",
  metric: "spend",
  metricValue: 1_000,
  threshold: 500,
  effectiveAt: at,
  evaluationDate: null,
});
const alert = (n: number, memberId: string, at: number, actionLevel: string, pAlive: number): ChurnAlert => ({
  eventId: `alert-${n}`,
  memberId,
  eventTime: at,
  pAlive,
  expectedPurchases: 0.5,
  horizonDays: 90,
  expectedValueMinor: 4_200,
  currency: "USD",
  segment: "at-risk",
  actionLevel,
  reason: "pAlive below threshold",
  modelVersion: `fit-${n}`,
  bgnbd: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.43 },
});

async function produce(
  principal: "tier-evaluator" | "churn-alert",
  records: { key: string; value: unknown }[],
) {
  const topics = namespacedTopics(ns);
  const topic = principal === "tier-evaluator" ? topics.tiers : topics.churnAlerts;
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  await codec.registerAll([topic]);
  const producer = principalKafka(stack.kafkaBrokers, principal).producer();
  await producer.connect();
  try {
    await producer.send({
      topic: topic.name,
      messages: await Promise.all(
        records.map(async (r) =>
          r.value === null
            ? { key: r.key, value: null, headers: frontierHeaders(T2) }
            : { key: r.key, value: await codec.encode(topic, r.value) },
        ),
      ),
    });
  } finally {
    await producer.disconnect();
  }
}

const rows = async (table: "api_tier_changes" | "api_churn_alerts") =>
  (await pool.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]?.n ?? 0;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  const seeded = await seedLots(
    pool,
    "m1",
    [{ points: 100, earnedAt: LEDGER_T, expiresAt: LEDGER_T + 365 * DAY }],
    {
      wait: false,
    },
  );
  api = await startApi(stack, ns, { CLOCK_MODE: "event" });
  await untilApplied(pool, seeded);
  await grantTestNamespace(stack.kafkaBrokers, ns);
});

afterAll(async () => {
  const code = await api?.service.stop();
  await pool?.end();
  expect(code).toBe(0);
});

describe("read models of loyalty.tiers.v1 and loyalty.churn-alerts.v1", () => {
  it("an empty read model: no tier, no churn card, empty dashboards", async () => {
    const s = await call(api.base, "GET", "/v1/members/m1", admin);
    expect(s.status).toBe(200);
    expect(s.body.tier).toBeNull();
    expect(s.body.churn).toBeNull();
    expect((await call(api.base, "GET", "/v1/dashboard/tiers-by-week", admin)).body).toEqual({
      to: null,
      tiers: [],
      weeks: [],
    });
    expect((await call(api.base, "GET", "/v1/dashboard/churn-alerts-by-week", admin)).body).toEqual({
      to: null,
      weeks: [],
    });
  });

  it("records on the topics become rows; the card and the dashboard show them", async () => {
    await produce("tier-evaluator", [
      { key: "m1", value: change(1, "m1", "base", "silver", T1) },
      { key: "m2", value: change(2, "m2", "base", "silver", T1) },
      { key: "m1", value: change(3, "m1", "silver", "gold", T2) },
    ]);
    await produce("churn-alert", [
      { key: "m1", value: alert(1, "m1", T1, "at-risk", 0.4) },
      { key: "m1", value: alert(2, "m1", T2, "high-value-at-risk", 0.21) },
      { key: "m3", value: alert(3, "m3", T2 + DAY, "low-value-at-risk", 0.1) },
      { key: "m1", value: null }, // a frontier marker: skipped
    ]);
    await waitFor(
      "tier changes stored",
      () => rows("api_tier_changes"),
      (n) => n === 3,
    );
    await waitFor(
      "alerts stored",
      () => rows("api_churn_alerts"),
      (n) => n === 3,
    );

    const s = await call(api.base, "GET", "/v1/members/m1", admin);
    expect(s.status).toBe(200);
    expect(s.body.tier).toBe("gold");
    expect(s.body.balance).toBe(100);
    expect(s.body.churn).toEqual({
      modelVersion: "fit-2",
      lastAlert: {
        at: new Date(T2).toISOString(),
        pAlive: 0.21,
        segment: "at-risk",
        actionLevel: "high-value-at-risk",
        modelVersion: "fit-2",
      },
    });
    // Event time: the read models' records are a year after the ledger; "now" stays the ledger's.
    expect(s.body.asOf).toBe(new Date(LEDGER_T).toISOString());

    // A member only the read models know (no ledger): known, with its tier.
    const m2 = await call(api.base, "GET", "/v1/members/m2", admin);
    expect(m2.status).toBe(200);
    expect(m2.body).toMatchObject({ tier: "silver", balance: 0, churn: null });
    expect((await call(api.base, "GET", "/v1/members/nobody", admin)).status).toBe(404);

    const tiers = await call(api.base, "GET", "/v1/dashboard/tiers-by-week", admin);
    expect(tiers.status).toBe(200);
    expect(tiers.body).toEqual({
      to: "1998-01-19",
      tiers: ["gold", "silver"],
      weeks: [
        {
          week: "1998-01-05",
          tiers: [
            { tier: "gold", members: 0 },
            { tier: "silver", members: 2 },
          ],
        },
        {
          week: "1998-01-12",
          tiers: [
            { tier: "gold", members: 0 },
            { tier: "silver", members: 2 },
          ],
        },
        {
          week: "1998-01-19",
          tiers: [
            { tier: "gold", members: 1 },
            { tier: "silver", members: 1 },
          ],
        },
      ],
    });
    const alerts = await call(api.base, "GET", "/v1/dashboard/churn-alerts-by-week?weeks=3", admin);
    expect(alerts.status).toBe(200);
    expect(alerts.body).toEqual({
      to: new Date(T2 + DAY).toISOString(),
      weeks: [
        { week: "1998-01-05", alerts: 1, members: 1, highValueAtRisk: 0, atRisk: 1, lowValueAtRisk: 0 },
        { week: "1998-01-12", alerts: 0, members: 0, highValueAtRisk: 0, atRisk: 0, lowValueAtRisk: 0 },
        { week: "1998-01-19", alerts: 2, members: 2, highValueAtRisk: 1, atRisk: 0, lowValueAtRisk: 1 },
      ],
    });
    expect((await call(api.base, "GET", "/v1/dashboard/churn-alerts-by-week?weeks=0", admin)).status).toBe(
      400,
    );
  });

  it("a restarted API reads its groups from their commits and stores nothing twice", async () => {
    const code = await api.service.stop();
    expect(code).toBe(0);
    await produce("tier-evaluator", [{ key: "m2", value: change(4, "m2", "silver", "base", T2 + 2 * DAY) }]);
    api = await startApi(stack, ns, { CLOCK_MODE: "event" });
    await waitFor(
      "the new change stored",
      () => rows("api_tier_changes"),
      (n) => n === 4,
    );
    expect(await rows("api_churn_alerts")).toBe(3);
    const m2 = await call(api.base, "GET", "/v1/members/m2", admin);
    expect(m2.body.tier).toBe("base");
  });
});
