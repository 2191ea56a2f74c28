// The population fit: BG/NBD and Gamma-Gamma by maximum likelihood, plus the RFM reference, from
// every member's summary. Pure: the caller reads the summaries and stores the result.

import type { ChurnSettings } from "../config.ts";
import {
  type BgNbdFit,
  type BgNbdParams,
  DAY_MS,
  type GammaGammaFit,
  fitBgNbd,
  fitGammaGamma,
  wallClockMs,
} from "../model/index.ts";
import { LOG_PARAMETER_REACH } from "../model/optimize.ts";
import { type ActiveModel, type MemberSummary, rfmValuesAt } from "./member.ts";
import { type RfmReference, rfmReference } from "./rfm-reference.ts";

export interface PopulationFit {
  readonly bg: BgNbdFit;
  readonly gg: GammaGammaFit | null;
  readonly rfm: RfmReference;
  /** Start of the last observed day (wall ms): T runs to it, as in the BTYD calibration convention. */
  readonly calibrationEnd: number;
  /** What the acceptance decision looked at besides the fit itself. */
  readonly population: FitPopulationStats;
  /** Whether the fit may drive alerts (see `judgeFit`). */
  readonly verdict: FitVerdict;
}

export interface FitPopulationStats {
  /** Members of the fit with at least one repeat purchase day (x > 0). */
  readonly repeatBuyers: number;
  /** Days from the population's first purchase day to the calibration end, both included. */
  readonly historyDays: number;
}

export type FitVerdict =
  | { readonly accepted: true; readonly rejectedReason: null }
  | { readonly accepted: false; readonly rejectedReason: string };

/**
 * A parameter this close to the optimiser's reach (a factor e^15 from the start at 1, in either
 * direction) sits at a cap, not at an interior optimum: within a factor 10 of e^±15, i.e. outside
 * about [3.1e-6, 3.3e5]. The degenerate early fit of a CDNOW master replay (a = 3.6e-7,
 * b = 8.45e5: "nobody drops out") lands there; published fits are of order 0.1 to 10.
 */
export const PARAMETER_CAP_MARGIN = Math.log(10);

/** Names of the parameters at a cap (or not finite and positive), in r, alpha, a, b order. */
export function parametersAtCap(params: BgNbdParams): Array<keyof BgNbdParams> {
  const limit = LOG_PARAMETER_REACH - PARAMETER_CAP_MARGIN;
  return (["r", "alpha", "a", "b"] as const).filter((k) => !(Math.abs(Math.log(params[k])) < limit));
}

const g3 = (v: number) => Number(v.toPrecision(3)).toString();

/**
 * Pure acceptance decision: a fit drives alerts only when the optimiser converged, no BG/NBD
 * parameter sits at its cap, and the population has enough repeat buyers and history. The reason
 * names every failed test, in this order.
 */
export function judgeFit(
  bg: Pick<BgNbdFit, "params" | "converged">,
  population: FitPopulationStats,
  settings: Pick<ChurnSettings, "minRepeatBuyers" | "minHistoryDays">,
): FitVerdict {
  const reasons: string[] = [];
  if (!bg.converged) reasons.push("not converged");
  const capped = parametersAtCap(bg.params);
  if (capped.length > 0)
    reasons.push(`at the optimiser's cap: ${capped.map((k) => `${k} = ${g3(bg.params[k])}`).join(", ")}`);
  if (population.repeatBuyers < settings.minRepeatBuyers)
    reasons.push(`${population.repeatBuyers} repeat buyers < ${settings.minRepeatBuyers}`);
  if (population.historyDays < settings.minHistoryDays)
    reasons.push(`${population.historyDays} days of history < ${settings.minHistoryDays}`);
  return reasons.length === 0
    ? { accepted: true, rejectedReason: null }
    : { accepted: false, rejectedReason: reasons.join("; ") };
}

/**
 * The calibration period of a fit made at event time `at` ends with the day that contains the
 * last instant before `at`; every purchase before `at` counts and T runs to the start of that
 * day (Fader, Hardie & Lee measure T in whole days to the end of calibration: a purchase on the
 * last day has t_x = T).
 */
export function calibrationEndFor(at: number, timeZone: string): number {
  return Math.floor(wallClockMs(at - 1, timeZone) / DAY_MS) * DAY_MS;
}

const OPTIMIZER = { maxIterations: 3000, maxRestarts: 3 } as const;

/**
 * The two maximum-likelihood fits of a population fit, on members whose first day is at most
 * `calibrationEnd`: BG/NBD, and Gamma-Gamma (null when nobody has a paid repeat purchase yet).
 */
export function fitModels(
  rows: readonly MemberSummary[],
  calibrationEnd: number,
  settings: ChurnSettings,
): { bg: BgNbdFit; gg: GammaGammaFit | null } {
  const u = settings.unitMs;
  const bg = fitBgNbd(
    rows.map((s) => ({ x: s.x, tx: (s.lastDay - s.firstDay) / u, T: (calibrationEnd - s.firstDay) / u })),
    // Cold start every time (a warm start from a degenerate early fit, a → 0, b → ∞, stalls); the
    // caps bound a fit that has no interior optimum yet (nobody has visibly dropped out).
    { penalizer: settings.penalizer, optimizer: OPTIMIZER },
  );
  let gg: GammaGammaFit | null = null;
  try {
    gg = fitGammaGamma(
      rows.map((s) => ({ x: s.x, monetary: s.x > 0 ? s.repeatMinor / s.x : 0 })),
      { optimizer: OPTIMIZER },
    );
  } catch {
    gg = null; // nobody with a paid repeat purchase yet
  }
  return { bg, gg };
}

export function fitPopulation(
  summaries: readonly MemberSummary[],
  at: number,
  settings: ChurnSettings,
): PopulationFit | null {
  const calibrationEnd = calibrationEndFor(at, settings.timeZone);
  const rows = summaries.filter((s) => s.firstDay <= calibrationEnd);
  if (rows.length < settings.minFitMembers) return null;
  const { bg, gg } = fitModels(rows, calibrationEnd, settings);
  let firstDay = calibrationEnd;
  let repeatBuyers = 0;
  for (const s of rows) {
    if (s.firstDay < firstDay) firstDay = s.firstDay;
    if (s.x > 0) repeatBuyers++;
  }
  // Both are wall-clock day starts: whole multiples of a day apart.
  const population = { repeatBuyers, historyDays: Math.round((calibrationEnd - firstDay) / DAY_MS) + 1 };
  return {
    bg,
    gg,
    rfm: rfmReference(rows.map((s) => rfmValuesAt(s, at, settings))),
    calibrationEnd,
    population,
    verdict: judgeFit(bg, population, settings),
  };
}

/**
 * The model a fit puts in force; null when the fit was rejected (the model in force stays). The
 * spend model is usable only with q > 1 (the expected spend is undefined otherwise).
 */
export function activeModelOf(version: string, fit: PopulationFit): ActiveModel | null {
  if (!fit.verdict.accepted) return null;
  const gg = fit.gg !== null && fit.gg.params.q > 1 ? fit.gg.params : null;
  return { version, bg: fit.bg.params, gg, rfm: fit.rfm };
}

/** Deterministic version name: the event time the fit was made at. */
export function modelVersionFor(at: number, trigger: "schedule" | "on-demand" | "as-of"): string {
  const iso = new Date(at).toISOString().replace(".000Z", "Z");
  return trigger === "schedule" ? `bgnbd@${iso}` : `bgnbd-${trigger}@${iso}`;
}
