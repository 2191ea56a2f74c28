import { describe, expect, it } from "vitest";
import { type RecordedAward, type RefundState, clawback } from "../../src/rules/clawback.ts";
import { type Award, evaluate } from "../../src/rules/evaluate.ts";
import { buildOrderFacts } from "../../src/rules/facts.ts";
import { BASE_RULE, NOW, PROGRAMME, compileRules, member, order, rule } from "./helpers.ts";

const record = (awards: Award[]): RecordedAward[] =>
  awards.map((a) => ({
    ruleId: a.ruleId,
    ruleVersion: a.ruleVersion,
    kind: a.kind,
    recipient: a.recipient,
    points: a.points,
    pricing: a.pricing,
    reversedPoints: 0,
  }));

const mult = (factor: string) => ({
  type: "multiplier",
  params: { factor, appliesTo: "base", rounding: "floor" },
});
const RULES = [
  BASE_RULE,
  rule({ id: "gold", priority: 50, event: mult("1.5") }),
  rule({ id: "bonus", priority: 40, event: { type: "fixed-bonus", params: { points: 100 } } }),
];

function earn(amountMinor: number, rules = RULES, version = 1) {
  const input = order({ amountMinor });
  const ev = evaluate(
    compileRules(rules, version),
    "order.placed",
    buildOrderFacts(input, member(), PROGRAMME),
    NOW,
  );
  return { o: { ...input, baseAmountMinor: amountMinor }, awards: record(ev.awards) };
}

