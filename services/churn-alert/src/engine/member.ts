// One member's timeline between two refits, as a pure function. While the model is fixed a
// member's alerts depend on nothing but the member's own events, so members are advanced
// independently: events and due times are merged in event-time order (at one instant the due
// time comes first: an alert at t sees the events before t, never those at t).

import { createHash } from "node:crypto";
import type { ChurnAlert as ChurnAlertRecord } from "@loyalty/contracts";
import type { ChurnSettings } from "../config.ts";
import {
  type AlertState,
  type BgNbdParams,
  DAY_MS,
  type GammaGammaParams,
  INITIAL_ALERT_STATE,
  type MemberEvent,
  type MemberFeatures,
  type MemberState,
  type ModelNumericError,
  type RfmSegment,
  applyEvent,
  createMemberState,
  decideAlert,
  expectedAverageValue,
  probabilityAlive,
  tryScoreMember,
  wallClockMs,
} from "../model/index.ts";
import { nextGridAfter } from "./grid.ts";
import { type RfmReference, scoreRfmBy } from "./rfm-reference.ts";

/** The model in force: a scheduled fit, from its fitted-at time until the next one. */
export interface ActiveModel {
  readonly version: string;
  readonly bg: BgNbdParams;
  /** Null when the spend model could not be fitted (or has q <= 1): expected value 0. */
  readonly gg: GammaGammaParams | null;
  readonly rfm: RfmReference;
}

/** What the population fit and the scores need, for all purchase days in the state. */
export interface MemberSummary {
  /** Repeat purchase days. */
  readonly x: number;
  /** Start of the first / last purchase day, wall-clock ms of the state's zone. */
  readonly firstDay: number;
  readonly lastDay: number;
  readonly purchaseDays: number;
  readonly totalMinor: number;
  /** Net amount of the repeat purchase days (first day excluded). */
  readonly repeatMinor: number;
  readonly lastPurchaseAt: number;
}

export interface MemberRow {
  readonly memberId: string;
  readonly state: MemberState;
  readonly lastEventTime: number | null;
  readonly alert: AlertState;
  /** Grid time at which P(alive) falls below the threshold under the model in force; null: none. */
  readonly dueAt: number | null;
}

export interface TimedEvent {
  readonly time: number;
  readonly event: MemberEvent;
}

export function newMemberRow(memberId: string, timeZone: string): MemberRow {
  return {
    memberId,
    state: createMemberState(timeZone),
    lastEventTime: null,
    alert: INITIAL_ALERT_STATE,
    dueAt: null,
  };
}

const own = <T>(r: Readonly<Record<string, T>>, k: string): T | undefined =>
  Object.hasOwn(r, k) ? r[k] : undefined;

function dayMs(key: string): number {
  return Date.parse(`${key}T00:00:00Z`);
}

export function summarise(state: MemberState): MemberSummary | null {
  const keys = Object.keys(state.days).sort();
  const first = keys[0];
  const last = keys[keys.length - 1];
  if (first === undefined || last === undefined) return null;
  let total = 0;
  let repeat = 0;
  let lastPurchaseAt = Number.NEGATIVE_INFINITY;
  keys.forEach((k, i) => {
    const d = own(state.days, k);
    if (d === undefined) return;
    total += d.amountMinor;
    if (i > 0) repeat += d.amountMinor;
    for (const id of d.orderIds) {
      const o = own(state.orders, id);
      if (o !== undefined && o.eventTime > lastPurchaseAt) lastPurchaseAt = o.eventTime;
    }
  });
  return {
    x: keys.length - 1,
    firstDay: dayMs(first),
    lastDay: dayMs(last),
    purchaseDays: keys.length,
    totalMinor: total,
    repeatMinor: repeat,
    lastPurchaseAt,
  };
}

