// Simulate one order against a draft, explained rule by rule (ADR 18). Pure: the rules engine's
// own facts (buildOrderFacts), compiler and evaluate() price the order exactly as the engine would
// for a member in the given state; each rule of the draft then gets an outcome and the reason:
// another trigger, not active, outside its validity, not targeted at the member's tier or
// segment, a condition false (each leaf condition with the fact's value), suppressed by its
// exclusive group's winner, denied by a cap or budget, or its award. Nothing is written and no
// history is read: caps and budgets start at zero (the member's counters are what is given).
import {
  type Condition,
  type Evaluation,
  type MemberInput,
  type OrderInput,
  type ProgrammeConfig,
  type Rule,
  type RuleSet,
  buildOrderFacts,
  compileCondition,
  compileRuleSet,
  evaluate,
} from "@loyalty/rules-engine";

export interface ConditionCheck {
  /** Where the condition is in the rule, e.g. `conditions.all[1]`. */
  at: string;
  fact: string;
  operator: string;
  value: unknown;
  /** The fact's value for this order and member (null when absent). */
  actual: unknown;
  result: boolean;
}

export type Outcome =
  | "awarded"
  | "campaign"
  | "suppressed"
  | "denied"
  | "conditions-false"
  | "other-trigger"
  | "inactive"
  | "outside-validity"
  | "not-targeted";

export interface RuleExplanation {
  ruleId: string;
  version: number;
  name: string;
  outcome: Outcome;
  /** Points to the member (and to a referrer) from this rule. */
  points: number;
  why: string;
  conditions: ConditionCheck[];
}

export interface OrderSimulation {
  ruleSet: { id: string; version: number };
  eventTime: string;
  totalPoints: number;
  rules: RuleExplanation[];
}

function factValue(facts: object, name: string): unknown {
  let v: unknown = facts;
  for (const part of name.split(".")) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, part)) return null;
    v = (v as Record<string, unknown>)[part];
  }
  return v === undefined ? null : v;
}

/** Every leaf condition with its result (the compiled predicate of the leaf alone). */
function leaves(c: Condition, at: string, facts: object, out: ConditionCheck[]): void {
  if ("all" in c) c.all.forEach((x, i) => leaves(x, `${at}.all[${i}]`, facts, out));
  else if ("any" in c) c.any.forEach((x, i) => leaves(x, `${at}.any[${i}]`, facts, out));
  else if ("not" in c) leaves(c.not, `${at}.not`, facts, out);
  else
    out.push({
      at,
      fact: c.fact,
      operator: c.operator,
      value: c.value,
      actual: factValue(facts, c.fact),
      result: compileCondition(c)(facts),
    });
}

function outsideValidity(r: Rule, t: number): string | null {
  const from = r.validity?.from === undefined ? null : Date.parse(r.validity.from);
  const until = r.validity?.until === undefined ? null : Date.parse(r.validity.until);
  if (from !== null && t < from) return `valid from ${r.validity?.from}, the order is earlier`;
  if (until !== null && t >= until) return `valid until ${r.validity?.until}, the order is not before it`;
  return null;
}

function notTargeted(r: Rule, facts: object): string | null {
  const tier = factValue(facts, "member.tier");
  const segment = factValue(facts, "member.segment");
  if (r.targeting?.tiers && !(typeof tier === "string" && r.targeting.tiers.includes(tier)))
    return `targets tiers ${r.targeting.tiers.join(", ")}; the member is ${String(tier)}`;
  if (r.targeting?.segments && !(typeof segment === "string" && r.targeting.segments.includes(segment)))
    return `targets segments ${r.targeting.segments.join(", ")}; the member's is ${String(segment)}`;
  return null;
}

function fromEvaluation(r: Rule, ev: Evaluation): { outcome: Outcome; points: number; why: string } | null {
  const awards = ev.awards.filter((a) => a.ruleId === r.id);
  if (awards.length > 0) {
    const points = awards.reduce((s, a) => s + a.points, 0);
    const to = awards.some((a) => a.recipient === "referrer") ? " (to the referrer)" : "";
    return { outcome: "awarded", points, why: `conditions true: ${points} points${to}` };
  }
  const campaign = ev.campaigns.find((c) => c.ruleId === r.id);
  if (campaign)
    return {
      outcome: "campaign",
      points: 0,
      why: `conditions true: campaign ${campaign.campaignId} triggered`,
    };
  const suppressed = ev.suppressed.find((s) => s.ruleId === r.id);
  if (suppressed)
    return {
      outcome: "suppressed",
      points: 0,
      why: `conditions true, but ${suppressed.winnerId} won exclusive group ${suppressed.group}`,
    };
  const denied = ev.denied.find((d) => d.ruleId === r.id);
  if (denied)
    return {
      outcome: "denied",
      points: 0,
      why: `conditions true, but denied: ${denied.reason} (${denied.requestedPoints} points asked)`,
    };
  if (ev.matched.some((m) => m.ruleId === r.id))
    return { outcome: "awarded", points: 0, why: "conditions true: 0 points (rounded down)" };
  return null;
}

