// The dashboard's read model and routes (ADR 18, issue 23 items 4 and 5) against the real stack:
// ledger movements put on loyalty.points.v1 as the rules engine, tier changes as the tier
// evaluator, churn alerts as churn-alert and the standard programme signed on loyalty.rules.v1
// become the figures of points flow and liability, budget burn, win-back conversion, churn
// segments and fit, and tier progress. Every answer is held to the OpenAPI document by `call`.
// A restarted API counts nothing twice.
import {
  AvroCodec,
  type ChurnAlert,
  type PointsMovement,
  type TierChanged,
  namespacedTopics,
} from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import {
  STANDARD_RULES_DIR,
  publishRuleSet,
  readRuleSetSource,
  signerOf,
  signingKeyFromEnv,
  validateRuleSet,
} from "@loyalty/rules-engine";
import {
  type TestStack,
  devRulesKeyEnv,
  grantTestNamespace,
  principalKafka,
  publisherKafka,
  requireStack,
  testNamespace,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyDashboardBatch } from "../../src/store/dashboard.ts";
import { transaction } from "../../src/store/db.ts";
import { ADMIN_KEY, type Api, DAY, call, namespacePool, startApi, waitFor } from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api;
let reader: string;
const admin = { key: ADMIN_KEY };
const ENV = { CLOCK_MODE: "wall", PROGRAMME_POINT_VALUE_MINOR: "0.5", PROGRAMME_BASE_CURRENCY: "USD" };
const D1 = Date.UTC(1997, 2, 4, 15); // Tuesday 1997-03-04
const FIT = "bgnbd@1997-02-28T00:00:00Z";

let seq = 0;
const move = (
  memberId: string,
  kind: PointsMovement["kind"],
  points: number,
  at: number,
  ruleId: string | null,
  orderId: string | null,
): PointsMovement => ({
  eventId: `pts-${++seq}`,
  memberId,
  kind,
  points,
  balanceAfter: 0,
  ruleId,
  ruleVersion: ruleId === null ? null : 1,
  ruleSetVersion: ruleId === null ? null : 1,
  sourceEventId: orderId ?? `src-${seq}`,
  orderId,
  reason: null,
  eventTime: at,
  lotExpiresAt: null,
  ruleSetId: null,
  lots: [],
});
const change = (
  n: number,
  memberId: string,
  from: string,
  to: string,
  value: number,
  threshold: number,
  at: number,
): TierChanged => ({
  eventId: `tier-${n}`,
  memberId,
  fromTier: from,
  toTier: to,
  direction: "UP",
  reason: "QUALIFIED",
  metric: "spend",
  metricValue: value,
  threshold,
  effectiveAt: at,
  evaluationDate: null,
});
const alert = (
  n: number,
  memberId: string,
  at: number,
  segment: string,
  actionLevel: string,
): ChurnAlert => ({
  eventId: `alert-${n}`,
  memberId,
  eventTime: at,
  pAlive: 0.3,
  expectedPurchases: 0.5,
  horizonDays: 90,
  expectedValueMinor: 4_200,
  currency: "USD",
  segment,
  actionLevel,
  reason: "pAlive below threshold",
  modelVersion: FIT,
  bgnbd: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.43 },
});

async function produce(
  principal: "rules-engine" | "tier-evaluator" | "churn-alert",
  records: { key: string; value: unknown }[],
) {
  const topics = namespacedTopics(ns);
  const topic =
    principal === "rules-engine"
      ? topics.points
      : principal === "tier-evaluator"
        ? topics.tiers
        : topics.churnAlerts;
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  await codec.registerAll([topic]);
  const producer = principalKafka(stack.kafkaBrokers, principal).producer();
  await producer.connect();
  try {
    await producer.send({
      topic: topic.name,
      messages: await Promise.all(
        records.map(async (r) => ({ key: r.key, value: await codec.encode(topic, r.value) })),
      ),
    });
  } finally {
    await producer.disconnect();
  }
}

async function publishStandard() {
  const source = readRuleSetSource(STANDARD_RULES_DIR()).json as Record<string, unknown>;
  const checked = validateRuleSet({ ...source, version: 1 });
  if (!checked.ok) throw new Error("rules/standard does not validate");
  const key = signingKeyFromEnv({ ...devRulesKeyEnv(), ...process.env });
  if (key === null) throw new Error("no dev signing key (pnpm loyalty stack up makes one)");
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  const topic = namespacedTopics(ns).rules;
  await codec.registerAll([topic]);
  await publishRuleSet(
    publisherKafka(stack.kafkaBrokers),
    codec,
    topic,
    checked.ruleSet,
    signerOf(key, "alice"),
  );
}