/** t_x and T in model units at epoch time t (T runs to t itself). */
function agesAt(s: MemberSummary, t: number, settings: ChurnSettings): { tx: number; T: number } {
  const u = settings.unitMs;
  const span = s.lastDay - s.firstDay;
  return { tx: span / u, T: Math.max(span, wallClockMs(t, settings.timeZone) - s.firstDay) / u };
}

/** Model features at epoch time t (T runs to t itself). */
export function featuresAt(s: MemberSummary, t: number, settings: ChurnSettings): MemberFeatures {
  const u = settings.unitMs;
  const { tx, T } = agesAt(s, t, settings);
  return {
    x: s.x,
    tx,
    T,
    monetaryMinor: s.x > 0 ? s.repeatMinor / s.x : 0,
    purchaseDays: s.purchaseDays,
    totalAmountMinor: s.totalMinor,
    firstPurchaseDay: new Date(s.firstDay).toISOString().slice(0, 10),
    lastPurchaseDay: new Date(s.lastDay).toISOString().slice(0, 10),
    lastPurchaseAt: s.lastPurchaseAt,
    unitMs: u,
  };
}

export interface MemberScoreAt {
  readonly pAlive: number;
  readonly expectedPurchases: number;
  readonly expectedValueMinor: number;
  readonly purchaseIntervalDays: number | null;
  readonly rfm: { readonly r: number; readonly f: number; readonly m: number };
  readonly segment: RfmSegment;
  /**
   * Null when eq. 10 was evaluated. Otherwise why it could not be (`kind`, message, `cause`), and
   * pAlive, expectedPurchases and expectedValueMinor are the bounded fallback (see boundedScore).
   */
  readonly modelError: ModelNumericError | null;
}

/** Callbacks of the scoring path, e.g. for metrics. */
export interface ScoreHooks {
  /**
   * Called once per score that fell back because the model could not be evaluated (the error's
   * `kind` labels it). Must not throw.
   */
  readonly onModelError?: (error: ModelNumericError) => void;
}

export function rfmValuesAt(s: MemberSummary, t: number, settings: ChurnSettings) {
  return {
    recencyDays: Math.max(0, Math.floor((wallClockMs(t, settings.timeZone) - s.lastDay) / DAY_MS)),
    frequency: s.purchaseDays,
    monetary: s.totalMinor / s.purchaseDays,
  };
}

/**
 * The member's score at t under the model. Never throws for numeric reasons: where the model cannot
 * be evaluated the result carries `modelError` and the bounded fallback, and `hooks.onModelError` is
 * called with the error.
 */
export function scoreAt(
  s: MemberSummary,
  t: number,
  model: ActiveModel,
  settings: ChurnSettings,
  hooks?: ScoreHooks,
): MemberScoreAt {
  const f = featuresAt(s, t, settings);
  const periods = Math.max(1, Math.round(settings.horizonDays / settings.periodDays));
  const result = tryScoreMember(f, model.bg, model.gg, {
    horizonDays: settings.horizonDays,
    clv: {
      periodLength: (settings.horizonDays * DAY_MS) / periods / settings.unitMs,
      periods,
      discountRate: settings.discountRate,
    },
  });
  let score: Omit<MemberScoreAt, "rfm" | "segment" | "modelError">;
  let modelError: ModelNumericError | null = null;
  if (result.ok) {
    score = result.score;
  } else {
    modelError = result.error;
    hooks?.onModelError?.(modelError);
    score = boundedScore(f, model, settings);
  }
  const rfm = scoreRfmBy(model.rfm, rfmValuesAt(s, t, settings));
  return { ...score, rfm: { r: rfm.r, f: rfm.f, m: rfm.m }, segment: rfm.segment, modelError };
}

/**
 * Fallback when the series of eq. 10 cannot be evaluated (extreme parameters of an early fit): the
 * purchases a member alive at rate (r+x)/(α+T) would make over the horizon, times P(alive), an
 * upper bound of E[Y(t)], valued undiscounted. Deterministic, so replays still agree.
 */
