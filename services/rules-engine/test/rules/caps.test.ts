// The programme's amount limits in the validator (issue 21, item 3): a rule that can award more
// than maxPointsPerEntry, fixed or rate, string or number, is rejected with its id and path.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_AMOUNT_LIMITS, amountLimitProblems, amountLimitsOf } from "../../src/rules/amounts.ts";
import { validateRuleSet } from "../../src/rules/validate.ts";
import { DEFAULT_PROGRAMME, readRuleSetSource } from "../../src/rulesets/files.ts";
import { BASE_RULE, PROGRAMME, loadStandard, rule, ruleSet } from "./helpers.ts";

type Json = Record<string, unknown>;

const ppu = (rate: unknown, rounding = "floor") => ({ type: "points-per-unit", params: { rate, rounding } });
const mult = (factor: unknown) => ({
  type: "multiplier",
  params: { factor, appliesTo: "base", rounding: "floor" },
});
const bonus = (points: number) => ({ type: "fixed-bonus", params: { points } });

function errors(rules: Json[], programme: Json = {}) {
  const r = validateRuleSet(ruleSet(rules), { ...PROGRAMME, ...programme });
  return r.ok ? [] : r.errors;
}

describe("defaults", () => {
  it("are documented values, and the standard programme states them and validates", () => {
    expect(DEFAULT_AMOUNT_LIMITS).toEqual({
      maxPointsPerEntry: 1_000_000,
      maxPointsPerMemberPerDay: 10_000_000,
      maxOrderAmountMinor: 10_000_000,
    });
    expect(amountLimitsOf(undefined)).toEqual(DEFAULT_AMOUNT_LIMITS);
    expect(DEFAULT_PROGRAMME).toMatchObject(DEFAULT_AMOUNT_LIMITS);
    const { ruleSet: standard, programme } = loadStandard();
    expect(programme).toMatchObject(DEFAULT_AMOUNT_LIMITS);
    expect(validateRuleSet(standard, programme).ok).toBe(true);
  });
});

describe("fixed bonuses", () => {
  it("over the per-entry cap: rejected with rule id and path", () => {
    expect(errors([rule({ id: "big", event: bonus(1_000_001) })])).toEqual([
      {
        ruleId: "big",
        path: "$.rules[0].event.params.points",
        problem: "fixed bonus of 1000001 points exceeds the programme's maxPointsPerEntry 1000000",
      },
    ]);
  });

  it("at the cap, or trimmed below it by the rule's own caps or budget: accepted", () => {
    expect(errors([rule({ event: bonus(1_000_000) })])).toEqual([]);
    expect(errors([rule({ event: bonus(5_000_000), caps: { perMemberPerCampaign: 1000 } })])).toEqual([]);
    expect(errors([rule({ event: bonus(5_000_000), budget: { totalPoints: 1_000_000 } })])).toEqual([]);
  });

  it("follows the programme's cap", () => {
    expect(errors([rule({ id: "b", event: bonus(600) })], { maxPointsPerEntry: 500 })).toMatchObject([
      { ruleId: "b", path: "$.rules[0].event.params.points" },
    ]);
  });
});

describe("rates", () => {
  it.each([
    ["decimal string", "999999999999"],
    ["small decimal string", "10.01"],
    ["numerator/denominator", { numerator: 1_000_000_000, denominator: 1 }],
    ["numerator/denominator just over", { numerator: 10_001, denominator: 1000 }],
  ])("a rate (%s) that can exceed the cap: rejected with id and path", (_, rate) => {
    const e = errors([rule({ id: "rate", event: ppu(rate) })]);
    expect(e).toHaveLength(1);
    expect(e[0]).toMatchObject({ ruleId: "rate", path: "$.rules[0].event.params.rate" });
    expect(e[0]?.problem).toMatch(
      /can award \d+ points on an order of 10000000 minor units.*maxPointsPerEntry 1000000/,
    );
  });

  it("the issue's example names the award it could reach", () => {
    expect(errors([rule({ id: "r", event: ppu("999999999999") })])[0]?.problem).toBe(
      `rate "999999999999" can award 99999999999900000 points on an order of 10000000 minor units (maxOrderAmountMinor), over the programme's maxPointsPerEntry 1000000`,
    );
  });

  it("exactly at the cap is accepted; the rounding decides the boundary", () => {
    // 10,000,000 minor = 100,000.00 USD; 10 points per USD = 1,000,000.
    expect(errors([rule({ event: ppu("10") })])).toEqual([]);
    expect(
      errors([rule({ event: ppu({ numerator: 100_000_001, denominator: 10_000_000 }, "floor") })]),
    ).toEqual([]);
    expect(errors([rule({ event: ppu("10.000001", "floor") })])).toEqual([]);
    expect(errors([rule({ event: ppu("10.000001", "ceil") })])).toHaveLength(1);
  });

  it("uses the currency exponent and maxOrderAmountMinor of the programme", () => {
    // JPY-like: exponent 0, so 10,000,000 minor units are 10,000,000 yen at 1 point per yen.
    expect(errors([rule({ event: ppu("1") })], { currencyExponent: 0 })).toMatchObject([
      { path: "$.rules[0].event.params.rate" },
    ]);
    expect(
      errors([rule({ event: ppu("1") })], { currencyExponent: 0, maxOrderAmountMinor: 1_000_000 }),
    ).toEqual([]);
  });

  it("a per-day cap on the rule below the entry cap makes any rate safe", () => {
    expect(errors([rule({ event: ppu("999999999999"), caps: { perMemberPerDay: 2000 } })])).toEqual([]);
  });
});

