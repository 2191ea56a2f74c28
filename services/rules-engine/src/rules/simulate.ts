import { addPoints, mulDivRoundBig, parseRational, toSafePoints } from "./arith.ts";
import type { Evaluation } from "./evaluate.ts";
import type { RationalJson, Rounding } from "./types.ts";

// Aggregation of evaluations for "what would this programme cost" simulations. Pure.

export interface SimulatedEvent {
  memberId: string;
  /** Who a "referrer" award goes to (member.referred events). */
  referrerId?: string;
  evaluation: Evaluation;
}

export interface RuleStats {
  ruleId: string;
  /** Rule versions seen (a simulation may span a rule change). */
  versions: number[];
  matched: number;
  awards: number;
  points: number;
  membersReached: number;
  denied: number;
  suppressed: number;
  campaigns: number;
}

export interface SimulationReport {
  events: number;
  byRule: RuleStats[];
  totalPoints: number;
  /** Value of the points issued, in minor units of `currency`, rounded once. */
  liabilityMinor: number;
  currency: string;
}

export interface SimulationOptions {
  /** Value of ONE point in minor units, e.g. "1" (1 cent) or "0.5". */
  pointValueMinor: string | RationalJson;
  currency: string;
  rounding?: Rounding;
}

interface Acc {
  versions: Set<number>;
  matched: number;
  awards: number;
  points: number;
  members: Set<string>;
  denied: number;
  suppressed: number;
  campaigns: number;
}

export function simulate(events: Iterable<SimulatedEvent>, options: SimulationOptions): SimulationReport {
  const value = parseRational(options.pointValueMinor);
  if (value === null) throw new Error("invalid pointValueMinor");
  const acc = new Map<string, Acc>();
  const get = (id: string): Acc => {
    let a = acc.get(id);
    if (a === undefined) {
      a = {
        versions: new Set(),
        matched: 0,
        awards: 0,
        points: 0,
        members: new Set(),
        denied: 0,
        suppressed: 0,
        campaigns: 0,
      };
      acc.set(id, a);
    }
    return a;
  };
  let count = 0;
  let total = 0;
  for (const { memberId, referrerId, evaluation } of events) {
    count++;
    for (const m of evaluation.matched) {
      const a = get(m.ruleId);
      a.matched++;
      a.versions.add(m.ruleVersion);
    }
    for (const s of evaluation.suppressed) get(s.ruleId).suppressed++;
    for (const d of evaluation.denied) get(d.ruleId).denied++;
    for (const c of evaluation.campaigns) {
      const a = get(c.ruleId);
      a.campaigns++;
      a.members.add(memberId);
    }
    for (const aw of evaluation.awards) {
      const a = get(aw.ruleId);
      a.awards++;
      a.points = addPoints(a.points, aw.points, `simulated points of rule ${aw.ruleId}`);
      a.members.add(aw.recipient === "referrer" ? (referrerId ?? `referrer-of:${memberId}`) : memberId);
      total = addPoints(total, aw.points, "simulated total points");
    }
  }
  const byRule = [...acc.entries()]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([ruleId, a]) => ({
      ruleId,
      versions: [...a.versions].sort((x, y) => x - y),
      matched: a.matched,
      awards: a.awards,
      points: a.points,
      membersReached: a.members.size,
      denied: a.denied,
      suppressed: a.suppressed,
      campaigns: a.campaigns,
    }));
  const liability = mulDivRoundBig(
    BigInt(total),
    BigInt(value.num),
    BigInt(value.den),
    options.rounding ?? "half-up",
  );
  return {
    events: count,
    byRule,
    totalPoints: total,
    liabilityMinor: toSafePoints(liability, "simulated liability"),
    currency: options.currency,
  };
}
