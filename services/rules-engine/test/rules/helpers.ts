import { readFileSync } from "node:fs";
import { compileRuleSet } from "../../src/rules/compile.ts";
import type { MemberInput, OrderInput } from "../../src/rules/facts.ts";
import type { ProgrammeConfig, RuleSet } from "../../src/rules/types.ts";
import { validateRuleSet } from "../../src/rules/validate.ts";

export const PROGRAMME: ProgrammeConfig = {
  baseCurrency: "USD",
  currencyExponent: 2,
  timeZone: "America/New_York",
};

export const NOW = "2025-06-15T12:00:00Z";

type Json = Record<string, unknown>;

export function rule(overrides: Json = {}): Json {
  return {
    id: "r1",
    version: 1,
    name: "rule",
    status: "active",
    priority: 10,
    trigger: "order.placed",
    conditions: { all: [] },
    event: { type: "fixed-bonus", params: { points: 10 } },
    ...overrides,
  };
}

export const BASE_RULE = rule({
  id: "base",
  priority: 100,
  event: { type: "points-per-unit", params: { rate: "1", rounding: "floor" } },
});

export function ruleSet(rules: Json[], version = 1): Json {
  return { id: "test", version, rules };
}

/** PROGRAMME with amount limits wide enough for any safe award (tests of the arithmetic itself). */
export const WIDE_PROGRAMME: ProgrammeConfig = {
  ...PROGRAMME,
  maxPointsPerEntry: Number.MAX_SAFE_INTEGER,
  maxPointsPerMemberPerDay: Number.MAX_SAFE_INTEGER,
  maxOrderAmountMinor: Number.MAX_SAFE_INTEGER,
};

export function mustValidate(json: unknown, programme: ProgrammeConfig = PROGRAMME): RuleSet {
  const r = validateRuleSet(json, programme);
  if (!r.ok) throw new Error(`invalid rule set: ${JSON.stringify(r.errors, null, 2)}`);
  return r.ruleSet;
}

export function compileRules(rules: Json[], version = 1, programme: ProgrammeConfig = PROGRAMME) {
  return compileRuleSet(mustValidate(ruleSet(rules, version), programme), programme);
}

export function member(overrides: Partial<MemberInput> = {}): MemberInput {
  return {
    memberId: "m1",
    tier: "member",
    segment: "regular",
    enrolledAt: "2024-01-01T00:00:00Z",
    birthdayMonth: 3,
    orderCount: 5,
    lifetimeSpendMinor: 50_000,
    lastPurchaseAt: "2025-06-01T12:00:00Z",
    atRisk: false,
    ...overrides,
  };
}

export function order(overrides: Partial<OrderInput> = {}): OrderInput {
  return {
    orderId: "o1",
    placedAt: NOW,
    currency: "USD",
    amountMinor: 10_000,
    channel: "web",
    storeId: "s1",
    lines: [
      { sku: "cd-1", category: "rock", quantity: 2, unitPriceMinor: 2_500 },
      { sku: "cd-2", category: "jazz", quantity: 1, unitPriceMinor: 5_000 },
    ],
    ...overrides,
  };
}

export function loadStandard(): {
  ruleSet: unknown;
  programme: ProgrammeConfig & { pointValueMinor: string };
} {
  const dir = new URL("../../../../rules/standard/", import.meta.url);
  return {
    ruleSet: JSON.parse(readFileSync(new URL("ruleset.json", dir), "utf8")),
    programme: JSON.parse(readFileSync(new URL("programme.json", dir), "utf8")),
  };
}
