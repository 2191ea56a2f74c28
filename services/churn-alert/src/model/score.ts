// Glue from member features to the churn score the alert logic consumes.

import type { BgNbdParams } from "./bgnbd.ts";
import { expectedPurchases, probabilityAlive } from "./bgnbd.ts";
import { DAY_MS } from "./calendar.ts";
import { ModelNumericError, asModelNumericError } from "./errors.ts";
import type { ClvOptions, GammaGammaParams } from "./gamma-gamma.ts";
import { customerLifetimeValue, expectedAverageValue } from "./gamma-gamma.ts";
import type { MemberFeatures } from "./member-state.ts";

export interface MemberScoreOptions {
  /** Horizon of the expected purchases, in days. */
  readonly horizonDays: number;
  /** When given, the expected value is this discounted CLV instead of the undiscounted horizon value. */
  readonly clv?: ClvOptions;
}

export interface MemberScore {
  readonly pAlive: number;
  readonly expectedPurchases: number;
  /** Rounded to whole minor units: it is money. */
  readonly expectedValueMinor: number;
  /** t_x / x in days; null without repeat purchases. */
  readonly purchaseIntervalDays: number | null;
}

/** A member's score, or why it could not be computed. */
export type MemberScoreResult =
  | { readonly ok: true; readonly score: MemberScore }
  | { readonly ok: false; readonly error: ModelNumericError };

/**
 * Scores one member. Features must be in the unit the models were fitted in (`features.unitMs`).
 * Without a spend model the expected value is 0. Throws ModelNumericError where eq. 10 cannot be
 * evaluated for these parameters; `tryScoreMember` returns that as a value instead.
 */
export function scoreMember(
  features: MemberFeatures,
  bg: BgNbdParams,
  gg: GammaGammaParams | null,
  options: MemberScoreOptions,
): MemberScore {
  const { x, tx, T, monetaryMinor, unitMs } = features;
  const horizon = (options.horizonDays * DAY_MS) / unitMs;
  const purchases = expectedPurchases(bg, horizon, x, tx, T);
  let value = 0;
  if (gg !== null) {
    value =
      options.clv === undefined
        ? purchases * expectedAverageValue(gg, x, monetaryMinor)
        : customerLifetimeValue(bg, gg, { x, tx, T, monetary: monetaryMinor }, options.clv);
  }
  return {
    pAlive: probabilityAlive(bg, x, tx, T),
    expectedPurchases: purchases,
    expectedValueMinor: Math.round(value),
    purchaseIntervalDays: x > 0 ? (tx * unitMs) / DAY_MS / x : null,
  };
}

/**
 * `scoreMember` that does not throw: `{ ok: false, error }` when the model cannot be evaluated
 * (kind `domain`, `no-convergence`, `overflow`), when the score is not finite or its value not a safe
 * integer (`non-finite`), or on any other error (`unexpected`, the error as `cause`).
 */
export function tryScoreMember(
  features: MemberFeatures,
  bg: BgNbdParams,
  gg: GammaGammaParams | null,
  options: MemberScoreOptions,
): MemberScoreResult {
  let score: MemberScore;
  try {
    score = scoreMember(features, bg, gg, options);
  } catch (err) {
    return { ok: false, error: asModelNumericError(err) };
  }
  if (
    !Number.isFinite(score.pAlive) ||
    !Number.isFinite(score.expectedPurchases) ||
    !Number.isSafeInteger(score.expectedValueMinor)
  ) {
    const error = new ModelNumericError(
      "non-finite",
      `score not finite: pAlive=${score.pAlive}, expectedPurchases=${score.expectedPurchases}, ` +
        `expectedValueMinor=${score.expectedValueMinor}`,
    );
    return { ok: false, error };
  }
  return { ok: true, score };
}
