import {
  addPoints,
  formatRational,
  mulDivRound,
  mulDivRoundBig,
  sumRationals,
  toSafePoints,
} from "./arith.ts";
import { type CompiledRule, type CompiledRuleSet, candidates } from "./compile.ts";
import { factGetter } from "./path.ts";
import type { Facts, Rational, Recipient, Rounding, Trigger } from "./types.ts";

// Evaluation of one event against a compiled rule set. Synchronous and pure: counters come
// in as a snapshot, and the consumption the awards need goes out; the service applies it
// atomically (and re-checks the limits) in PostgreSQL.

export type AwardKind = "base" | "multiplier" | "bonus";
export type LimitKind = "budget" | "member-day" | "member-campaign";

/** What clawback needs to reverse an award with the terms in force when it was earned. */
export type AwardPricing =
  | {
      kind: "base";
      baseAmountMinor: number;
      currency: string;
      currencyExponent: number;
      /** Points per major unit, exact, "num/den". */
      rate: string;
      rounding: Rounding;
    }
  | {
      kind: "multiplier";
      baseAmountMinor: number;
      currency: string;
      currencyExponent: number;
      /** Sum of the base rates the factor applied to, "num/den". */
      rate: string;
      factor: string;
      rounding: Rounding;
    }
  | { kind: "bonus" };

export interface Award {
  ruleId: string;
  ruleVersion: number;
  kind: AwardKind;
  recipient: Recipient;
  /** Points granted (after budget/cap trimming). Always > 0. */
  points: number;
  /** Points the rule computed before trimming. */
  requestedPoints: number;
  /** Limits that reduced this award, if any. */
  trimmedBy: LimitKind[];
  pricing: AwardPricing;
}

export interface CampaignTrigger {
  ruleId: string;
  ruleVersion: number;
  campaignId: string;
  reward: Readonly<Record<string, unknown>>;
}

export interface Denial {
  ruleId: string;
  ruleVersion: number;
  requestedPoints: number;
  reason: LimitKind | "no-base" | "invalid-base-amount";
}

export interface Consumption {
  limit: LimitKind;
  ruleId: string;
  /** Whose per-member counter (budgets are shared, recipient still recorded). */
  recipient: Recipient;
  points: number;
}

export interface RuleRef {
  ruleId: string;
  ruleVersion: number;
}

export interface Evaluation {
  ruleSetId: string;
  ruleSetVersion: number;
  trigger: Trigger;
  eventTimeMs: number;
  /** Rules whose window, targeting and conditions matched, in evaluation order. */
  matched: RuleRef[];
  /** Matched rules that lost their exclusive group. */
  suppressed: Array<RuleRef & { group: string; winnerId: string }>;
  awards: Award[];
  campaigns: CampaignTrigger[];
  denied: Denial[];
  consumption: Consumption[];
  totalPoints: Record<Recipient, number>;
}

export interface MemberUsage {
  /** Points already awarded to this member today (programme day), per rule id. */
  day?: Readonly<Record<string, number>>;
  /** Points already awarded to this member by the rule over its lifetime, per rule id. */
  campaign?: Readonly<Record<string, number>>;
}

export interface UsageSnapshot {
  /** Points already awarded by each rule's budget, all members, per rule id. */
  budgetUsed?: Readonly<Record<string, number>>;
  member?: MemberUsage;
  /** The referrer's counters, for member.referred rules paying the referrer. */
  referrer?: MemberUsage;
}

const getTier = factGetter("member.tier");
const getSegment = factGetter("member.segment");
const getBaseAmount = factGetter("order.baseAmountMinor");

function used(rec: Readonly<Record<string, number>> | undefined, id: string): number {
  if (rec === undefined || !Object.hasOwn(rec, id)) return 0;
  const v = rec[id];
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0;
}

export function toEpochMs(t: Date | string | number): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === "number" ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new Error(`invalid event time ${String(t)}`);
  return ms;
}

function eligible(r: CompiledRule, t: number, facts: Facts): boolean {
  if (t < r.fromMs || t >= r.untilMs) return false;
  if (r.tiers !== null) {
    const tier = getTier(facts);
    if (typeof tier !== "string" || !r.tiers.has(tier)) return false;
  }
  if (r.segments !== null) {
    const seg = getSegment(facts);
    if (typeof seg !== "string" || !r.segments.has(seg)) return false;
  }
  return r.predicate(facts);
}

function multiplierPoints(
  amount: number,
  rate: Rational,
  factor: Rational,
  exp: number,
  mode: Rounding,
  where: string,
): number {
  // uplift = amount * rate * (factor - 1) / 10^exp, computed exactly and rounded once.
  const num = rate.num * (factor.num - factor.den);
  const den = rate.den * factor.den * 10 ** exp;
  if (Number.isSafeInteger(num) && Number.isSafeInteger(den))
    return mulDivRound(amount, num, den, mode, where);
  const bn = BigInt(rate.num) * BigInt(factor.num - factor.den);
  const bd = BigInt(rate.den) * BigInt(factor.den) * 10n ** BigInt(exp);
  return toSafePoints(mulDivRoundBig(BigInt(amount), bn, bd, mode), where);
}

/**
 * Evaluates one event. `facts` is the plain object built by buildOrderFacts /
 * buildMemberEventFacts; `usage` carries the current budget and cap counters.
 */