function boundedScore(f: MemberFeatures, model: ActiveModel, settings: ChurnSettings) {
  const { r, alpha } = model.bg;
  const pAlive = probabilityAlive(model.bg, f.x, f.tx, f.T);
  const horizon = (settings.horizonDays * DAY_MS) / f.unitMs;
  const purchases = (pAlive * (r + f.x) * horizon) / (alpha + f.T);
  const value = model.gg === null ? 0 : purchases * expectedAverageValue(model.gg, f.x, f.monetaryMinor);
  return {
    pAlive,
    expectedPurchases: purchases,
    expectedValueMinor: Number.isFinite(value) ? Math.round(value) : 0,
    purchaseIntervalDays: f.x > 0 ? (f.tx * f.unitMs) / DAY_MS / f.x : null,
  };
}

/** P(alive) at t, without the rest of the features (dueTime's inner loop). */
function pAliveAt(s: MemberSummary, t: number, bg: BgNbdParams, settings: ChurnSettings): number {
  const { tx, T } = agesAt(s, t, settings);
  return probabilityAlive(bg, s.x, tx, T);
}

const MAX_HORIZON_MS = 200 * 365 * DAY_MS;

/**
 * The first alert-grid point strictly after `after` at which P(alive) < threshold. P(alive) falls
 * monotonically with T for fixed x and t_x, so the crossing is solved in closed form and the grid
 * point found from there:
 *   P < θ  ⇔  (r+x)·ln((α+T)/(α+t_x)) > ln((1−θ)/θ) − ln(a/(b+x−1)).
 * Null when the member has no repeat purchase (P(alive) = 1) or never crosses.
 */
export function dueTime(
  s: MemberSummary,
  after: number,
  bg: BgNbdParams,
  settings: ChurnSettings,
): number | null {
  if (s.x === 0) return null;
  const { r, alpha, a, b } = bg;
  const theta = settings.threshold;
  const need = Math.log((1 - theta) / theta) - Math.log(a / (b + s.x - 1));
  const tx = (s.lastDay - s.firstDay) / settings.unitMs;
  const tStar = need <= 0 ? tx : (alpha + tx) * Math.exp(need / (r + s.x)) - alpha;
  if (!Number.isFinite(tStar)) return null;
  // Wall-clock crossing read as epoch time: off by at most the zone's offset, hence the day of slack.
  const crossing = s.firstDay + tStar * settings.unitMs;
  if (crossing - after > MAX_HORIZON_MS) return null;
  let g = nextGridAfter(Math.max(after, crossing - DAY_MS), settings.gridMs);
  for (let i = 0; i < 10_000; i++, g += settings.gridMs) {
    if (pAliveAt(s, g, bg, settings) < theta) return g;
  }
  return null;
}

function armedFor(row: MemberRow, s: MemberSummary): boolean {
  const seen = row.alert.lastPurchaseAt;
  return row.alert.armed || seen === null || s.lastPurchaseAt > seen;
}

/** Due time of a member under `model`, for grid points strictly after `after`. */
export function dueFor(
  row: MemberRow,
  after: number,
  model: ActiveModel | null,
  settings: ChurnSettings,
): number | null {
  if (model === null) return null;
  const s = summarise(row.state);
  if (s === null || !armedFor(row, s)) return null;
  return dueTime(s, after, model.bg, settings);
}

/** Stable alert id: one alert per member and episode (episode = since the latest purchase). */
export function alertEventId(memberId: string, episodeStart: number, at: number): string {
  const h = createHash("sha256").update(["churn", memberId, String(episodeStart), String(at)].join("\u0000"));
  return `chn-${h.digest("hex").slice(0, 32)}`;
}

