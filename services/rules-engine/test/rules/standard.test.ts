import { describe, expect, it } from "vitest";
import { compileRuleSet } from "../../src/rules/compile.ts";
import { evaluate } from "../../src/rules/evaluate.ts";
import { buildMemberEventFacts, buildOrderFacts } from "../../src/rules/facts.ts";
import { validateRuleSet } from "../../src/rules/validate.ts";
import { loadStandard, member, order } from "./helpers.ts";

const { ruleSet, programme } = loadStandard();

describe("standard programme", () => {
  const v = validateRuleSet(ruleSet);
  it("passes the validator", () => {
    expect(v.ok ? [] : v.errors).toEqual([]);
  });
  if (!v.ok) return;
  const c = compileRuleSet(v.ruleSet, programme);
  const at = "2025-06-15T12:00:00Z";
  const pts = (o = {}, m = {}) => {
    const ev = evaluate(
      c,
      "order.placed",
      buildOrderFacts(order({ placedAt: at, ...o }), member(m), programme),
      at,
    );
    return Object.fromEntries(ev.awards.map((a) => [a.ruleId, a.points]));
  };

  it("1 point per dollar, tier multipliers in one group", () => {
    const rock = { lines: [{ sku: "x", category: "rock", quantity: 1, unitPriceMinor: 10_000 }] };
    expect(pts(rock)).toEqual({ "base-points": 100 });
    expect(pts(rock, { tier: "silver" })).toEqual({ "base-points": 100, "tier-silver": 25 });
    expect(pts(rock, { tier: "gold" })).toEqual({ "base-points": 100, "tier-gold": 50 });
    expect(pts(rock, { tier: "platinum" })).toEqual({ "base-points": 100, "tier-platinum": 100 });
  });

  it("birthday month, jazz promotion, first purchase and win-back", () => {
    expect(pts({}, { birthdayMonth: 6, tier: "gold" })).toEqual({
      "base-points": 100,
      "tier-gold": 50,
      "birthday-double": 100,
      "jazz-double": 100,
    });
    expect(pts({}, { orderCount: 0, atRisk: true })).toEqual({
      "base-points": 100,
      "jazz-double": 100,
      "first-purchase": 100,
      "winback-bonus": 250,
    });
  });

  it("referral pays both sides; churn alert triggers the win-back campaign", () => {
    const ref = evaluate(
      c,
      "member.referred",
      buildMemberEventFacts(member(), programme, at, { referral: { referrerTier: "gold" } }),
      at,
    );
    expect(ref.totalPoints).toEqual({ member: 500, referrer: 500 });
    const churn = evaluate(
      c,
      "churn.alerted",
      buildMemberEventFacts(member(), programme, at, { churn: { score: 85, reason: "inactivity" } }),
      at,
    );
    expect(churn.campaigns.map((x) => x.campaignId)).toEqual(["winback"]);
    const calm = evaluate(
      c,
      "churn.alerted",
      buildMemberEventFacts(member(), programme, at, { churn: { score: 20, reason: "x" } }),
      at,
    );
    expect(calm.campaigns).toEqual([]);
  });
});