export function evaluate(
  compiled: CompiledRuleSet,
  trigger: Trigger,
  facts: Facts,
  eventTime: Date | string | number,
  usage: UsageSnapshot = {},
): Evaluation {
  const t = toEpochMs(eventTime);
  const result: Evaluation = {
    ruleSetId: compiled.id,
    ruleSetVersion: compiled.version,
    trigger,
    eventTimeMs: t,
    matched: [],
    suppressed: [],
    awards: [],
    campaigns: [],
    denied: [],
    consumption: [],
    totalPoints: { member: 0, referrer: 0 },
  };

  // 1. Match, in evaluation order (priority desc, id asc). 2. Exclusive groups: the first
  // matching rule of a group wins (highest priority, then lowest id); the others are suppressed.
  const winners: CompiledRule[] = [];
  let groupWinner: Map<string, CompiledRule> | null = null;
  for (const r of candidates(compiled, trigger, facts)) {
    if (!eligible(r, t, facts)) continue;
    result.matched.push({ ruleId: r.id, ruleVersion: r.version });
    if (r.exclusiveGroup !== null) {
      groupWinner ??= new Map();
      const w = groupWinner.get(r.exclusiveGroup);
      if (w !== undefined) {
        result.suppressed.push({
          ruleId: r.id,
          ruleVersion: r.version,
          group: r.exclusiveGroup,
          winnerId: w.id,
        });
        continue;
      }
      groupWinner.set(r.exclusiveGroup, r);
    }
    winners.push(r);
  }
  if (winners.length === 0) return result;

  // 3. Price the awards. Bases first: multipliers apply to the exact (unrounded, untrimmed)
  // sum of the base rates that fired, so their order in the list does not matter.
  const { currencyExponent: exp, baseCurrency } = compiled.programme;
  const rawAmount = getBaseAmount(facts);
  const amount =
    typeof rawAmount === "number" && Number.isSafeInteger(rawAmount) && rawAmount >= 0 ? rawAmount : null;
  const baseRates: Rational[] = [];
  for (const r of winners) if (r.action.type === "points-per-unit") baseRates.push(r.action.rate);
  let sumRate: Rational | null = null;
  if (baseRates.length === 1) sumRate = baseRates[0] ?? null;
  else if (baseRates.length > 1) {
    const s = sumRationals(baseRates);
    if (s.num <= BigInt(Number.MAX_SAFE_INTEGER) && s.den <= BigInt(Number.MAX_SAFE_INTEGER)) {
      sumRate = { num: Number(s.num), den: Number(s.den) };
    }
  }

  for (const r of winners) {
    const a = r.action;
    let kind: AwardKind;
    let points: number;
    let pricing: AwardPricing;
    let recipient: Recipient = "member";
    switch (a.type) {
      case "campaign":
        result.campaigns.push({
          ruleId: r.id,
          ruleVersion: r.version,
          campaignId: a.campaignId,
          reward: a.reward,
        });
        continue;
      case "fixed-bonus":
        kind = "bonus";
        points = a.points;
        recipient = a.recipient;
        pricing = { kind: "bonus" };
        break;
      case "points-per-unit":
        if (amount === null) {
          result.denied.push({
            ruleId: r.id,
            ruleVersion: r.version,
            requestedPoints: 0,
            reason: "invalid-base-amount",
          });
          continue;
        }
        kind = "base";
        points = mulDivRound(
          amount,
          a.rate.num,
          a.rate.den * 10 ** exp,
          a.rounding,
          `base award of rule ${r.id}`,
        );
        pricing = {
          kind: "base",
          baseAmountMinor: amount,
          currency: baseCurrency,
          currencyExponent: exp,
          rate: formatRational(a.rate),
          rounding: a.rounding,
        };
        break;
      case "multiplier":
        if (amount === null || sumRate === null) {
          const reason = amount === null ? "invalid-base-amount" : "no-base";
          result.denied.push({ ruleId: r.id, ruleVersion: r.version, requestedPoints: 0, reason });
          continue;
        }
        kind = "multiplier";
        points = multiplierPoints(
          amount,
          sumRate,
          a.factor,
          exp,
          a.rounding,
          `multiplier award of rule ${r.id}`,
        );
        pricing = {
          kind: "multiplier",
          baseAmountMinor: amount,
          currency: baseCurrency,
          currencyExponent: exp,
          rate: formatRational(sumRate),
          factor: formatRational(a.factor),
          rounding: a.rounding,
        };
        break;
    }
    if (points <= 0) continue; // e.g. a $0.40 order at 1 point per dollar, floor

    // 4. Budgets and caps: grant what remains under every limit, record the consumption.
    const who = recipient === "referrer" ? usage.referrer : usage.member;
    let granted = points;
    const trimmedBy: LimitKind[] = [];
    const limits: Array<[LimitKind, number | null, number]> = [
      ["budget", r.budgetPoints, used(usage.budgetUsed, r.id)],
      ["member-day", r.capPerDay, used(who?.day, r.id)],
      ["member-campaign", r.capPerCampaign, used(who?.campaign, r.id)],
    ];
    let denial: LimitKind | null = null;
    for (const [limit, cap, spent] of limits) {
      if (cap === null) continue;
      const remaining = Math.max(0, cap - spent);
      if (remaining < granted) {
        granted = remaining;
        trimmedBy.push(limit);
        if (granted === 0 && denial === null) denial = limit;
      }
    }
    if (denial !== null) {
      result.denied.push({ ruleId: r.id, ruleVersion: r.version, requestedPoints: points, reason: denial });
      continue;
    }
    for (const [limit, cap] of limits) {
      if (cap !== null) result.consumption.push({ limit, ruleId: r.id, recipient, points: granted });
    }
    result.awards.push({
      ruleId: r.id,
      ruleVersion: r.version,
      kind,
      recipient,
      points: granted,
      requestedPoints: points,
      trimmedBy,
      pricing,
    });
    result.totalPoints[recipient] = addPoints(
      result.totalPoints[recipient],
      granted,
      `total ${recipient} points of the event`,
    );
  }
  return result;
}
