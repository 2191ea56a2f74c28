// The population fit: BG/NBD and Gamma-Gamma by maximum likelihood, plus the RFM reference, from
// every member's summary. Pure: the caller reads the summaries and stores the result.

import type { ChurnSettings } from "../config.ts";
import {
  type BgNbdFit,
  DAY_MS,
  type GammaGammaFit,
  fitBgNbd,
  fitGammaGamma,
  wallClockMs,
} from "../model/index.ts";
import { type ActiveModel, type MemberSummary, rfmValuesAt } from "./member.ts";
import { type RfmReference, rfmReference } from "./rfm-reference.ts";

export interface PopulationFit {
  readonly bg: BgNbdFit;
  readonly gg: GammaGammaFit | null;
  readonly rfm: RfmReference;
  /** Start of the last observed day (wall ms): T runs to it, as in the BTYD calibration convention. */
  readonly calibrationEnd: number;
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

export function fitPopulation(
  summaries: readonly MemberSummary[],
  at: number,
  settings: ChurnSettings,
): PopulationFit | null {
  const calibrationEnd = calibrationEndFor(at, settings.timeZone);
  const u = settings.unitMs;
  const rows = summaries.filter((s) => s.firstDay <= calibrationEnd);
  if (rows.length < settings.minFitMembers) return null;
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
  return { bg, gg, rfm: rfmReference(rows.map((s) => rfmValuesAt(s, at, settings))), calibrationEnd };
}

/** The spend model is usable only with q > 1 (the expected spend is undefined otherwise). */
export function activeModelOf(version: string, fit: PopulationFit): ActiveModel {
  const gg = fit.gg !== null && fit.gg.params.q > 1 ? fit.gg.params : null;
  return { version, bg: fit.bg.params, gg, rfm: fit.rfm };
}

/** Deterministic version name: the event time the fit was made at. */
export function modelVersionFor(at: number, trigger: "schedule" | "on-demand" | "as-of"): string {
  const iso = new Date(at).toISOString().replace(".000Z", "Z");
  return trigger === "schedule" ? `bgnbd@${iso}` : `bgnbd-${trigger}@${iso}`;
}
