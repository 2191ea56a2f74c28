// Two instances of the service in one consumer group, many members across partitions, a small
// budget and a per-member daily cap: the budget is never exceeded and, with demand above it,
// is used exactly; no member passes the cap.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PurchaseEvent } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Inputs, startService, stopService, waitFor } from "./harness.ts";

const BUDGET = 1_000;
const BONUS = 10;
const DAY_CAP = 20;
const MEMBERS = 240;
const ORDERS_PER_MEMBER = 3;

let stack: TestStack;
let pool: Pool;
const ns = testNamespace();

function ruleSetDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rules-budget-"));
  const rs = {
    id: "budgeted",
    version: 1,
    rules: [
      {
        id: "base",
        version: 1,
        name: "1 point per dollar",
        status: "active",
        priority: 100,
        trigger: "order.placed",
        conditions: { all: [] },
        event: { type: "points-per-unit", params: { rate: "1", rounding: "floor" } },
      },
      {
        id: "launch-bonus",
        version: 1,
        name: "Launch bonus while the budget lasts",
        status: "active",
        priority: 50,
        budget: { totalPoints: BUDGET },
        caps: { perMemberPerDay: DAY_CAP },
        trigger: "order.placed",
        conditions: { all: [] },
        event: { type: "fixed-bonus", params: { points: BONUS } },
      },
    ],
  };
  writeFileSync(join(dir, "ruleset.json"), JSON.stringify(rs));
  return dir;
}

function orders(): PurchaseEvent[] {
  const t0 = Date.UTC(2024, 4, 1, 15);
  const out: PurchaseEvent[] = [];
  for (let k = 0; k < ORDERS_PER_MEMBER; k++)
    for (let m = 0; m < MEMBERS; m++) {
      const memberId = `b${m}`;
      const cents = 1_000 + m;
      out.push({
        eventId: `pur-${ns}-${m}-${k}`,
        type: "PURCHASE",
        memberId,
        source: "web",
        orderId: `${m}-${k}`,
        eventTime: t0 + k * 60_000 + m,
        amountMinor: cents,
        currency: "USD",
        baseAmountMinor: cents,
        baseCurrency: "USD",
        fxRate: "1",
        lines: [],
        channel: "web",
        storeId: null,
        refundId: null,
        refundedLineIds: [],
      });
    }
  return out;
}

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  Object.assign(process.env, {
    LOYALTY_NAMESPACE: ns,
    KAFKA_BROKERS: stack.kafkaBrokers.join(","),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    LOYALTY_PARTITIONS: "3",
  });
});
afterAll(async () => {
  await pool?.end();
});

describe("budgets and caps with two instances consuming together", () => {
  it("never exceed the budget and use it exactly when demand exceeds it", async () => {
    const inputs = new Inputs(stack, ns);
    await inputs.prepare(3);
    await inputs.publishRuleSet(ruleSetDir());
    const env = { RULE_SET_ID: "budgeted", RULES_BOOTSTRAP_DIR: "", CONSUMER_MAX_BATCH: "40" };
    const a = await startService(stack, ns, { ...env, INSTANCE_ID: "a" });
    const b = await startService(stack, ns, { ...env, INSTANCE_ID: "b" });
    try {
      const admin = inputs.kafka.admin();
      await admin.connect();
      // Both instances own partitions before the input arrives, so they really work together.
      await waitFor(
        "two group members with partitions",
        async () => {
          const g = (await admin.describeGroups([`${ns}.rules-engine`])).groups[0];
          return g?.state === "Stable" ? g.members.filter((m) => m.memberAssignment.length > 0).length : 0;
        },
        (n) => n === 2,
      );
      await admin.disconnect();
      const input = orders();
      await inputs.produce(inputs.topics.purchases, input);
      await waitFor(
        "all orders applied",
        async () =>
          (await pool.query("select count(*)::int as n from rules_priced_events")).rows[0].n as number,
        (n) => n >= input.length,
        120_000,
      );
      const bonus = await pool.query(
        "select coalesce(sum(points), 0)::bigint as total, count(*)::int as n from ledger_entries where rule_id = 'launch-bonus'",
      );
      expect(bonus.rows[0].total).toBe(BUDGET);
      const budgetRow = await pool.query("select used from rules_budgets where rule_id = 'launch-bonus'");
      expect(budgetRow.rows[0].used).toBe(BUDGET);
      const perMember = await pool.query(
        "select member_id, sum(points)::bigint as p from ledger_entries where rule_id = 'launch-bonus' group by member_id having sum(points) > $1",
        [DAY_CAP],
      );
      expect(perMember.rows).toEqual([]);
      // Every order earned its base points, budget or not.
      const base = await pool.query("select count(*)::int as n from ledger_entries where rule_id = 'base'");
      expect(base.rows[0].n).toBe(input.length);
      const members = await pool.query(
        "select count(distinct member_id)::int as n from ledger_entries where rule_id = 'launch-bonus'",
      );
      expect(members.rows[0].n).toBeGreaterThanOrEqual(BUDGET / DAY_CAP);
    } finally {
      const codes = await Promise.all([stopService(a), stopService(b)]);
      expect(codes).toEqual([0, 0]);
    }
  }, 200_000);
});