const count = async (sql: string) => (await pool.query<{ n: number }>(sql)).rows[0]?.n ?? 0;
const get = (path: string) => call(api.base, "GET", path, { key: reader });

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  await grantTestNamespace(stack.kafkaBrokers, ns);
  api = await startApi(stack, ns, ENV);
  const r = await call(api.base, "POST", "/v1/keys", {
    ...admin,
    body: { name: "reader", scopes: ["read"] },
  });
  expect(r.status).toBe(201);
  reader = r.body.key;
});

afterAll(async () => {
  const code = await api?.service.stop();
  await pool?.end();
  expect(code).toBe(0);
});

describe("dashboard figures from the API's read models", () => {
  it("empty read models: empty figures, no fit, no progress", async () => {
    const flow = await get("/v1/dashboard/points-flow");
    expect(flow.status).toBe(200);
    expect(flow.body).toEqual({
      to: null,
      currency: "USD",
      currencyExponent: 2,
      pointValueMinor: "0.5",
      days: [],
    });
    expect((await get("/v1/dashboard/winback")).body).toEqual({
      to: null,
      alerted: 0,
      converted: 0,
      weeks: [],
    });
    expect((await get("/v1/churn/segments")).body).toEqual({
      members: 0,
      segments: [],
      actionLevels: [],
      fit: null,
      fits: [],
    });
    expect((await get("/v1/members/m1/tier-progress")).body).toEqual({
      memberId: "m1",
      progress: null,
      ladder: [],
    });
    expect((await get("/v1/dashboard/points-flow?days=0")).status).toBe(400);
  });

  it("records on the topics become the dashboard's figures", async () => {
    await publishStandard();
    await produce("rules-engine", [
      { key: "m2", value: move("m2", "EARNED", 200, D1 - 7 * DAY, "jazz-double", "o2") },
      { key: "m1", value: move("m1", "EARNED", 100, D1, "base-points", "o1") },
      { key: "m1", value: move("m1", "EARNED", 50, D1, "jazz-double", "o1") },
      { key: "m1", value: move("m1", "REDEEMED", -30, D1 + DAY, null, null) },
      { key: "m2", value: move("m2", "EXPIRED", -20, D1 + 2 * DAY, null, null) },
      { key: "m2", value: move("m2", "REVERSED", -40, D1 + 2 * DAY, "jazz-double", "o2") },
    ]);
    await produce("tier-evaluator", [
      { key: "m1", value: change(1, "m1", "base", "silver", 600, 500, D1) },
      { key: "m2", value: change(2, "m2", "base", "silver", 700, 500, D1 - 7 * DAY) },
      { key: "m2", value: change(3, "m2", "silver", "gold", 1_600, 1_500, D1) },
    ]);
    await produce("churn-alert", [
      { key: "m1", value: alert(1, "m1", D1 - 3 * DAY, "at-risk", "high-value-at-risk") }, // bought after: won back
      { key: "m3", value: alert(2, "m3", D1, "lost", "low-value-at-risk") }, // never bought
      { key: "m2", value: alert(3, "m2", D1 + 2 * DAY, "at-risk", "at-risk") }, // bought only before
    ]);
    await waitFor(
      "every record applied",
      async () =>
        (await count("select coalesce(sum(entries), 0)::int as n from api_dashboard_points")) +
        (await count("select count(*)::int as n from api_dashboard_tier_metrics")) +
        (await count("select coalesce(sum(alerts), 0)::int as n from api_dashboard_fits")) +
        (await count("select count(*)::int as n from api_rule_sets")) +
        (await count("select count(*)::int as n from api_churn_alerts")),
      (n) => n === 6 + 3 + 3 + 1 + 3,
    );

    const flow = await get("/v1/dashboard/points-flow?days=3");
    expect(flow.status).toBe(200);
    const zero = { issued: 0, reversed: 0, redeemed: 0, expired: 0, adjusted: 0 };
    expect(flow.body).toEqual({
      to: "1997-03-06",
      currency: "USD",
      currencyExponent: 2,
      pointValueMinor: "0.5",
      days: [
        { ...zero, day: "1997-03-04", issued: 150, outstanding: 350, liabilityMinor: 175 },
        { ...zero, day: "1997-03-05", redeemed: 30, outstanding: 320, liabilityMinor: 160 },
        { ...zero, day: "1997-03-06", expired: 20, reversed: 40, outstanding: 260, liabilityMinor: 130 },
      ],
    });

    const burn = await get("/v1/dashboard/budget-burn?weeks=2");
    expect(burn.status).toBe(200);
    expect(burn.body).toEqual({
      to: "1997-03-06",
      rules: [
        {
          ruleSetId: "standard",
          ruleSetVersion: 1,
          ruleId: "jazz-double",
          name: "Double points on orders with jazz",
          budget: 5_000_000,
          used: 210,
          remaining: 5_000_000 - 210,
          weeks: [
            { week: "1997-02-24", used: 200 },
            { week: "1997-03-03", used: 210 },
          ],
        },
      ],
    });

    const winback = await get("/v1/dashboard/winback?weeks=2");
    expect(winback.status).toBe(200);
    expect(winback.body).toEqual({
      to: "1997-03-03",
      alerted: 3,
      converted: 1,
      weeks: [
        { week: "1997-02-24", alerted: 1, converted: 1, rate: 1 },
        { week: "1997-03-03", alerted: 2, converted: 0, rate: 0 },
      ],
    });

    const churn = await get("/v1/churn/segments");
    expect(churn.status).toBe(200);
    const fit = {
      modelVersion: FIT,
      madeAt: "1997-02-28T00:00:00.000Z",
      params: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.43 },
      firstAlertAt: new Date(D1 - 3 * DAY).toISOString(),
      lastAlertAt: new Date(D1 + 2 * DAY).toISOString(),
      alerts: 3,
    };
    expect(churn.body).toEqual({
      members: 3,
      segments: [
        { segment: "at-risk", members: 2 },
        { segment: "lost", members: 1 },
      ],
      actionLevels: [
        { actionLevel: "at-risk", members: 1 },
        { actionLevel: "high-value-at-risk", members: 1 },
        { actionLevel: "low-value-at-risk", members: 1 },
      ],
      fit,
      fits: [fit],
    });

    const progress = await get("/v1/members/m1/tier-progress");
    expect(progress.status).toBe(200);
    expect(progress.body).toEqual({
      memberId: "m1",
      progress: {
        tier: "silver",
        metric: "spend",
        value: 600,
        asOf: new Date(D1).toISOString(),
        next: { tier: "gold", threshold: 1_500, remaining: 900, progress: 0.4 },
      },
      ladder: [
        { tier: "gold", metric: "spend", threshold: 1_500 },
        { tier: "silver", metric: "spend", threshold: 500 },
      ],
    });
  });

  it("a restarted API resumes from its commits and counts nothing twice", async () => {
    expect(await api.service.stop()).toBe(0);
    await produce("rules-engine", [
      { key: "m3", value: move("m3", "EARNED", 10, D1 + 2 * DAY, "base-points", "o3") },
    ]);
    api = await startApi(stack, ns, ENV);
    await waitFor(
      "the new movement applied",
      () => count("select coalesce(sum(entries), 0)::int as n from api_dashboard_points"),
      (n) => n === 7,
    );
    const flow = await get("/v1/dashboard/points-flow?days=1");
    expect(flow.body.days).toEqual([
      {
        day: "1997-03-06",
        issued: 10,
        reversed: 40,
        redeemed: 0,
        expired: 20,
        adjusted: 0,
        outstanding: 270,
        liabilityMinor: 135,
      },
    ]);
    // m3 bought after its alert now: won back.
    expect((await get("/v1/dashboard/winback?weeks=1")).body.weeks).toEqual([
      { week: "1997-03-03", alerted: 2, converted: 1, rate: 0.5 },
    ]);
  });

  it("a batch delivered again (after a crash, before the commit) is applied once", async () => {
    const batch = {
      topic: "redelivery-check",
      partition: 0,
      records: [
        {
          offset: "0",
          facts: [{ type: "points" as const, day: "1990-01-01", kind: "EARNED", ruleId: "x", points: 5 }],
        },
        {
          offset: "1",
          facts: [{ type: "points" as const, day: "1990-01-01", kind: "EARNED", ruleId: "x", points: 7 }],
        },
      ],
    };
    const sum = () =>
      count("select coalesce(sum(points), 0)::int as n from api_dashboard_points where rule_id = 'x'");
    expect(await transaction(pool, (c) => applyDashboardBatch(c, [batch]))).toBe(2);
    expect(await transaction(pool, (c) => applyDashboardBatch(c, [batch]))).toBe(0);
    // Part of it again with a new record: only the new one counts.
    const more = {
      ...batch,
      records: [
        ...batch.records.slice(1),
        {
          offset: "2",
          facts: [{ type: "points" as const, day: "1990-01-01", kind: "EARNED", ruleId: "x", points: 1 }],
        },
      ],
    };
    expect(await transaction(pool, (c) => applyDashboardBatch(c, [more]))).toBe(1);
    expect(await sum()).toBe(13);
  });
});
