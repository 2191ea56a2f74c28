import { describe, expect, it } from "vitest";
import { AmountOutOfRangeError } from "../../src/rules/arith.ts";
import { candidates } from "../../src/rules/compile.ts";
import { evaluate } from "../../src/rules/evaluate.ts";
import { buildMemberEventFacts, buildOrderFacts } from "../../src/rules/facts.ts";
import { BASE_RULE, NOW, PROGRAMME, WIDE_PROGRAMME, compileRules, member, order, rule } from "./helpers.ts";

const facts = (o = {}, m = {}) => buildOrderFacts(order(o), member(m), PROGRAMME);
const ppu = (rate: unknown, rounding = "floor") => ({ type: "points-per-unit", params: { rate, rounding } });
const mult = (factor: unknown, rounding = "floor") => ({
  type: "multiplier",
  params: { factor, appliesTo: "base", rounding },
});
const tierIs = (tier: string) => ({ all: [{ fact: "member.tier", operator: "equal", value: tier }] });

describe("points-per-unit", () => {
  it("1 point per dollar on the base amount", () => {
    const ev = evaluate(compileRules([BASE_RULE]), "order.placed", facts(), NOW);
    expect(ev.awards).toEqual([
      {
        ruleId: "base",
        ruleVersion: 1,
        kind: "base",
        recipient: "member",
        points: 100,
        requestedPoints: 100,
        trimmedBy: [],
        pricing: {
          kind: "base",
          baseAmountMinor: 10_000,
          currency: "USD",
          currencyExponent: 2,
          rate: "1/1",
          rounding: "floor",
        },
      },
    ]);
    expect(ev.totalPoints).toEqual({ member: 100, referrer: 0 });
  });

  it.each([
    ["floor", 1050, 10],
    ["ceil", 1050, 11],
    ["half-up", 1050, 11],
    ["half-even", 1050, 10],
    ["half-even", 1150, 12],
    ["half-up", 1049, 10],
    ["ceil", 1000, 10],
  ])("rounding %s of %i minor units", (rounding, amount, points) => {
    const c = compileRules([rule({ id: "b", event: ppu("1", rounding) })]);
    const ev = evaluate(c, "order.placed", facts({ amountMinor: amount }), NOW);
    expect(ev.awards[0]?.points).toBe(points);
  });

  it("fractional rates without float drift", () => {
    const third = compileRules([rule({ id: "b", event: ppu({ numerator: 1, denominator: 3 }) })]);
    expect(evaluate(third, "order.placed", facts(), NOW).awards[0]?.points).toBe(33);
    expect(evaluate(third, "order.placed", facts(), NOW).awards[0]?.pricing).toMatchObject({ rate: "1/3" });
    // 0.1 + 0.2 style drift: 0.07 * 100 = 7.000000000000001 in floats; exact here.
    const rate = compileRules([rule({ id: "b", event: ppu("0.07", "ceil") })]);
    expect(evaluate(rate, "order.placed", facts({ amountMinor: 10_000 }), NOW).awards[0]?.points).toBe(7);
    // Large amounts stay exact (BigInt path) while the award is a safe integer...
    // (The programme's maxOrderAmountMinor bounds the rate for the validator; the 9e12 order
    // below is larger than that bound, which the engine does not enforce.)
    const big = compileRules([rule({ id: "b", event: ppu("123456.789") })], 1, {
      ...WIDE_PROGRAMME,
      maxOrderAmountMinor: 7_000_000_000_000,
    });
    const ev = evaluate(big, "order.placed", facts({ amountMinor: 7_000_000_000_000 }), NOW);
    expect(ev.awards[0]?.points).toBe(8_641_975_230_000_000);
    expect(BigInt(ev.awards[0]?.points ?? 0)).toBe((7_000_000_000_000n * 123456789n) / 100_000n);
    // ...and past Number.MAX_SAFE_INTEGER the award is refused, not rounded.
    expect(() => evaluate(big, "order.placed", facts({ amountMinor: 9_000_000_000_000 }), NOW)).toThrow(
      AmountOutOfRangeError,
    );
  });

  it("uses baseAmountMinor, not the order-currency amount", () => {
    const f = facts({ currency: "EUR", amountMinor: 10_000, baseAmountMinor: 11_000 });
    expect(evaluate(compileRules([BASE_RULE]), "order.placed", f, NOW).awards[0]?.points).toBe(110);
    expect(() => facts({ currency: "EUR" })).toThrow(/needs baseAmountMinor/);
  });

  it("a zero-point award is not an award", () => {
    const ev = evaluate(
      compileRules([rule({ id: "b", event: ppu("1") })]),
      "order.placed",
      facts({ amountMinor: 40 }),
      NOW,
    );
    expect(ev.awards).toEqual([]);
    expect(ev.matched).toHaveLength(1);
  });
});

