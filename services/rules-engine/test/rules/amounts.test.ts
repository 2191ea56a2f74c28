import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AmountOutOfRangeError,
  addPoints,
  mulDivRound,
  mulDivRoundBig,
  parseRational,
  toSafePoints,
} from "../../src/rules/arith.ts";
import { clawback } from "../../src/rules/clawback.ts";
import { compileRuleSet } from "../../src/rules/compile.ts";
import { evaluate } from "../../src/rules/evaluate.ts";
import { buildOrderFacts } from "../../src/rules/facts.ts";
import { simulate } from "../../src/rules/simulate.ts";
import { ROUNDINGS, type Rounding, type RuleSet } from "../../src/rules/types.ts";
import { NOW, PROGRAMME, member, order } from "./helpers.ts";

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const rounding = fc.constantFrom<Rounding>(...ROUNDINGS);
/** Amounts across the whole safe range, biased to both ends. */
const amount = fc.oneof(
  fc.integer({ min: 0, max: 1_000_000 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.constant(Number.MAX_SAFE_INTEGER),
);
/** A decimal rate as the rule format writes it: up to 12 integer and 6 fraction digits. */
const decimalText = fc
  .tuple(fc.bigInt({ min: 0n, max: 999_999_999_999n }), fc.option(fc.integer({ min: 0, max: 999_999 })))
  .map(([i, f]) => (f === null ? `${i}` : `${i}.${String(f).padStart(6, "0")}`));

/** The exact result, or the typed error: what every checked computation must produce. */
function expectExactOrRefused(exact: bigint, compute: () => number): void {
  if (exact > MAX || exact < -MAX) {
    expect(compute).toThrow(AmountOutOfRangeError);
  } else {
    const got = compute();
    expect(Number.isSafeInteger(got)).toBe(true);
    expect(BigInt(got)).toBe(exact);
  }
}

describe("toSafePoints", () => {
  it("converts the safe range exactly and refuses one past either end", () => {
    expect(toSafePoints(MAX, "x")).toBe(Number.MAX_SAFE_INTEGER);
    expect(toSafePoints(-MAX, "x")).toBe(-Number.MAX_SAFE_INTEGER);
    expect(toSafePoints(0n, "x")).toBe(0);
    for (const v of [MAX + 1n, -MAX - 1n, 10n ** 30n])
      expect(() => toSafePoints(v, "x")).toThrow(AmountOutOfRangeError);
  });

  it("throws a non-retriable error with its code, value and context", () => {
    let err: unknown;
    try {
      toSafePoints(1010099989998989900n, "base award of rule r1");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AmountOutOfRangeError);
    expect(err).toMatchObject({
      retriable: false,
      code: "AMOUNT_OUT_OF_RANGE",
      value: "1010099989998989900",
      where: "base award of rule r1",
    });
  });

  it("addPoints refuses a sum past the safe range", () => {
    expect(addPoints(Number.MAX_SAFE_INTEGER - 1, 1, "s")).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => addPoints(Number.MAX_SAFE_INTEGER, 1, "s")).toThrow(AmountOutOfRangeError);
  });
});

describe("arithmetic: exact or refused, never a lossy number (property)", () => {
  it("mulDivRound equals the exact bigint computation or throws AmountOutOfRangeError", () => {
    fc.assert(
      fc.property(
        amount,
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        rounding,
        (a, num, den, mode) => {
          const exact = mulDivRoundBig(BigInt(a), BigInt(num), BigInt(den), mode);
          expectExactOrRefused(exact, () => mulDivRound(a, num, den, mode));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("a base award at any decimal rate is the exact product or the typed error", () => {
    fc.assert(
      fc.property(amount, decimalText, rounding, (a, text, mode) => {
        const rate = parseRational(text);
        fc.pre(rate !== null && rate.num > 0);
        if (rate === null) return;
        const compiled = compileRuleSet(rs([{ id: "base", rate: text, mode }]), PROGRAMME);
        const facts = buildOrderFacts(order({ baseAmountMinor: a }), member(), PROGRAMME);
        const exact = mulDivRoundBig(BigInt(a), BigInt(rate.num), BigInt(rate.den) * 100n, mode);
        expectExactOrRefused(exact, () => {
          const ev = evaluate(compiled, "order.placed", facts, NOW);
          return ev.awards[0]?.points ?? 0;
        });
      }),
      { numRuns: 1000 },
    );
  });

  it("a multiplier uplift is the exact product or the typed error", () => {
    fc.assert(
      fc.property(amount, decimalText, decimalText, rounding, (a, rateText, factorText, mode) => {
        const rate = parseRational(rateText);
        const factor = parseRational(factorText);
        fc.pre(rate !== null && rate.num > 0 && factor !== null && factor.num > factor.den);
        if (rate === null || factor === null) return;
        const compiled = compileRuleSet(
          rs([
            { id: "base", rate: rateText, mode: "floor" },
            { id: "mult", factor: factorText, mode },
          ]),
          PROGRAMME,
        );
        const facts = buildOrderFacts(order({ baseAmountMinor: a }), member(), PROGRAMME);
        const base = mulDivRoundBig(BigInt(a), BigInt(rate.num), BigInt(rate.den) * 100n, "floor");
        const uplift = mulDivRoundBig(
          BigInt(a),
          BigInt(rate.num) * BigInt(factor.num - factor.den),
          BigInt(rate.den) * BigInt(factor.den) * 100n,
          mode,
        );
        let thrown: unknown = null;
        let points: number | undefined;
        try {
          points = evaluate(compiled, "order.placed", facts, NOW).awards.find(
            (w) => w.ruleId === "mult",
          )?.points;
        } catch (e) {
          thrown = e;
        }
        if (base > MAX || uplift > MAX || base + uplift > MAX)
          expect(thrown).toBeInstanceOf(AmountOutOfRangeError);
        else {
          expect(thrown).toBeNull();
          expect(BigInt(points ?? 0)).toBe(uplift);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("a clawback re-prices exactly or refuses", () => {
    fc.assert(
      fc.property(amount, decimalText, rounding, (a, text, mode) => {
        const rate = parseRational(text);
        fc.pre(rate !== null && rate.num > 0);
        if (rate === null) return;
        const awarded = mulDivRoundBig(BigInt(a), BigInt(rate.num), BigInt(rate.den) * 100n, mode);
        fc.pre(awarded <= MAX && awarded > 0n);
        const kept = Math.floor(a / 2);
        const repriced = mulDivRoundBig(BigInt(kept), BigInt(rate.num), BigInt(rate.den) * 100n, mode);
        const r = clawback({
          order: { baseAmountMinor: a, amountMinor: a },
          awards: [
            {
              ruleId: "base",
              ruleVersion: 1,
              kind: "base",
              recipient: "member",
              points: Number(awarded),
              reversedPoints: 0,
              pricing: {
                kind: "base",
                baseAmountMinor: a,
                currency: "USD",
                currencyExponent: 2,
                rate: `${rate.num}/${rate.den}`,
                rounding: mode,
              },
            },
          ],
          refund: { kind: "amount", baseAmountMinor: a - kept },
        });
        const reversed = awarded - (repriced < awarded ? repriced : awarded);
        expect(BigInt(r.totalPoints.member)).toBe(reversed);
      }),
      { numRuns: 500 },
    );
  });

  it("simulate refuses a total or liability past the safe range", () => {
    const award = (points: number) => ({
      memberId: "m1",
      evaluation: {
        ruleSetId: "s",
        ruleSetVersion: 1,
        trigger: "order.placed" as const,
        eventTimeMs: 0,
        matched: [],
        suppressed: [],
        awards: [
          {
            ruleId: "r",
            ruleVersion: 1,
            kind: "bonus" as const,
            recipient: "member" as const,
            points,
            requestedPoints: points,
            trimmedBy: [],
            pricing: { kind: "bonus" as const },
          },
        ],
        campaigns: [],
        denied: [],
        consumption: [],
        totalPoints: { member: points, referrer: 0 },
      },
    });
    const half = Math.ceil(Number.MAX_SAFE_INTEGER / 2);
    expect(() => simulate([award(half), award(half)], { pointValueMinor: "1", currency: "USD" })).toThrow(
      AmountOutOfRangeError,
    );
    expect(() =>
      simulate([award(Number.MAX_SAFE_INTEGER)], { pointValueMinor: "2", currency: "USD" }),
    ).toThrow(AmountOutOfRangeError);
    expect(
      simulate([award(Number.MAX_SAFE_INTEGER)], { pointValueMinor: "1", currency: "USD" }).liabilityMinor,
    ).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("the issue's example: 999999999999 points per dollar on a large order is refused, not rounded", () => {
    const compiled = compileRuleSet(rs([{ id: "base", rate: "999999999999", mode: "floor" }]), PROGRAMME);
    const facts = buildOrderFacts(order({ baseAmountMinor: 101_010_000 }), member(), PROGRAMME);
    expect(() => evaluate(compiled, "order.placed", facts, NOW)).toThrow(AmountOutOfRangeError);
  });
});

/** A rule set built directly (the validator's caps would refuse most of these rates). */
function rs(rules: Array<{ id: string; rate?: string; factor?: string; mode: Rounding }>): RuleSet {
  return {
    id: "amounts",
    version: 1,
    rules: rules.map((r, i) => ({
      id: r.id,
      version: 1,
      name: r.id,
      status: "active",
      priority: 100 - i,
      trigger: "order.placed",
      conditions: { all: [] },
      event:
        r.factor === undefined
          ? { type: "points-per-unit", params: { rate: r.rate ?? "1", rounding: r.mode } }
          : { type: "multiplier", params: { factor: r.factor, appliesTo: "base", rounding: r.mode } },
    })),
  };
}
