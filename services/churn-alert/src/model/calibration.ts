// The calibration report: how well a BG/NBD fit on a calibration period predicts the repeat
// purchases of the holdout period that follows it, in total and by calibration frequency, as in
// Fader, Hardie & Lee (2005), "Counting your customers the easy way", Figure 5 (conditional
// expectations). Pure: member features and fitted parameters in, the report out.

import { type BgNbdParams, expectedPurchases } from "./bgnbd.ts";
import { dayIndexOfKey, wallClockMs } from "./calendar.ts";
import type { MemberState } from "./member-state.ts";

/** One member of the calibration cohort (first purchase on or before the calibration end). */
export interface CalibrationMember {
  readonly memberId: string;
  /** Repeat purchase days in the calibration period. */
  readonly x: number;
  /** First to last calibration purchase day, in units. */
  readonly tx: number;
  /** First purchase day to the calibration end, in units. */
  readonly T: number;
  /** Purchase days in the holdout period (every one a repeat purchase). */
  readonly actual: number;
}

/** A member's line of the report: its features, what it did and what the model expected. */
export interface MemberCalibration extends CalibrationMember {
  /** E[X(t) | x, t_x, T], t = the holdout length. */
  readonly expected: number;
}

export interface FrequencyBucket {
  /** Calibration repeat purchases; the last bucket holds this many and more. */
  readonly x: number;
  /** "0", "1", …, "7+". */
  readonly label: string;
  readonly members: number;
  /** Sum over the bucket's members of the holdout purchases. */
  readonly actual: number;
  /** Sum over the bucket's members of E[X(t) | x, t_x, T]. */
  readonly expected: number;
  /** Mean holdout purchases per member; null for an empty bucket. */
  readonly actualMean: number | null;
  readonly expectedMean: number | null;
}

export interface CalibrationTotals {
  readonly members: number;
  readonly actual: number;
  readonly expected: number;
  /** (expected − actual) / actual; null when nobody purchased in the holdout. */
  readonly relativeError: number | null;
}

export interface CalibrationFigures {
  /** Holdout length t, in units. */
  readonly holdoutLength: number;
  readonly totals: CalibrationTotals;
  readonly byFrequency: readonly FrequencyBucket[];
  /** In member order as given. */
  readonly members: readonly MemberCalibration[];
}

export interface CalibrationOptions {
  /** The last bucket: this many calibration repeat purchases and more (7 in the paper). */
  readonly maxFrequency?: number;
}

/**
 * Actual against expected holdout purchases, for the members of the calibration cohort. Every
 * bucket from 0 to `maxFrequency` is present, an empty one with zero members and null means.
 */
export function calibrationFigures(
  members: readonly CalibrationMember[],
  params: BgNbdParams,
  holdoutLength: number,
  options: CalibrationOptions = {},
): CalibrationFigures {
  const maxFrequency = options.maxFrequency ?? 7;
  if (!Number.isInteger(maxFrequency) || maxFrequency < 0)
    throw new RangeError(`maxFrequency must be a non-negative integer, got ${maxFrequency}`);
  if (!(holdoutLength > 0)) throw new RangeError(`holdout length must be positive, got ${holdoutLength}`);

  const buckets = Array.from({ length: maxFrequency + 1 }, () => ({ members: 0, actual: 0, expected: 0 }));
  const lines: MemberCalibration[] = [];
  let actual = 0;
  let expected = 0;
  for (const m of members) {
    if (!Number.isInteger(m.x) || m.x < 0 || !Number.isInteger(m.actual) || m.actual < 0)
      throw new RangeError(`member ${m.memberId}: x and actual must be non-negative integers`);
    if (!(m.tx >= 0 && m.T >= m.tx))
      throw new RangeError(`member ${m.memberId}: needs 0 <= tx <= T, got tx ${m.tx}, T ${m.T}`);
    const e = expectedPurchases(params, holdoutLength, m.x, m.tx, m.T);
    lines.push({ ...m, expected: e });
    const b = buckets[Math.min(m.x, maxFrequency)];
    if (b === undefined) throw new Error("unreachable: bucket out of range");
    b.members++;
    b.actual += m.actual;
    b.expected += e;
    actual += m.actual;
    expected += e;
  }
  return {
    holdoutLength,
    totals: {
      members: lines.length,
      actual,
      expected,
      relativeError: actual > 0 ? (expected - actual) / actual : null,
    },
    byFrequency: buckets.map((b, x) => ({
      x,
      label: x === maxFrequency ? `${x}+` : String(x),
      members: b.members,
      actual: b.actual,
      expected: b.expected,
      actualMean: b.members > 0 ? b.actual / b.members : null,
      expectedMean: b.members > 0 ? b.expected / b.members : null,
    })),
    members: lines,
  };
}

/**
 * Purchase days of the state after the day `calibrationEnd` and up to and including the day
 * `holdoutEnd` (both "YYYY-MM-DD", days of the state's zone): the holdout period
 * (calibration end, holdout end].
 */
export function holdoutPurchaseDays(state: MemberState, calibrationEnd: string, holdoutEnd: string): number {
  const from = dayIndexOfKey(calibrationEnd);
  const to = dayIndexOfKey(holdoutEnd);
  let n = 0;
  for (const key of Object.keys(state.days)) {
    const d = dayIndexOfKey(key);
    if (d > from && d <= to) n++;
  }
  return n;
}

/**
 * An instant at which the wall clock of `timeZone` reads `wallMs` (a local midnight, in the
 * wall-clock ms of calendar.ts), so that `memberFeatures(state, at)` cuts at that local midnight
 * whatever the state's zone; where a DST gap skips it, the first instant after the gap.
 */
export function instantOfWallClock(wallMs: number, timeZone: string): number {
  let at = wallMs;
  // Each step applies the offset at the current guess; two settle every real zone.
  for (let i = 0; i < 4; i++) {
    const diff = wallClockMs(at, timeZone) - wallMs;
    if (diff === 0) return at;
    at -= diff;
  }
  while (wallClockMs(at, timeZone) < wallMs) at += 60_000;
  return at;
}
