// Glue from member features to the churn score the alert logic consumes.

import type { BgNbdParams } from "./bgnbd.ts";
import { expectedPurchases, probabilityAlive } from "./bgnbd.ts";
import { DAY_MS } from "./calendar.ts";
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

/**
 * Scores one member. Features must be in the unit the models were fitted in (`features.unitMs`).
 * Without a spend model the expected value is 0.
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