describe("multipliers", () => {
  it("apply to the base of the same event", () => {
    const c = compileRules([BASE_RULE, rule({ id: "gold", conditions: tierIs("gold"), event: mult("1.5") })]);
    const ev = evaluate(c, "order.placed", facts({}, { tier: "gold" }), NOW);
    expect(ev.awards.map((a) => [a.ruleId, a.kind, a.points])).toEqual([
      ["base", "base", 100],
      ["gold", "multiplier", 50],
    ]);
    expect(ev.awards[1]?.pricing).toEqual({
      kind: "multiplier",
      baseAmountMinor: 10_000,
      currency: "USD",
      currencyExponent: 2,
      rate: "1/1",
      factor: "3/2",
      rounding: "floor",
    });
  });

  it("stack additively, each rounded once from the exact base", () => {
    const c = compileRules([
      BASE_RULE,
      rule({ id: "gold", conditions: tierIs("gold"), event: mult("1.5") }),
      rule({
        id: "bday",
        conditions: { all: [{ fact: "member.isBirthdayMonth", operator: "equal", value: true }] },
        event: mult("2"),
      }),
    ]);
    // $10.99: base floor(10.99) = 10, gold floor(5.495) = 5, birthday floor(10.99) = 10.
    const ev = evaluate(
      c,
      "order.placed",
      facts({ amountMinor: 1099 }, { tier: "gold", birthdayMonth: 6 }),
      NOW,
    );
    expect(ev.awards.map((a) => [a.ruleId, a.points])).toEqual([
      ["base", 10],
      ["bday", 10],
      ["gold", 5],
    ]);
    expect(ev.totalPoints.member).toBe(25); // x2.5, not x3
  });

  it("multiplier rounding modes", () => {
    for (const [mode, pts] of [
      ["floor", 5],
      ["ceil", 6],
      ["half-up", 5],
      ["half-even", 5],
    ] as const) {
      const c = compileRules([
        BASE_RULE,
        rule({ id: "m", event: mult({ numerator: 3, denominator: 2 }, mode) }),
      ]);
      expect(evaluate(c, "order.placed", facts({ amountMinor: 1099 }), NOW).awards[1]?.points).toBe(pts);
    }
  });

  it("apply to the sum of several base rates", () => {
    const c = compileRules([
      BASE_RULE,
      rule({
        id: "web-extra",
        conditions: { all: [{ fact: "order.channel", operator: "equal", value: "web" }] },
        event: ppu("0.5"),
      }),
      rule({ id: "m", event: mult("2") }),
    ]);
    const ev = evaluate(c, "order.placed", facts(), NOW);
    expect(ev.awards.map((a) => [a.ruleId, a.points])).toEqual([
      ["base", 100],
      ["m", 150],
      ["web-extra", 50],
    ]);
    expect(ev.awards[1]?.pricing).toMatchObject({ rate: "3/2", factor: "2/1" });
  });

  it("without a base award there is nothing to multiply", () => {
    const c = compileRules([
      rule({ id: "base", status: "paused", event: ppu("1") }),
      rule({ id: "m", event: mult("2") }),
    ]);
    const ev = evaluate(c, "order.placed", facts(), NOW);
    expect(ev.awards).toEqual([]);
    expect(ev.denied).toEqual([{ ruleId: "m", ruleVersion: 1, requestedPoints: 0, reason: "no-base" }]);
  });
});

