// A running service switches to a newly published rule set without restart (hot reload), and
// refunds claw back exactly what the original award paid, with the version it was priced by,
// after the rules changed. Also: tier at event time for orders 1 ms apart, referral bonuses,
// churn alert -> win-back campaign and bonus, loyalty.points.v1 carrying committed balances.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  CampaignTriggered,
  ChurnAlert,
  MemberChanged,
  PointsMovement,
  PurchaseEvent,
} from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, readTopic, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../src/index.ts";
import { Inputs, REPO, cancellationOf, refundOf, startService, stopService, waitFor } from "./harness.ts";

let stack: TestStack;
let pool: Pool;
const ns = testNamespace();

function purchase(memberId: string, orderId: string, cents: number, at: number): PurchaseEvent {
  return {
    eventId: `pur-${ns}-${orderId}`,
    type: "PURCHASE",
    memberId,
    source: "web",
    orderId,
    eventTime: at,
    amountMinor: cents,
    currency: "USD",
    baseAmountMinor: cents,
    baseCurrency: "USD",
    fxRate: "1",
    lines: [
      {
        lineId: "1",
        sku: "cd-1",
        category: "rock",
        quantity: 1,
        unitPriceMinor: cents,
        baseLineTotalMinor: cents,
      },
    ],
    channel: "web",
    storeId: null,
    refundId: null,
    refundedLineIds: [],
  };
}

/** The standard programme with base-points v2 paying 2 points per dollar. */
function draftV2(): string {
  const dir = mkdtempSync(join(tmpdir(), "rules-v2-"));
  const rs = JSON.parse(readFileSync(`${REPO}rules/standard/ruleset.json`, "utf8"));
  rs.version = 2;
  const base = rs.rules.find((r: { id: string }) => r.id === "base-points");
  base.version = 2;
  base.event.params.rate = "2";
  writeFileSync(join(dir, "ruleset.json"), JSON.stringify(rs, null, 2));
  writeFileSync(join(dir, "programme.json"), readFileSync(`${REPO}rules/standard/programme.json`, "utf8"));
  return dir;
}

const entries = async (member: string) =>
  (
    await pool.query(
      `select kind, points, balance_after, rule_id, rule_version, rule_set_version, source_event_id
         from ledger_entries where member_id = $1 order by seq`,
      [member],
    )
  ).rows;
const balance = async (member: string) =>
  (await pool.query("select balance from ledger_balances where member_id = $1", [member])).rows[0]?.balance ??
  0;
const count = async () =>
  (await pool.query("select count(*)::int as n from rules_priced_events")).rows[0].n as number;

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  Object.assign(process.env, {
    LOYALTY_NAMESPACE: ns,
    KAFKA_BROKERS: stack.kafkaBrokers.join(","),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    DATABASE_URL: stack.databaseUrl,
    LOYALTY_PARTITIONS: "3",
  });
});
afterAll(async () => {
  await pool?.end();
});