/** Mulberry32: small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("clawback", () => {
  it("a full refund reverses every award", () => {
    const { o, awards } = earn(12_345);
    expect(awards.map((a) => a.points)).toEqual([123, 61, 100]);
    const r = clawback({ order: o, awards, refund: { kind: "full" } });
    expect(r.fullyRefunded).toBe(true);
    expect(r.reversals.map((x) => [x.ruleId, x.points])).toEqual([
      ["base", 123],
      ["gold", 61],
      ["bonus", 100],
    ]);
    expect(r.totalPoints.member).toBe(284);
  });

  it("a partial refund re-prices base and multiplier on the kept amount; bonuses stay", () => {
    const { o, awards } = earn(12_345);
    // Keeps $83.45: base floor(83.45) = 83, gold floor(41.725) = 41.
    const r = clawback({ order: o, awards, refund: { kind: "amount", baseAmountMinor: 4_000 } });
    expect(r.reversals.map((x) => [x.ruleId, x.points])).toEqual([
      ["base", 40],
      ["gold", 20],
    ]);
    expect(r.state).toEqual({ refundedBaseMinor: 4_000 });
    expect(r.refundBaseMinor).toBe(4_000);
  });

  it("partial refunds always sum exactly to the original, never over-reverse", () => {
    const rand = prng(42);
    for (let trial = 0; trial < 300; trial++) {
      const amount = 1 + Math.floor(rand() * 500_000);
      const factor = ["1.25", "1.5", "2", "1.1"][trial % 4] ?? "2";
      const rate = ["1", "0.5", "1.75", "3"][Math.floor(rand() * 4)] ?? "1";
      const rounding = ["floor", "ceil", "half-up", "half-even"][trial % 4] ?? "floor";
      const rules = [
        rule({ id: "base", priority: 100, event: { type: "points-per-unit", params: { rate, rounding } } }),
        rule({
          id: "m",
          priority: 50,
          event: { type: "multiplier", params: { factor, appliesTo: "base", rounding } },
        }),
        rule({ id: "bonus", priority: 40, event: { type: "fixed-bonus", params: { points: 7 } } }),
      ];
      const { o, awards } = earn(amount, rules);
      let state: RefundState = { refundedBaseMinor: 0 };
      const reversed = awards.map(() => 0);
      let steps = 0;
      while (state.refundedBaseMinor < amount && steps < 20) {
        steps++;
        const last = steps === 20;
        const part = last ? amount : 1 + Math.floor(rand() * (amount / 3));
        const current = awards.map((a, i) => ({ ...a, reversedPoints: reversed[i] ?? 0 }));
        const r = clawback({
          order: o,
          awards: current,
          previous: state,
          refund: { kind: "amount", baseAmountMinor: part },
        });
        for (const rev of r.reversals) {
          const a = awards[rev.awardIndex];
          expect(rev.points).toBeGreaterThan(0);
          expect(rev.points).toBeLessThanOrEqual((a?.points ?? 0) - (reversed[rev.awardIndex] ?? 0));
          reversed[rev.awardIndex] = (reversed[rev.awardIndex] ?? 0) + rev.points;
        }
        state = r.state;
      }
      expect(reversed).toEqual(awards.map((a) => a.points));
      // Once fully reversed, further refunds reverse nothing.
      const again = clawback({
        order: o,
        awards: awards.map((a, i) => ({ ...a, reversedPoints: reversed[i] ?? 0 })),
        previous: state,
        refund: { kind: "full" },
      });
      expect(again.reversals).toEqual([]);
    }
  });

  it("honours the original version, rate and factor after a rule change", () => {
    const { o, awards } = earn(10_000); // v1: 1 pt/$ and x1.5
    const v2 = [
      {
        ...BASE_RULE,
        version: 2,
        event: { type: "points-per-unit", params: { rate: "3", rounding: "ceil" } },
      },
      rule({ id: "gold", version: 2, priority: 50, event: mult("4") }),
    ];
    const now = evaluate(compileRules(v2, 2), "order.placed", buildOrderFacts(o, member(), PROGRAMME), NOW);
    expect(now.awards.map((a) => [a.ruleId, a.ruleVersion, a.points])).toEqual([
      ["base", 2, 300],
      ["gold", 2, 900],
    ]);
    const r = clawback({ order: o, awards, refund: { kind: "amount", baseAmountMinor: 2_500 } });
    expect(r.reversals.map((x) => [x.ruleId, x.ruleVersion, x.points])).toEqual([
      ["base", 1, 25],
      ["gold", 1, 13], // keeps floor(75 * 0.5) = 37 of 50
    ]);
  });

  it("an award trimmed by a cap keeps the cap on the kept amount", () => {
    const rules = [{ ...BASE_RULE, caps: { perMemberPerDay: 50 } }];
    const { o, awards } = earn(10_000, rules);
    expect(awards[0]?.points).toBe(50);
    expect(
      clawback({ order: o, awards, refund: { kind: "amount", baseAmountMinor: 4_000 } }).reversals,
    ).toEqual([]);
    const r = clawback({ order: o, awards, refund: { kind: "amount", baseAmountMinor: 6_000 } });
    expect(r.reversals[0]?.points).toBe(10);
  });

  it("refund by lines, converted to base currency cumulatively", () => {
    const o = {
      ...order({
        currency: "EUR",
        amountMinor: 10_000,
        baseAmountMinor: 10_999,
        lines: [
          { sku: "a", category: "rock", quantity: 3, unitPriceMinor: 1_111 },
          { sku: "b", category: "jazz", quantity: 1, unitPriceMinor: 6_667 },
        ],
      }),
      baseAmountMinor: 10_999,
    };
    const ev = evaluate(
      compileRules([BASE_RULE]),
      "order.placed",
      buildOrderFacts(o, member(), PROGRAMME),
      NOW,
    );
    const awards = record(ev.awards);
    expect(awards[0]?.points).toBe(109);
    let state: RefundState = { refundedBaseMinor: 0 };
    let total = 0;
    for (const line of [
      { sku: "a", quantity: 1 },
      { sku: "a", quantity: 2 },
      { sku: "b", quantity: 1 },
    ]) {
      const r = clawback({
        order: o,
        awards: awards.map((a) => ({ ...a, reversedPoints: total })),
        previous: state,
        refund: { kind: "lines", lines: [line] },
      });
      total += r.totalPoints.member;
      state = r.state;
    }
    expect(state.refundedBaseMinor).toBe(10_999);
    expect(state.refundedLines).toEqual({ a: 3, b: 1 });
    expect(total).toBe(109);
    expect(() =>
      clawback({
        order: o,
        awards,
        previous: state,
        refund: { kind: "lines", lines: [{ sku: "b", quantity: 1 }] },
      }),
    ).toThrow(/exceeds the quantity ordered/);
  });

  it("over-refunds clamp to the order amount", () => {
    const { o, awards } = earn(5_000);
    const r = clawback({ order: o, awards, refund: { kind: "amount", baseAmountMinor: 999_999 } });
    expect(r.refundBaseMinor).toBe(5_000);
    expect(r.fullyRefunded).toBe(true);
  });
});
