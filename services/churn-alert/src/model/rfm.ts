// RFM scoring by population quintiles and the usual (R, F) segment map.

export interface RfmInput {
  readonly id: string;
  /** Time since the last purchase (any unit): smaller is better. */
  readonly recency: number;
  readonly frequency: number;
  readonly monetary: number;
}

export type RfmSegment =
  | "champions"
  | "loyal"
  | "potential-loyalist"
  | "new"
  | "promising"
  | "need-attention"
  | "about-to-sleep"
  | "at-risk"
  | "cannot-lose"
  | "hibernating"
  | "lost";

export interface RfmScore {
  readonly id: string;
  /** 1..5, 5 = most recent. */
  readonly r: number;
  /** 1..5, 5 = most frequent. */
  readonly f: number;
  /** 1..5, 5 = highest spend. */
  readonly m: number;
  readonly segment: RfmSegment;
}

/**
 * Quintile score 1..5 of each value (higher value, higher score). A value's position is its mid-rank
 * percentile (below + equal/2)/n, so equal values always share a score and the result does not depend
 * on input order; with distinct values each score holds n/5 members.
 */
export function quintileScores(values: readonly number[]): number[] {
  const n = values.length;
  if (values.some((v) => Number.isNaN(v))) throw new RangeError("quintileScores: NaN value");
  const sorted = [...values].sort((p, q) => p - q);
  return values.map((v) => {
    const below = bound(sorted, v, false);
    const equal = bound(sorted, v, true) - below;
    const percentile = (below + equal / 2) / n;
    return Math.min(5, Math.floor(percentile * 5) + 1);
  });
}

// First index whose value is >= v (strict = false) or > v (strict = true).
function bound(sorted: readonly number[], v: number, strict: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const s = sorted[mid]!;
    if (s < v || (strict && s === v)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Segment from (R, F), after the widely used RFM segment map:
 *   R 1–2: F 1–2 hibernating (R1 F1: lost), F 3–4 at risk, F 5 cannot lose
 *   R 3:   F 1–2 about to sleep, F 3 need attention, F 4–5 loyal
 *   R 4:   F 1 promising, F 2–3 potential loyalist, F 4–5 loyal
 *   R 5:   F 1 new, F 2–3 potential loyalist, F 4–5 champions
 */
export function rfmSegment(r: number, f: number): RfmSegment {
  if (!isScore(r) || !isScore(f)) throw new RangeError(`RFM scores must be integers 1..5, got R=${r} F=${f}`);
  if (r <= 2) {
    if (f === 5) return "cannot-lose";
    if (f >= 3) return "at-risk";
    return r === 1 && f === 1 ? "lost" : "hibernating";
  }
  if (r === 3) {
    if (f >= 4) return "loyal";
    return f === 3 ? "need-attention" : "about-to-sleep";
  }
  if (r === 4) {
    if (f >= 4) return "loyal";
    return f === 1 ? "promising" : "potential-loyalist";
  }
  if (f >= 4) return "champions";
  return f === 1 ? "new" : "potential-loyalist";
}

function isScore(v: number): boolean {
  return Number.isInteger(v) && v >= 1 && v <= 5;
}

export function scoreRfm(population: readonly RfmInput[]): RfmScore[] {
  // Negated recency: the most recent buyers get R = 5.
  const r = quintileScores(population.map((p) => -p.recency));
  const f = quintileScores(population.map((p) => p.frequency));
  const m = quintileScores(population.map((p) => p.monetary));
  return population.map((p, i) => {
    const ri = r[i]!;
    const fi = f[i]!;
    return { id: p.id, r: ri, f: fi, m: m[i]!, segment: rfmSegment(ri, fi) };
  });
}