describe("fixed bonuses, campaigns, recipients", () => {
  it("fixed bonus and campaign", () => {
    const c = compileRules([
      rule({ id: "bonus", event: { type: "fixed-bonus", params: { points: 75 } } }),
      rule({
        id: "camp",
        event: { type: "campaign", params: { campaignId: "summer", reward: { coupon: "SUMMER10" } } },
      }),
    ]);
    const ev = evaluate(c, "order.placed", facts(), NOW);
    expect(ev.awards).toMatchObject([
      { ruleId: "bonus", kind: "bonus", points: 75, pricing: { kind: "bonus" } },
    ]);
    expect(ev.campaigns).toEqual([
      { ruleId: "camp", ruleVersion: 1, campaignId: "summer", reward: { coupon: "SUMMER10" } },
    ]);
  });

  it("referral pays both sides through two rules", () => {
    const c = compileRules([
      rule({
        id: "referee",
        trigger: "member.referred",
        event: { type: "fixed-bonus", params: { points: 500 } },
      }),
      rule({
        id: "referrer",
        trigger: "member.referred",
        event: { type: "fixed-bonus", params: { points: 300, recipient: "referrer" } },
      }),
    ]);
    const f = buildMemberEventFacts(member({ orderCount: 0 }), PROGRAMME, NOW, {
      referral: { referrerTier: "gold" },
    });
    const ev = evaluate(c, "member.referred", f, NOW);
    expect(ev.awards.map((a) => [a.ruleId, a.recipient, a.points])).toEqual([
      ["referee", "member", 500],
      ["referrer", "referrer", 300],
    ]);
    expect(ev.totalPoints).toEqual({ member: 500, referrer: 300 });
    expect(evaluate(c, "order.placed", facts(), NOW).matched).toEqual([]);
  });
});

describe("exclusive groups and priority", () => {
  const tiers = [
    BASE_RULE,
    rule({ id: "t-silver", priority: 91, exclusiveGroup: "tier", event: mult("1.25") }),
    rule({ id: "t-gold", priority: 92, exclusiveGroup: "tier", event: mult("1.5") }),
    rule({ id: "t-plat", priority: 93, exclusiveGroup: "tier", event: mult("2") }),
    rule({ id: "stack", priority: 5, event: mult("1.1") }),
  ];

  it("highest priority wins the group, rules without a group stack", () => {
    const ev = evaluate(compileRules(tiers), "order.placed", facts(), NOW);
    expect(ev.awards.map((a) => a.ruleId)).toEqual(["base", "t-plat", "stack"]);
    expect(ev.suppressed).toEqual([
      { ruleId: "t-gold", ruleVersion: 1, group: "tier", winnerId: "t-plat" },
      { ruleId: "t-silver", ruleVersion: 1, group: "tier", winnerId: "t-plat" },
    ]);
    expect(ev.totalPoints.member).toBe(100 + 100 + 10);
  });

  it("equal priority: lowest id wins", () => {
    const c = compileRules([
      rule({ id: "b-bonus", exclusiveGroup: "g", event: { type: "fixed-bonus", params: { points: 2 } } }),
      rule({ id: "a-bonus", exclusiveGroup: "g", event: { type: "fixed-bonus", params: { points: 1 } } }),
    ]);
    const ev = evaluate(c, "order.placed", facts(), NOW);
    expect(ev.awards.map((a) => a.ruleId)).toEqual(["a-bonus"]);
  });

  it("a group member that does not match does not block the others", () => {
    const c = compileRules([
      BASE_RULE,
      rule({
        id: "t-gold",
        priority: 92,
        exclusiveGroup: "tier",
        conditions: tierIs("gold"),
        event: mult("1.5"),
      }),
      rule({
        id: "t-plat",
        priority: 93,
        exclusiveGroup: "tier",
        conditions: tierIs("platinum"),
        event: mult("2"),
      }),
    ]);
    const ev = evaluate(c, "order.placed", facts({}, { tier: "gold" }), NOW);
    expect(ev.awards.map((a) => a.ruleId)).toEqual(["base", "t-gold"]);
    expect(ev.suppressed).toEqual([]);
  });
});

