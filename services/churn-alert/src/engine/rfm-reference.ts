// RFM quintiles against a reference population. At each refit the population's quintile scores
// (the model's scoreRfm) are summarised by the lowest value reaching each score; a member is
// later scored by those boundaries. Quintile scores are monotone in the value, so scoring the
// reference population this way gives back exactly its own scores, and a member seen between
// refits is placed in the population as it was at the last refit.

import { type RfmSegment, rfmSegment } from "../model/index.ts";

/** boundaries[s-1] = lowest value with score s in the reference, null when no value scored s. */
export type Boundaries = readonly (number | null)[];

export interface RfmReference {
  /** On negated recency in days (the most recent buyers score 5). */
  readonly r: Boundaries;
  readonly f: Boundaries;
  readonly m: Boundaries;
}

export interface RfmValues {
  readonly recencyDays: number;
  readonly frequency: number;
  readonly monetary: number;
}

export interface RfmResult {
  readonly r: number;
  readonly f: number;
  readonly m: number;
  readonly segment: RfmSegment;
}

/**
 * The boundaries of `quintileScores(values)` (the lowest value with each score), from one numeric
 * sort: equal values are adjacent there, and each run of them gets the score quintileScores gives
 * it (values below = the run's start, equal = its length). A refit computes three of these over
 * every member, so this skips scoring each value by binary search.
 */
export function boundariesOf(values: readonly number[]): Boundaries {
  if (values.some((v) => Number.isNaN(v))) throw new RangeError("boundariesOf: NaN value");
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const out: (number | null)[] = [null, null, null, null, null];
  for (let i = 0; i < n; ) {
    const v = sorted[i] as number;
    let j = i + 1;
    while (j < n && sorted[j] === v) j++;
    const s = Math.min(5, Math.floor(((i + (j - i) / 2) / n) * 5) + 1) - 1;
    // Runs come in increasing value, so the first run with a score holds its lowest value.
    if (out[s] === null) out[s] = v;
    i = j;
  }
  return out;
}

export function scoreBy(boundaries: Boundaries, v: number): number {
  let s = 1;
  boundaries.forEach((b, i) => {
    if (b !== null && v >= b) s = i + 1;
  });
  return s;
}

export function rfmReference(population: readonly RfmValues[]): RfmReference {
  return {
    r: boundariesOf(population.map((p) => -p.recencyDays)),
    f: boundariesOf(population.map((p) => p.frequency)),
    m: boundariesOf(population.map((p) => p.monetary)),
  };
}

export function scoreRfmBy(ref: RfmReference, v: RfmValues): RfmResult {
  const r = scoreBy(ref.r, -v.recencyDays);
  const f = scoreBy(ref.f, v.frequency);
  const m = scoreBy(ref.m, v.monetary);
  return { r, f, m, segment: rfmSegment(r, f) };
}
