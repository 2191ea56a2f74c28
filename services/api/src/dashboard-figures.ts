// Pure pieces of the dashboard's read model and figures (ADR 18, issue 23 items 4 and 5): what a
// record of loyalty.points.v1, loyalty.tiers.v1 or loyalty.churn-alerts.v1 adds to the API's
// dashboard tables, and how the routes turn those tables into figures (points flow and
// liability, campaign budget burn, win-back conversion, the churn fit, tier progress). No I/O
// here: src/dashboard-read-model.ts and src/http/dashboard.ts do it, and the unit tests hold
// these functions to hand-computed figures.
import type { ChurnAlert, PointsMovement, TierChanged } from "@loyalty/contracts";
import type { DashboardFact, FitRow, PointsDayRow, TierMetricRow, WinbackRow } from "./store/dashboard.ts";

const DAY = 86_400_000;
const WEEK = 7 * DAY;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayMs = (day: string) => Date.parse(`${day}T00:00:00Z`);

/** Avro timestamp-millis as epoch ms (the codec may give a number, a bigint or a Date). */
function epochMs(v: unknown): number | null {
  const n = v instanceof Date ? v.getTime() : typeof v === "bigint" ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) ? n : null;
}

/** Monday 00:00 UTC of the week holding `ms`. */
export function weekOf(ms: number): number {
  const day = Math.floor(ms / DAY);
  return (day - ((((day + 3) % 7) + 7) % 7)) * DAY;
}

export type Facts = { ok: true; facts: DashboardFact[] } | { ok: false; reason: string };

/** A ledger movement: its points on its UTC day, and a purchase if it earned points for an order. */
export function pointsFacts(p: PointsMovement): Facts {
  const at = epochMs(p.eventTime);
  const points = typeof p.points === "bigint" ? Number(p.points) : p.points;
  if (at === null) return { ok: false, reason: `points ${p.eventId}: eventTime is not a timestamp` };
  if (!Number.isSafeInteger(points)) return { ok: false, reason: `points ${p.eventId}: points` };
  const facts: DashboardFact[] = [
    { type: "points", day: isoDay(at), kind: String(p.kind), ruleId: p.ruleId ?? "", points },
  ];
  if (p.kind === "EARNED" && points > 0 && p.orderId !== null && p.orderId !== "")
    facts.push({ type: "purchase", memberId: p.memberId, at });
  return { ok: true, facts };
}

/** A churn alert: the fit it names (with its parameters when the record carries them). */
export function alertFacts(a: ChurnAlert): Facts {
  const at = epochMs(a.eventTime);
  if (at === null) return { ok: false, reason: `alert ${a.eventId}: eventTime is not a timestamp` };
  if (typeof a.modelVersion !== "string" || a.modelVersion === "")
    return { ok: false, reason: `alert ${a.eventId}: no modelVersion` };
  const b = a.bgnbd ?? null;
  return {
    ok: true,
    facts: [
      {
        type: "fit",
        modelVersion: a.modelVersion,
        params: b === null ? null : { r: b.r, alpha: b.alpha, a: b.a, b: b.b },
        at,
      },
    ],
  };
}

/** A tier change: its metric, value and threshold (the tier itself is in api_tier_changes). */
export function tierFacts(t: TierChanged, offset: string): Facts {
  const at = epochMs(t.effectiveAt);
  if (at === null) return { ok: false, reason: `tier change ${t.eventId}: effectiveAt is not a timestamp` };
  if (!Number.isFinite(t.metricValue) || !Number.isFinite(t.threshold))
    return { ok: false, reason: `tier change ${t.eventId}: metric value or threshold` };
  return {
    ok: true,
    facts: [
      {
        type: "tier",
        eventId: t.eventId,
        memberId: t.memberId,
        toTier: t.toTier,
        direction: String(t.direction),
        metric: t.metric,
        metricValue: t.metricValue,
        threshold: t.threshold,
        at,
        offset,
      },
    ],
  };
}

/** The programme's money per point (the API's PROGRAMME_* settings; programme.json's values). */
export interface PointValue {
  currency: string;
  currencyExponent: number;
  /** Money per point in minor units, a decimal string ("1": one cent per point in USD). */
  pointValueMinor: string;
}

export interface FlowDay {
  day: string;
  issued: number;
  reversed: number;
  redeemed: number;
  expired: number;
  adjusted: number;
  /** Points outstanding at the end of the day: every movement up to it, summed. */
  outstanding: number;
  /** outstanding x pointValueMinor, rounded half away from zero, in minor units. */
  liabilityMinor: number;
}

