// One order against a draft, explained rule by rule (server/simulate.ts), without I/O: the
// standard programme plus a paused rule, for a gold member's first order with jazz in it.
import { type RuleSet, STANDARD_RULES_DIR, readRuleSetSource, validateRuleSet } from "@loyalty/rules-engine";
import { describe, expect, it } from "vitest";
import { orderRequestOf, simulateOrder } from "../server/simulate.ts";

const source = readRuleSetSource(STANDARD_RULES_DIR());
const checked = validateRuleSet(
  {
    ...(source.json as RuleSet),
    version: 2,
    rules: [
      ...(source.json as RuleSet).rules,
      {
        id: "paused-bonus",
        version: 1,
        name: "paused",
        status: "paused",
        priority: 10,
        trigger: "order.placed",
        conditions: { all: [] },
        event: { type: "fixed-bonus", params: { points: 5 } },
      },
    ],
  },
  source.programme,
);
if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
const draft = checked.ruleSet;

const request = (placedAt: string) => {
  const r = orderRequestOf({
    order: {
      placedAt,
      amountMinor: 4_250,
      currency: "USD",
      lines: [{ sku: "cd-1", category: "jazz", quantity: 1, unitPriceMinor: 4_250 }],
    },
    member: { tier: "gold", orderCount: 0 },
  });
  if (!r.ok) throw new Error(r.message);
  return r;
};

describe("simulateOrder", () => {
  it("gives each rule its outcome, points and reason, the conditions with the facts' values", () => {
    const { order, member } = request("2026-06-10T15:00:00Z");
    const s = simulateOrder(draft, source.programme, order, member);
    const by = new Map(s.rules.map((r) => [r.ruleId, r]));
    expect(s.rules.map((r) => r.ruleId)).toEqual(draft.rules.map((r) => r.id));
    expect(by.get("base-points")).toMatchObject({ outcome: "awarded", points: 42 });
    expect(by.get("tier-gold")).toMatchObject({ outcome: "awarded", points: 21 });
    expect(by.get("first-purchase")).toMatchObject({ outcome: "awarded", points: 100 });
    const platinum = by.get("tier-platinum");
    expect(platinum?.outcome).toBe("conditions-false");
    expect(platinum?.why).toBe('false: member.tier equal "platinum"');
    expect(platinum?.conditions).toEqual([
      {
        at: "conditions.all[0]",
        fact: "member.tier",
        operator: "equal",
        value: "platinum",
        actual: "gold",
        result: false,
      },
    ]);
    expect(by.get("referral-referee")?.outcome).toBe("other-trigger");
    expect(by.get("winback-offer")?.why).toBe("fires on churn.alerted, not on an order");
    expect(by.get("paused-bonus")).toMatchObject({ outcome: "inactive", why: "status paused" });
    expect(by.get("jazz-double")?.conditions[0]).toMatchObject({
      fact: "order.categories",
      actual: ["jazz"],
      result: true,
    });
    expect(s.totalPoints).toBe(s.rules.reduce((n, r) => n + r.points, 0));
    expect(s.totalPoints).toBeGreaterThanOrEqual(42 + 21 + 100);
  });

  it("says when an order falls outside a rule's validity", () => {
    const { order, member } = request("2028-01-10T15:00:00Z");
    const jazz = simulateOrder(draft, source.programme, order, member).rules.find(
      (r) => r.ruleId === "jazz-double",
    );
    expect(jazz?.outcome).toBe("outside-validity");
    expect(jazz?.points).toBe(0);
  });

  it("names the first problem of a bad request", () => {
    expect(orderRequestOf({ order: { placedAt: "soon" } })).toEqual({
      ok: false,
      field: "order.placedAt",
      message: "an ISO 8601 time",
    });
    expect(
      orderRequestOf({
        order: { placedAt: "2026-01-01T00:00:00Z", amountMinor: 1, currency: "USD" },
        member: {},
      }),
    ).toMatchObject({ ok: false, field: "member.tier" });
  });
});