describe("multipliers", () => {
  it("priced on the largest sum of base rates that can fire together", () => {
    // Base 5 + 4 = 9 points per USD; factor 1.2 adds 1.8 per USD: 180,000 on 100,000 USD.
    const bases = [
      rule({ id: "b1", priority: 100, event: ppu("5") }),
      rule({ id: "b2", priority: 90, event: ppu("4") }),
    ];
    expect(errors([...bases, rule({ id: "m", event: mult("1.2") })])).toEqual([]);
    // Factor 13 adds 12 x 9 = 108 per USD: 10,800,000.
    expect(errors([...bases, rule({ id: "m", event: mult("13") })])).toEqual([
      {
        ruleId: "m",
        path: "$.rules[2].event.params.factor",
        problem: `factor "13" can award 10800000 points on top of the base rates on an order of 10000000 minor units (maxOrderAmountMinor), over the programme's maxPointsPerEntry 1000000`,
      },
    ]);
  });

  it("counts only the largest base rate of an exclusive group", () => {
    const grouped = [
      rule({ id: "b1", priority: 100, exclusiveGroup: "base", event: ppu("5") }),
      rule({ id: "b2", priority: 90, exclusiveGroup: "base", event: ppu("4") }),
    ];
    // Factor 3 adds 2 x 5 = 10 per USD: exactly the cap; with both rates it would be 18.
    expect(errors([...grouped, rule({ id: "m", event: mult("3") })])).toEqual([]);
    const ungrouped = grouped.map(({ exclusiveGroup: _, ...r }) => r);
    expect(errors([...ungrouped, rule({ id: "m", event: mult("3") })])).toMatchObject([
      { ruleId: "m", path: "$.rules[2].event.params.factor" },
    ]);
  });

  it("numerator/denominator factors too", () => {
    expect(
      errors([BASE_RULE, rule({ id: "m", event: mult({ numerator: 12, denominator: 1 }) })]),
    ).toMatchObject([{ ruleId: "m", path: "$.rules[1].event.params.factor" }]);
  });
});

describe("the programme's limits", () => {
  it("must be positive safe integers, the entry cap not above the day cap", () => {
    expect(amountLimitProblems({})).toEqual([]);
    expect(amountLimitProblems({ maxPointsPerEntry: 0 })).toEqual([
      `"maxPointsPerEntry" must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}, got 0`,
    ]);
    expect(amountLimitProblems({ maxOrderAmountMinor: "1" })).toHaveLength(1);
    expect(amountLimitProblems({ maxPointsPerMemberPerDay: 2 ** 53 })).toHaveLength(1);
    expect(amountLimitProblems({ maxPointsPerEntry: 11, maxPointsPerMemberPerDay: 10 })).toEqual([
      `"maxPointsPerEntry" (11) must not exceed "maxPointsPerMemberPerDay" (10)`,
    ]);
  });

  it("programme.json is checked when read, and its limits apply to the draft beside it", () => {
    const dir = mkdtempSync(join(tmpdir(), "caps-"));
    writeFileSync(join(dir, "ruleset.json"), JSON.stringify(ruleSet([rule({ id: "b", event: bonus(600) })])));
    writeFileSync(join(dir, "programme.json"), JSON.stringify({ maxPointsPerEntry: 500 }));
    const src = readRuleSetSource(dir);
    expect(src.programme.maxPointsPerEntry).toBe(500);
    expect(src.programme.maxPointsPerMemberPerDay).toBe(DEFAULT_AMOUNT_LIMITS.maxPointsPerMemberPerDay);
    const v = validateRuleSet(src.json, src.programme);
    expect(v.ok ? [] : v.errors).toMatchObject([{ ruleId: "b", path: "$.rules[0].event.params.points" }]);
    writeFileSync(join(dir, "programme.json"), JSON.stringify({ maxPointsPerEntry: -1 }));
    expect(() => readRuleSetSource(dir)).toThrow(/programme\.json: "maxPointsPerEntry" must be an integer/);
    expect(JSON.parse(readFileSync(join(dir, "ruleset.json"), "utf8")).id).toBe("test");
  });
});