/** Evaluates the member at its due time t: an alert, or not (value too low), and what is due next. */
export function fireDue(
  row: MemberRow,
  t: number,
  model: ActiveModel | null,
  settings: ChurnSettings,
  hooks?: ScoreHooks,
): { row: MemberRow; alert: ChurnAlertRecord | null } {
  const s = summarise(row.state);
  if (model === null || s === null) return { row: { ...row, dueAt: null }, alert: null };
  const score = scoreAt(s, t, model, settings, hooks);
  const decision = decideAlert(
    row.alert,
    {
      now: t,
      lastPurchaseAt: s.lastPurchaseAt,
      purchaseIntervalDays: score.purchaseIntervalDays,
      score: {
        pAlive: score.pAlive,
        expectedPurchases: score.expectedPurchases,
        expectedValueMinor: score.expectedValueMinor,
        segment: score.segment,
      },
    },
    {
      pAliveThreshold: settings.threshold,
      horizonDays: settings.horizonDays,
      ...(settings.minValueMinor !== undefined ? { minExpectedValueMinor: settings.minValueMinor } : {}),
      ...(settings.highValueMinor !== undefined ? { highValueMinor: settings.highValueMinor } : {}),
      ...(settings.lowValueMinor !== undefined ? { lowValueMinor: settings.lowValueMinor } : {}),
    },
  );
  const next: MemberRow = { ...row, alert: decision.state };
  const a = decision.alert;
  if (a === null) {
    // Still above the threshold (rounding at the crossing): look again at the next grid point.
    // Below it but worth too little: expected value only falls without a purchase, so wait for one.
    const again = score.pAlive >= settings.threshold ? dueFor(next, t, model, settings) : null;
    return { row: { ...next, dueAt: again }, alert: null };
  }
  return {
    row: { ...next, dueAt: null },
    alert: {
      eventId: alertEventId(row.memberId, s.lastPurchaseAt, t),
      memberId: row.memberId,
      eventTime: t,
      pAlive: a.pAlive,
      expectedPurchases: a.expectedPurchases,
      horizonDays: a.horizonDays,
      expectedValueMinor: a.expectedValueMinor,
      currency: settings.currency,
      segment: a.segment,
      actionLevel: a.actionLevel,
      reason: a.reason,
      modelVersion: model.version,
    },
  };
}

/** Applies one event; the due time is recomputed for grid points after the event. */
export function applyTimed(
  row: MemberRow,
  e: TimedEvent,
  model: ActiveModel | null,
  settings: ChurnSettings,
): MemberRow {
  const state = applyEvent(row.state, e.event);
  const lastEventTime = row.lastEventTime === null ? e.time : Math.max(row.lastEventTime, e.time);
  if (state === row.state) return { ...row, lastEventTime };
  const next: MemberRow = { ...row, state, lastEventTime };
  return { ...next, dueAt: dueFor(next, Math.max(e.time, lastEventTime), model, settings) };
}

/**
 * Advances one member through its events (sorted by time, then id) and its due times up to
 * `limit` (inclusive or not), under one model. `hooks` go to every score (see scoreAt).
 */
export function advanceMember(
  row: MemberRow,
  events: readonly TimedEvent[],
  model: ActiveModel | null,
  settings: ChurnSettings,
  limit: number,
  inclusive: boolean,
  hooks?: ScoreHooks,
): { row: MemberRow; alerts: ChurnAlertRecord[] } {
  const alerts: ChurnAlertRecord[] = [];
  const within = (t: number) => (inclusive ? t <= limit : t < limit);
  let r = row;
  const fireUntil = (bound: (t: number) => boolean) => {
    for (let guard = 0; r.dueAt !== null && bound(r.dueAt) && guard < 10_000; guard++) {
      const fired = fireDue(r, r.dueAt, model, settings, hooks);
      r = fired.row;
      if (fired.alert !== null) alerts.push(fired.alert);
    }
  };
  for (const e of events) {
    fireUntil((t) => t <= e.time && within(t));
    r = applyTimed(r, e, model, settings);
  }
  fireUntil(within);
  return { row: r, alerts };
}