/** outstanding x a decimal string, exactly (BigInt), rounded half away from zero. */
export function liabilityMinor(points: number, pointValueMinor: string): number {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?$/.exec(pointValueMinor);
  if (!m) return Number.NaN;
  const frac = m[3] ?? "";
  const scale = 10n ** BigInt(frac.length);
  const value = BigInt(`${m[2]}${frac}`) * (m[1] === "-" ? -1n : 1n);
  const p = BigInt(points) * value;
  const q = p / scale;
  const r = p % scale;
  const twice = (r < 0n ? -r : r) * 2n;
  return Number(twice >= scale && scale > 1n ? q + (p < 0n ? -1n : 1n) : q);
}

/**
 * Per UTC day for the `days` days up to the newest day with a movement (zero days included):
 * issued (EARNED), reversed, redeemed and expired as positive amounts, adjusted signed, and the
 * points outstanding at each day's end with their liability. Days before the window count
 * towards outstanding.
 */
export function pointsFlowFrom(rows: readonly PointsDayRow[], days: number, value: PointValue) {
  const base = { ...value, to: null as string | null, days: [] as FlowDay[] };
  if (rows.length === 0) return base;
  const byDay = new Map<number, Omit<FlowDay, "day" | "outstanding" | "liabilityMinor"> & { net: number }>();
  let last = Number.NEGATIVE_INFINITY;
  for (const r of rows) {
    const d = dayMs(r.day);
    last = Math.max(last, d);
    const x = byDay.get(d) ?? { issued: 0, reversed: 0, redeemed: 0, expired: 0, adjusted: 0, net: 0 };
    if (r.kind === "EARNED") x.issued += r.points;
    else if (r.kind === "REVERSED") x.reversed -= r.points;
    else if (r.kind === "REDEEMED") x.redeemed -= r.points;
    else if (r.kind === "EXPIRED") x.expired -= r.points;
    else x.adjusted += r.points;
    x.net += r.points;
    byDay.set(d, x);
  }
  const from = last - (days - 1) * DAY;
  let outstanding = 0;
  for (const [d, x] of byDay) if (d < from) outstanding += x.net;
  const out: FlowDay[] = [];
  for (let d = from; d <= last; d += DAY) {
    const x = byDay.get(d) ?? { issued: 0, reversed: 0, redeemed: 0, expired: 0, adjusted: 0, net: 0 };
    outstanding += x.net;
    const { net: _net, ...kinds } = x;
    out.push({
      day: isoDay(d),
      ...kinds,
      outstanding,
      liabilityMinor: liabilityMinor(outstanding, value.pointValueMinor),
    });
  }
  return { ...base, to: isoDay(last), days: out };
}

export interface Budgeted {
  ruleSetId: string;
  ruleSetVersion: number;
  ruleId: string;
  name: string | null;
  budget: number;
}

/** The rules with a `budget.totalPoints` in the newest version of each rule set. */
export function budgetedRules(sets: readonly { ruleSetId: string; version: number; ruleSet: unknown }[]) {
  const out: Budgeted[] = [];
  for (const s of sets) {
    const rules = (s.ruleSet as { rules?: unknown } | null)?.rules;
    if (!Array.isArray(rules)) continue;
    for (const r of rules as { id?: unknown; name?: unknown; budget?: { totalPoints?: unknown } }[]) {
      const total = r?.budget?.totalPoints;
      if (typeof r?.id === "string" && typeof total === "number" && total > 0)
        out.push({
          ruleSetId: s.ruleSetId,
          ruleSetVersion: s.version,
          ruleId: r.id,
          name: typeof r.name === "string" ? r.name : null,
          budget: total,
        });
    }
  }
  return out.sort((a, b) => a.ruleSetId.localeCompare(b.ruleSetId) || a.ruleId.localeCompare(b.ruleId));
}

/**
 * Per budgeted rule, the points it awarded net of reversals (EARNED + REVERSED entries naming it)
 * up to the end of each of the `weeks` weeks ending with the newest movement's week, beside its
 * budget. `rows` are the per-day sums of those rules.
 */