/** The order priced by the draft, each rule explained. `ruleSet` has passed validateRuleSet. */
export function simulateOrder(
  ruleSet: RuleSet,
  programme: ProgrammeConfig,
  order: OrderInput,
  member: MemberInput,
): OrderSimulation {
  const facts = buildOrderFacts(order, member, programme);
  const t = typeof order.placedAt === "number" ? order.placedAt : new Date(order.placedAt).getTime();
  const ev = evaluate(compileRuleSet(ruleSet, programme), "order.placed", facts, t);
  const rules = ruleSet.rules.map((r): RuleExplanation => {
    const conditions: ConditionCheck[] = [];
    leaves(r.conditions, "conditions", facts, conditions);
    const base = { ruleId: r.id, version: r.version, name: r.name, conditions };
    if (r.trigger !== "order.placed")
      return { ...base, outcome: "other-trigger", points: 0, why: `fires on ${r.trigger}, not on an order` };
    if (r.status !== "active") return { ...base, outcome: "inactive", points: 0, why: `status ${r.status}` };
    const validity = outsideValidity(r, t);
    if (validity !== null) return { ...base, outcome: "outside-validity", points: 0, why: validity };
    const target = notTargeted(r, facts);
    if (target !== null) return { ...base, outcome: "not-targeted", points: 0, why: target };
    const matched = fromEvaluation(r, ev);
    if (matched !== null) return { ...base, ...matched };
    const failed = conditions
      .filter((c) => !c.result)
      .map((c) => `${c.fact} ${c.operator} ${JSON.stringify(c.value)}`);
    return {
      ...base,
      outcome: "conditions-false",
      points: 0,
      why: failed.length > 0 ? `false: ${failed.join("; ")}` : "the conditions as a whole are false",
    };
  });
  return {
    ruleSet: { id: ruleSet.id, version: ruleSet.version },
    eventTime: new Date(t).toISOString(),
    totalPoints: ev.totalPoints.member + ev.totalPoints.referrer,
    rules,
  };
}

const isInt = (v: unknown, min = 0): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min;

/** The request's order and member, checked; the first problem as [field, message]. */
export function orderRequestOf(
  body: unknown,
): { ok: true; order: OrderInput; member: MemberInput } | { ok: false; field: string; message: string } {
  const b = (body ?? {}) as { order?: Record<string, unknown>; member?: Record<string, unknown> };
  const o = b.order ?? {};
  const m = b.member ?? {};
  const placedAt = typeof o.placedAt === "string" ? Date.parse(o.placedAt) : Number.NaN;
  if (!Number.isFinite(placedAt)) return { ok: false, field: "order.placedAt", message: "an ISO 8601 time" };
  if (!isInt(o.amountMinor))
    return { ok: false, field: "order.amountMinor", message: "a non-negative integer" };
  if (typeof o.currency !== "string" || !/^[A-Z]{3}$/.test(o.currency))
    return { ok: false, field: "order.currency", message: "an ISO 4217 code" };
  const rawLines = Array.isArray(o.lines) ? o.lines : [];
  if (rawLines.length > 100) return { ok: false, field: "order.lines", message: "at most 100 lines" };
  const lines = [];
  for (const [i, l] of rawLines.entries()) {
    const x = (l ?? {}) as Record<string, unknown>;
    if (
      typeof x.sku !== "string" ||
      typeof x.category !== "string" ||
      !isInt(x.quantity, 1) ||
      !isInt(x.unitPriceMinor)
    )
      return {
        ok: false,
        field: `order.lines[${i}]`,
        message: "sku, category, quantity >= 1, unitPriceMinor >= 0",
      };
    lines.push({ sku: x.sku, category: x.category, quantity: x.quantity, unitPriceMinor: x.unitPriceMinor });
  }
  if (typeof m.tier !== "string" || m.tier === "")
    return { ok: false, field: "member.tier", message: "a tier name" };
  if (!isInt(m.orderCount))
    return { ok: false, field: "member.orderCount", message: "a non-negative integer" };
  const spend = m.lifetimeSpendMinor ?? 0;
  if (!isInt(spend))
    return { ok: false, field: "member.lifetimeSpendMinor", message: "a non-negative integer" };
  const birthday = m.birthdayMonth ?? null;
  if (birthday !== null && !(isInt(birthday, 1) && birthday <= 12))
    return { ok: false, field: "member.birthdayMonth", message: "1 to 12, or null" };
  const placed = new Date(placedAt).toISOString();
  return {
    ok: true,
    order: {
      orderId: typeof o.orderId === "string" ? o.orderId : "simulated",
      placedAt: placed,
      currency: o.currency,
      amountMinor: o.amountMinor,
      ...(isInt(o.baseAmountMinor) ? { baseAmountMinor: o.baseAmountMinor } : {}),
      channel: typeof o.channel === "string" ? o.channel : "web",
      lines,
    },
    member: {
      memberId: "simulated",
      tier: m.tier,
      segment: typeof m.segment === "string" ? m.segment : null,
      enrolledAt:
        typeof m.enrolledAt === "string" ? m.enrolledAt : new Date(placedAt - 365 * 86_400_000).toISOString(),
      birthdayMonth: birthday,
      orderCount: m.orderCount,
      lifetimeSpendMinor: spend,
      atRisk: m.atRisk === true,
    },
  };
}