describe("budgets and caps", () => {
  const capped = (extra: Record<string, unknown>) =>
    compileRules([rule({ id: "bonus", event: { type: "fixed-bonus", params: { points: 100 } }, ...extra })]);

  it("trims to the remaining budget and reports consumption", () => {
    const ev = evaluate(capped({ budget: { totalPoints: 1000 } }), "order.placed", facts(), NOW, {
      budgetUsed: { bonus: 960 },
    });
    expect(ev.awards[0]).toMatchObject({ points: 40, requestedPoints: 100, trimmedBy: ["budget"] });
    expect(ev.consumption).toEqual([{ limit: "budget", ruleId: "bonus", recipient: "member", points: 40 }]);
  });

  it("denies when the budget is spent", () => {
    const ev = evaluate(capped({ budget: { totalPoints: 1000 } }), "order.placed", facts(), NOW, {
      budgetUsed: { bonus: 1000 },
    });
    expect(ev.awards).toEqual([]);
    expect(ev.denied).toEqual([{ ruleId: "bonus", ruleVersion: 1, requestedPoints: 100, reason: "budget" }]);
    expect(ev.consumption).toEqual([]);
  });

  it("per member per day and per campaign: the tightest limit wins", () => {
    const c = capped({
      budget: { totalPoints: 10_000 },
      caps: { perMemberPerDay: 150, perMemberPerCampaign: 500 },
    });
    const ev = evaluate(c, "order.placed", facts(), NOW, {
      budgetUsed: { bonus: 10 },
      member: { day: { bonus: 120 }, campaign: { bonus: 420 } },
    });
    expect(ev.awards[0]).toMatchObject({ points: 30, trimmedBy: ["member-day"] });
    expect(ev.consumption).toEqual([
      { limit: "budget", ruleId: "bonus", recipient: "member", points: 30 },
      { limit: "member-day", ruleId: "bonus", recipient: "member", points: 30 },
      { limit: "member-campaign", ruleId: "bonus", recipient: "member", points: 30 },
    ]);
    const ev2 = evaluate(c, "order.placed", facts(), NOW, {
      member: { day: { bonus: 0 }, campaign: { bonus: 480 } },
    });
    expect(ev2.awards[0]).toMatchObject({ points: 20, trimmedBy: ["member-campaign"] });
    const ev3 = evaluate(c, "order.placed", facts(), NOW, { member: { campaign: { bonus: 500 } } });
    expect(ev3.denied[0]?.reason).toBe("member-campaign");
  });

  it("caps of referrer awards use the referrer's counters", () => {
    const c = compileRules([
      rule({
        id: "ref",
        trigger: "member.referred",
        caps: { perMemberPerCampaign: 1000 },
        event: { type: "fixed-bonus", params: { points: 500, recipient: "referrer" } },
      }),
    ]);
    const f = buildMemberEventFacts(member(), PROGRAMME, NOW, { referral: { referrerTier: "gold" } });
    const ev = evaluate(c, "member.referred", f, NOW, {
      member: { campaign: { ref: 1000 } },
      referrer: { campaign: { ref: 700 } },
    });
    expect(ev.awards[0]).toMatchObject({ recipient: "referrer", points: 300 });
    expect(ev.consumption).toEqual([
      { limit: "member-campaign", ruleId: "ref", recipient: "referrer", points: 300 },
    ]);
  });

  it("counters cannot be spoofed through the prototype", () => {
    const c = capped({ budget: { totalPoints: 1000 } });
    const usage = JSON.parse('{"budgetUsed":{"__proto__":{"bonus":1000}}}');
    expect(evaluate(c, "order.placed", facts(), NOW, usage).awards[0]?.points).toBe(100);
  });
});