export function budgetBurnFrom(budgets: readonly Budgeted[], rows: readonly PointsDayRow[], weeks: number) {
  const awarded = rows.filter((r) => r.kind === "EARNED" || r.kind === "REVERSED");
  if (budgets.length === 0) return { to: null as string | null, rules: [] };
  const lastDay = awarded.reduce((m, r) => Math.max(m, dayMs(r.day)), Number.NEGATIVE_INFINITY);
  if (!Number.isFinite(lastDay))
    return {
      to: null as string | null,
      rules: budgets.map((b) => ({
        ...b,
        used: 0,
        remaining: b.budget,
        weeks: [] as { week: string; used: number }[],
      })),
    };
  const lastWeek = weekOf(lastDay);
  const from = lastWeek - (weeks - 1) * WEEK;
  return {
    to: isoDay(lastDay),
    rules: budgets.map((b) => {
      const mine = awarded.filter((r) => r.ruleId === b.ruleId);
      let used = 0;
      for (const r of mine) if (weekOf(dayMs(r.day)) < from) used += r.points;
      const perWeek = new Map<number, number>();
      for (const r of mine) {
        const w = weekOf(dayMs(r.day));
        if (w >= from) perWeek.set(w, (perWeek.get(w) ?? 0) + r.points);
      }
      const series: { week: string; used: number }[] = [];
      for (let w = from; w <= lastWeek; w += WEEK) {
        used += perWeek.get(w) ?? 0;
        series.push({ week: isoDay(w), used });
      }
      return { ...b, used, remaining: b.budget - used, weeks: series };
    }),
  };
}

/** Win-back per week for the `weeks` weeks up to the newest alert's (quiet weeks as zeros). */
export function winbackFrom(rows: readonly WinbackRow[], weeks: number) {
  if (rows.length === 0) return { to: null as string | null, alerted: 0, converted: 0, weeks: [] };
  const by = new Map(rows.map((r) => [dayMs(r.week), r]));
  const last = Math.max(...by.keys());
  const from = last - (weeks - 1) * WEEK;
  const out: { week: string; alerted: number; converted: number; rate: number | null }[] = [];
  let alerted = 0;
  let converted = 0;
  for (let w = from; w <= last; w += WEEK) {
    const r = by.get(w);
    const a = r?.alerted ?? 0;
    const c = r?.converted ?? 0;
    alerted += a;
    converted += c;
    out.push({ week: isoDay(w), alerted: a, converted: c, rate: a === 0 ? null : c / a });
  }
  return { to: isoDay(last), alerted, converted, weeks: out };
}

/** When a fit was made, from its version (`bgnbd@<ISO>`, `bgnbd-<trigger>@<ISO>`); null if not named. */
export function fitMadeAt(modelVersion: string): string | null {
  const at = modelVersion.lastIndexOf("@");
  if (at < 0) return null;
  const t = Date.parse(modelVersion.slice(at + 1));
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** The fit as the churn page shows it: the newest one alerts name, and when it was made. */
export function fitView(f: FitRow) {
  return {
    modelVersion: f.modelVersion,
    madeAt: fitMadeAt(f.modelVersion),
    params: f.params,
    firstAlertAt: new Date(f.firstAlertAt).toISOString(),
    lastAlertAt: new Date(f.lastAlertAt).toISOString(),
    alerts: f.alerts,
  };
}

/**
 * A member's progress to the next tier from what loyalty.tiers.v1 carries: the metric and its
 * value at the member's latest change, and the ladder of thresholds seen on upgrades (any
 * member's). The next tier is the one with the smallest threshold above the member's current
 * tier's; null at the top of the ladder seen so far. The value is as of that change: the
 * evaluator publishes nothing between changes.
 */
export function tierProgressFrom(
  latest: TierMetricRow | null,
  ladder: readonly { tier: string; metric: string; threshold: number }[],
) {
  if (latest === null) return null;
  const steps = ladder.filter((l) => l.metric === latest.metric).sort((a, b) => a.threshold - b.threshold);
  const own =
    steps.find((s) => s.tier === latest.toTier)?.threshold ??
    (latest.direction === "UP" ? latest.threshold : 0);
  const next = steps.find((s) => s.threshold > own && s.tier !== latest.toTier) ?? null;
  return {
    tier: latest.toTier,
    metric: latest.metric,
    value: latest.metricValue,
    asOf: new Date(latest.at).toISOString(),
    next:
      next === null
        ? null
        : {
            tier: next.tier,
            threshold: next.threshold,
            remaining: Math.max(0, next.threshold - latest.metricValue),
            progress: next.threshold <= 0 ? 1 : Math.min(1, Math.max(0, latest.metricValue / next.threshold)),
          },
  };
}
