// Pure text of the dashboard's, churn page's and member page's figures: money in minor units,
// each chart's caption (what it shows and its figures, also for readers who cannot see the
// chart), tier progress. Unit tested (test/figures.test.ts); the pages only render them.

/** Minor units as money: `USD 1,234.56` (exponent 2), `JPY 1,234` (exponent 0). */
export function money(minor: number, currency: string, exponent: number): string {
  const neg = minor < 0;
  const digits = String(Math.abs(Math.trunc(minor))).padStart(exponent + 1, "0");
  const whole = digits.slice(0, digits.length - exponent);
  const frac = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : "";
  return `${neg ? "-" : ""}${currency} ${Number(whole).toLocaleString("en")}${frac}`;
}

const n = (x: number) => x.toLocaleString("en");

export interface FlowDay {
  day: string;
  issued: number;
  reversed: number;
  redeemed: number;
  expired: number;
  adjusted: number;
  outstanding: number;
  liabilityMinor: number;
}
export interface Flow {
  to: string | null;
  currency: string;
  currencyExponent: number;
  pointValueMinor: string;
  days: FlowDay[];
}

export function liabilityCaption(f: Flow): string {
  const last = f.days.at(-1);
  if (!last) return "No points movement read yet.";
  return `Outstanding points liability at each day's end, ${f.days.length} days up to ${f.to ?? "-"} (event time): ${n(last.outstanding)} points, ${money(last.liabilityMinor, f.currency, f.currencyExponent)} at ${f.pointValueMinor} minor units per point.`;
}

export function flowCaption(f: Flow): string {
  const sum = (k: "issued" | "redeemed" | "expired") => n(f.days.reduce((s, d) => s + d[k], 0));
  return `Points issued, redeemed and expired, cumulative over the ${f.days.length} days up to ${f.to ?? "-"}: ${sum("issued")} issued, ${sum("redeemed")} redeemed, ${sum("expired")} expired.`;
}

/** Running totals per day of issued, redeemed and expired (the flow chart's lines). */
export function cumulative(days: readonly FlowDay[]): {
  issued: number[];
  redeemed: number[];
  expired: number[];
} {
  const out = { issued: [] as number[], redeemed: [] as number[], expired: [] as number[] };
  let i = 0;
  let r = 0;
  let e = 0;
  for (const d of days) {
    i += d.issued;
    r += d.redeemed;
    e += d.expired;
    out.issued.push(i);
    out.redeemed.push(r);
    out.expired.push(e);
  }
  return out;
}

export interface BudgetRule {
  ruleSetId: string;
  ruleId: string;
  name: string | null;
  budget: number;
  used: number;
  remaining: number;
  weeks: { week: string; used: number }[];
}

export function budgetCaption(r: BudgetRule): string {
  const pct = r.budget > 0 ? ((100 * r.used) / r.budget).toFixed(1) : "0.0";
  return `${r.name ?? r.ruleId} (${r.ruleSetId}/${r.ruleId}): ${n(r.used)} of ${n(r.budget)} points used (${pct} %), ${n(r.remaining)} left.`;
}

export interface Winback {
  to: string | null;
  alerted: number;
  converted: number;
  weeks: { week: string; alerted: number; converted: number; rate: number | null }[];
}

export function winbackCaption(w: Winback): string {
  const rate = w.alerted === 0 ? "-" : `${((100 * w.converted) / w.alerted).toFixed(1)} %`;
  return `Win-back conversion per week of alerts, ${w.weeks.length} weeks up to ${w.to ?? "-"}: ${n(w.alerted)} members alerted, ${n(w.converted)} purchased again after the alert (${rate}).`;
}

export interface Segments {
  members: number;
  segments: { segment: string; members: number }[];
  actionLevels: { actionLevel: string; members: number }[];
}

export function segmentsCaption(s: Segments): string {
  if (s.members === 0) return "No churn alert read yet.";
  return `Members per segment of their latest alert (${n(s.members)} members alerted): ${s.segments
    .map((x) => `${x.segment} ${n(x.members)}`)
    .join(", ")}.`;
}

export interface Calibration {
  calibrationEnd: string;
  holdoutEnd: string;
  totals: { members: number; actual: number; expected: number; relativeError: number | null };
  byFrequency: {
    x: number;
    label: string;
    members: number;
    actualMean: number | null;
    expectedMean: number | null;
  }[];
}

export function calibrationCaption(c: Calibration): string {
  const err = c.totals.relativeError === null ? "-" : `${(100 * c.totals.relativeError).toFixed(1)} %`;
  return `Repeat purchases in the holdout (${c.calibrationEnd} to ${c.holdoutEnd}) per member, predicted against actual, by repeat purchases in calibration: ${n(c.totals.members)} members, ${n(c.totals.actual)} actual, ${c.totals.expected.toFixed(1)} predicted (error ${err}).`;
}

export interface TierProgress {
  tier: string;
  metric: string;
  value: number;
  asOf: string;
  next: { tier: string; threshold: number; remaining: number; progress: number } | null;
}

export function progressText(p: TierProgress): string {
  if (p.next === null) return `${p.tier}: the highest tier seen on upgrades (${p.metric} ${n(p.value)}).`;
  return `${p.tier}: ${p.metric} ${n(p.value)} of ${n(p.next.threshold)} for ${p.next.tier} (${Math.round(100 * p.next.progress)} %), ${n(p.next.remaining)} to go.`;
}