describe("a running rules engine", () => {
  it("hot-reloads a published rule set and claws back with the original terms", async () => {
    const inputs = new Inputs(stack, ns);
    await inputs.prepare();
    const svc = await startService(stack, ns);
    try {
      // v1 (the standard programme, published by the harness as publisher). A lifts m1 to Silver
      // ($200 >= $100); B, 1 ms later, is priced at Silver.
      const t0 = Date.now();
      const a = purchase("m1", "A", 20_000, t0);
      const b = purchase("m1", "B", 10_000, t0 + 1);
      await inputs.produce(inputs.topics.purchases, [a, b]);
      await waitFor("A and B", count, (n) => n >= 2);
      const v1 = await entries("m1");
      expect(v1.map((e) => [e.rule_id, e.rule_version, e.points, e.rule_set_version])).toEqual([
        ["base-points", 1, 200, 1],
        ["first-purchase", 1, 100, 1],
        ["base-points", 1, 100, 1],
        ["tier-silver", 1, 100 / 4, 1],
      ]);

      // Publish v2 while the service runs; later orders carry v2. (The CLI's publish, with its
      // version check, is tested in apps/cli.)
      await inputs.publishRuleSet(draftV2());
      const c = purchase("m1", "C", 5_000, Date.now());
      await inputs.produce(inputs.topics.purchases, [c]);
      await waitFor("C", count, (n) => n >= 3);
      const afterC = (await entries("m1")).slice(4);
      // $300 of spend made m1 Gold before C: x1.5 on C's (v2) base of 2 points per dollar.
      expect(afterC.map((e) => [e.rule_id, e.rule_version, e.points, e.rule_set_version])).toEqual([
        ["base-points", 2, 50 * 2, 2],
        ["tier-gold", 1, (50 * 2) / 2, 2],
      ]);

      // Refund half of A: A's base award was v1 (1 point per dollar), so 100 points come back,
      // not the 200 that v2 would say; the first-purchase bonus stays (partial refund).
      // Cancel B: its base and its Silver uplift come back in full.
      await inputs.produce(inputs.topics.purchases, [
        refundOf(a, 10_000, "r1", Date.now()),
        cancellationOf(b, Date.now() + 1),
      ]);
      await waitFor("refunds", count, (n) => n >= 5);
      const reversals = (await entries("m1")).slice(6);
      expect(reversals.map((e) => [e.kind, e.rule_id, e.rule_version, e.points, e.rule_set_version])).toEqual(
        [
          ["reverse", "base-points", 1, -100, 1],
          ["reverse", "base-points", 1, -100, 1],
          ["reverse", "tier-silver", 1, -25, 1],
        ],
      );
      const expected = 200 + 100 + 100 + 25 + 100 + 50 - 100 - 100 - 25;
      expect(await balance("m1")).toBe(expected);

      // Referral, churn alert, win-back.
      const now = Date.now();
      const enrolled: MemberChanged = {
        eventId: `mem-${ns}-m2`,
        type: "ENROLLED",
        memberId: "m2",
        eventTime: now,
        enrolledVia: "registration",
        birthday: null,
        referrerMemberId: "m1",
      };
      await inputs.produce(inputs.topics.memberChanges, [enrolled]);
      const alert: ChurnAlert = {
        eventId: `churn-${ns}-m2`,
        memberId: "m2",
        eventTime: now + 1,
        pAlive: 0.1,
        expectedPurchases: 0.2,
        horizonDays: 90,
        expectedValueMinor: 1000,
        currency: "USD",
        segment: "regular",
        actionLevel: "at-risk",
        reason: "inactive",
        modelVersion: "test",
      };
      await inputs.produce(inputs.topics.churnAlerts, [alert]);
      await waitFor("enrolment and alert", count, (n) => n >= 7);
      await inputs.produce(inputs.topics.purchases, [purchase("m2", "D", 1_000, Date.now())]);
      await waitFor("D", count, (n) => n >= 8);
      expect((await entries("m2")).map((e) => [e.rule_id, e.points])).toEqual([
        ["referral-referee", 500],
        ["base-points", 10 * 2],
        ["first-purchase", 100],
        ["winback-bonus", 250],
      ]);
      expect(await balance("m1")).toBe(expected + 500);

      // loyalty.points.v1 carries every committed entry with its committed balance.
      const all = (await pool.query("select entry_id, member_id, balance_after, points from ledger_entries"))
        .rows;
      const out = await readTopic(inputs.kafka, inputs.topics.points.name, (ms) => ms.length >= all.length);
      const movements = await Promise.all(
        out.map((m) => inputs.codec.decode<PointsMovement>(m.value as Buffer)),
      );
      expect(movements.length).toBe(all.length);
      const byId = new Map(all.map((e) => [e.entry_id, e]));
      for (const mv of movements) {
        expect(byId.get(mv.eventId)?.balance_after).toBe(mv.balanceAfter);
        expect(mv.ruleId).not.toBeNull();
      }
      const campaigns = await readTopic(inputs.kafka, inputs.topics.campaigns.name, (ms) => ms.length >= 1);
      const cmp = await inputs.codec.decode<CampaignTriggered>(campaigns[0]?.value as Buffer);
      expect([cmp.memberId, cmp.campaignId, cmp.ruleId, cmp.sourceEventId]).toEqual([
        "m2",
        "winback",
        "winback-offer",
        alert.eventId,
      ]);
      expect((await verifyLedger(pool)).differences).toEqual([]);
    } finally {
      expect(await stopService(svc)).toBe(0);
    }
  }, 180_000);

  it("does not claw back points that expired in an earlier batch (ADR 14)", async () => {
    const inputs = new Inputs(stack, ns);
    await inputs.prepare();
    const svc = await startService(stack, ns);
    const priced = async () =>
      (await pool.query("select count(*)::int as n from rules_priced_events where member_id = 'm3'")).rows[0]
        .n as number;
    try {
      // E's lots expire 12 months on, before F. Each step waits, so that the expiry (written with
      // F) is in the ledger before the cancellation is loaded. From now on in event time: the
      // partition's stream time is already at the earlier tests' events, and a purchase further
      // back would find its own lot expired by the punctuation after it.
      const day = 86_400_000;
      const t0 = Date.now() + day;
      const e = purchase("m3", "E", 4_000, t0);
      await inputs.produce(inputs.topics.purchases, [e]);
      await waitFor("E", priced, (n) => n >= 1);
      await inputs.produce(inputs.topics.purchases, [purchase("m3", "F", 3_000, t0 + 400 * day)]);
      await waitFor("F", priced, (n) => n >= 2);
      const before = await entries("m3");
      const earnedE = before.filter((r) => r.kind === "earn" && r.source_event_id === e.eventId);
      const expired = before.filter((r) => r.kind === "expire");
      expect(expired.map((r) => r.points).sort()).toEqual(earnedE.map((r) => -r.points).sort());
      const kept = await balance("m3");
      expect(kept).toBeGreaterThan(0);

      await inputs.produce(inputs.topics.purchases, [cancellationOf(e, t0 + 401 * day)]);
      await waitFor("the cancellation", priced, (n) => n >= 3);
      const reversals = (
        await pool.query(
          `select points, reason, detail from ledger_entries
            where member_id = 'm3' and kind = 'reverse' order by seq`,
        )
      ).rows;
      expect(reversals.map((r) => [r.points, r.reason, r.detail.expired, r.detail.shortfall])).toEqual(
        earnedE.map((r) => [0, "clawback-expired", r.points, 0]),
      );
      // F's points stay: E's were lost once already, to the expiry.
      expect(await balance("m3")).toBe(kept);
      const shortfall = await pool.query("select shortfall from ledger_balances where member_id = 'm3'");
      expect(shortfall.rows[0]?.shortfall).toBe(0);
      expect((await verifyLedger(pool)).differences).toEqual([]);
    } finally {
      expect(await stopService(svc)).toBe(0);
    }
  }, 120_000);
});