describe("status, validity windows and targeting", () => {
  it("only active rules fire", () => {
    const c = compileRules(
      ["draft", "active", "paused", "retired"].map((status) => rule({ id: status, status })),
    );
    expect(evaluate(c, "order.placed", facts(), NOW).matched.map((m) => m.ruleId)).toEqual(["active"]);
    expect(c.rules.map((r) => r.id)).toEqual(["active"]);
  });

  it("window: from inclusive, until exclusive, in event time", () => {
    const c = compileRules([
      rule({ validity: { from: "2025-06-01T00:00:00-04:00", until: "2025-07-01T00:00:00-04:00" } }),
    ]);
    const fired = (t: string | number | Date) => evaluate(c, "order.placed", facts(), t).matched.length === 1;
    expect(fired("2025-06-01T04:00:00Z")).toBe(true);
    expect(fired("2025-06-01T03:59:59.999Z")).toBe(false);
    expect(fired(Date.parse("2025-07-01T03:59:59.999Z"))).toBe(true);
    expect(fired(new Date("2025-07-01T04:00:00Z"))).toBe(false);
    expect(() => fired("not a date")).toThrow(/invalid event time/);
  });

  it("open-ended windows", () => {
    const from = compileRules([rule({ validity: { from: "2025-06-01T00:00:00Z" } })]);
    expect(evaluate(from, "order.placed", facts(), "2099-01-01T00:00:00Z").matched).toHaveLength(1);
    expect(evaluate(from, "order.placed", facts(), "2025-05-31T23:59:59Z").matched).toHaveLength(0);
    const until = compileRules([rule({ validity: { until: "2025-06-01T00:00:00Z" } })]);
    expect(evaluate(until, "order.placed", facts(), "1990-01-01T00:00:00Z").matched).toHaveLength(1);
  });

  it("targeting by tier and segment", () => {
    const c = compileRules([
      rule({ id: "tiers", targeting: { tiers: ["gold", "platinum"] } }),
      rule({ id: "segments", targeting: { segments: ["students"] } }),
      rule({ id: "both", targeting: { tiers: ["gold"], segments: ["students"] } }),
    ]);
    const ids = (m: Record<string, unknown>) =>
      evaluate(c, "order.placed", facts({}, m), NOW).matched.map((r) => r.ruleId);
    expect(ids({ tier: "gold", segment: "students" })).toEqual(["both", "segments", "tiers"]);
    expect(ids({ tier: "platinum", segment: "regular" })).toEqual(["tiers"]);
    expect(ids({ tier: "member", segment: "students" })).toEqual(["segments"]);
    expect(ids({ tier: "member", segment: null })).toEqual([]);
  });
});

describe("index", () => {
  it("rules are reached through discriminators, most are never looked at", () => {
    const rules = [BASE_RULE];
    for (let i = 0; i < 20; i++) {
      rules.push(
        rule({
          id: `cat-${i}`,
          conditions: { all: [{ fact: "order.categories", operator: "contains", value: `c${i}` }] },
        }),
      );
      rules.push(
        rule({
          id: `store-${i}`,
          conditions: { all: [{ fact: "order.storeId", operator: "equal", value: `s${i}` }] },
        }),
      );
      rules.push(rule({ id: `tier-${i}`, targeting: { tiers: [`t${i}`] } }));
      rules.push(
        rule({
          id: `ch-${i}`,
          conditions: { all: [{ fact: "order.channel", operator: "in", value: [`x${i}`, `y${i}`] }] },
        }),
      );
    }
    const c = compileRules(rules);
    expect(c.rules.find((r) => r.id === "cat-3")?.indexedBy).toBe("order.categories contains");
    expect(c.rules.find((r) => r.id === "store-3")?.indexedBy).toBe("order.storeId=");
    expect(c.rules.find((r) => r.id === "tier-3")?.indexedBy).toBe("targeting.tiers");
    expect(c.rules.find((r) => r.id === "ch-3")?.indexedBy).toBe("order.channel in");
    const f = buildOrderFacts(
      order({
        storeId: "s7",
        channel: "y4",
        lines: [
          { sku: "a", category: "c2", quantity: 1, unitPriceMinor: 100 },
          { sku: "b", category: "c5", quantity: 1, unitPriceMinor: 100 },
          { sku: "c", category: "c2", quantity: 1, unitPriceMinor: 100 },
        ],
      }),
      member({ tier: "t9" }),
      PROGRAMME,
    );
    const cands = candidates(c, "order.placed", f).map((r) => r.id);
    expect(cands.sort()).toEqual(["base", "cat-2", "cat-5", "ch-4", "store-7", "tier-9"].sort());
    const ev = evaluate(c, "order.placed", f, NOW);
    expect(ev.matched.map((m) => m.ruleId)).toEqual(["base", "cat-2", "cat-5", "ch-4", "store-7", "tier-9"]);
  });
});

describe("CompiledRuleSetCache", () => {
  it("compiles once per rule-set id and version", async () => {
    const { CompiledRuleSetCache } = await import("../../src/rules/compile.ts");
    const { mustValidate, ruleSet } = await import("./helpers.ts");
    const cache = new CompiledRuleSetCache(PROGRAMME);
    const v1 = mustValidate(ruleSet([BASE_RULE], 1));
    const v2 = mustValidate(ruleSet([BASE_RULE, rule()], 2));
    const a = cache.get(v1);
    expect(cache.get(mustValidate(ruleSet([BASE_RULE], 1)))).toBe(a);
    expect(cache.get(v2)).not.toBe(a);
    expect(cache.get(v2).rules).toHaveLength(2);
  });
});
