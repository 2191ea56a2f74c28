// Domain types of the rule format. The JSON shape is documented in FORMAT.md; these types
// describe a rule set AFTER validateRuleSet accepted it.

export const TRIGGERS = ["order.placed", "member.registered", "member.referred", "churn.alerted"] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const STATUSES = ["draft", "active", "paused", "retired"] as const;
export type RuleStatus = (typeof STATUSES)[number];

export const ROUNDINGS = ["floor", "ceil", "half-up", "half-even"] as const;
export type Rounding = (typeof ROUNDINGS)[number];

export const OPERATORS = [
  "equal",
  "notEqual",
  "lessThan",
  "lessThanInclusive",
  "greaterThan",
  "greaterThanInclusive",
  "in",
  "notIn",
  "contains",
  "doesNotContain",
] as const;
export type Operator = (typeof OPERATORS)[number];

export type Scalar = string | number | boolean | null;

/** `value: {fact, path?}`: compare against another fact instead of a literal. */
export interface FactRef {
  fact: string;
  path?: string;
}

export interface LeafCondition {
  fact: string;
  operator: Operator;
  value: Scalar | Scalar[] | FactRef;
  path?: string;
}
export type Condition = LeafCondition | AllCondition | AnyCondition | NotCondition;
export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface NotCondition {
  not: Condition;
}
export type RootCondition = AllCondition | AnyCondition | NotCondition;

/** Exact non-negative rational; both parts are safe integers, den > 0, reduced. */
export interface Rational {
  num: number;
  den: number;
}

export type Recipient = "member" | "referrer";

export type RuleEvent =
  | { type: "points-per-unit"; params: { rate: string | RationalJson; rounding: Rounding } }
  | { type: "fixed-bonus"; params: { points: number; recipient?: Recipient } }
  | {
      type: "multiplier";
      params: { factor: string | RationalJson; appliesTo: "base"; rounding: Rounding };
    }
  | { type: "campaign"; params: { campaignId: string; reward: Record<string, unknown> } };
export type ActionType = RuleEvent["type"];

export interface RationalJson {
  numerator: number;
  denominator: number;
}

export interface Rule {
  id: string;
  version: number;
  name: string;
  status: RuleStatus;
  validity?: { from?: string; until?: string };
  priority: number;
  exclusiveGroup?: string;
  budget?: { totalPoints: number };
  caps?: { perMemberPerDay?: number; perMemberPerCampaign?: number };
  targeting?: { tiers?: string[]; segments?: string[] };
  trigger: Trigger;
  conditions: RootCondition;
  event: RuleEvent;
  description?: string;
}

export interface RuleSet {
  id: string;
  version: number;
  rules: Rule[];
  description?: string;
}

/**
 * Facts are a plain nested object: { order: {...}, member: {...}, counters: {...} }. Typed
 * loosely on purpose: every read goes through own-property getters (path.ts).
 */
export type Facts = object;

/** Per-programme constants the compiler needs. */
export interface ProgrammeConfig {
  /** ISO 4217 code of the base currency, e.g. "USD". */
  baseCurrency: string;
  /** Minor units per major unit as a power of ten (USD 2, JPY 0). */
  currencyExponent: number;
  /** IANA zone used for day-of-week / hour / month facts. */
  timeZone: string;
  /** Most points one ledger entry (one award) may carry. Default 1,000,000 (amounts.ts). */
  maxPointsPerEntry?: number;
  /** Most points a member may earn per programme day, all rules. Default 10,000,000. */
  maxPointsPerMemberPerDay?: number;
  /**
   * Largest base amount, in minor units of the base currency, the validator prices a rate or
   * multiplier on to bound its award. Default 10,000,000 (100,000.00 at exponent 2).
   */
  maxOrderAmountMinor?: number;
}
