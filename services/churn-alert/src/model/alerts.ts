// Churn alert episodes. A member is alerted at most once per episode: an alert disarms the member
// and only a purchase newer than any seen before re-arms, so a member whose P(alive) keeps sinking is
// not alerted every scoring run.

import { DAY_MS } from "./calendar.ts";
import type { RfmSegment } from "./rfm.ts";

export interface AlertState {
  readonly armed: boolean;
  readonly lastAlertAt: number | null;
  /** Latest purchase time seen by the alerting logic (epoch ms). */
  readonly lastPurchaseAt: number | null;
}

export const INITIAL_ALERT_STATE: AlertState = { armed: true, lastAlertAt: null, lastPurchaseAt: null };

export interface ChurnScore {
  readonly pAlive: number;
  /** Expected purchases over the configured horizon. */
  readonly expectedPurchases: number;
  readonly expectedValueMinor: number;
  readonly segment: RfmSegment;
}

export interface AlertInput {
  /** Scoring time, epoch ms. */
  readonly now: number;
  /** Latest purchase of the member, epoch ms; null if none. */
  readonly lastPurchaseAt: number | null;
  /** Usual days between purchase days (t_x / x in days); null when there is no repeat purchase. */
  readonly purchaseIntervalDays?: number | null;
  readonly score: ChurnScore;
}

export interface AlertConfig {
  readonly pAliveThreshold: number;
  /** Horizon of `score.expectedPurchases`, in days; echoed in the payload. */
  readonly horizonDays: number;
  /** Below this expected value no alert is raised at all. */
  readonly minExpectedValueMinor?: number;
  /** At or above: high-value-at-risk regardless of segment. */
  readonly highValueMinor?: number;
  /** Below (and not high by segment): low-value-at-risk. */
  readonly lowValueMinor?: number;
}

export type ActionLevel = "high-value-at-risk" | "at-risk" | "low-value-at-risk";

export interface ChurnAlert {
  readonly at: number;
  readonly pAlive: number;
  readonly expectedPurchases: number;
  readonly horizonDays: number;
  readonly expectedValueMinor: number;
  readonly segment: RfmSegment;
  readonly daysSinceLastPurchase: number;
  readonly reason: string;
  readonly actionLevel: ActionLevel;
}

export interface AlertDecision {
  readonly state: AlertState;
  readonly alert: ChurnAlert | null;
}

const HIGH_VALUE_SEGMENTS: ReadonlySet<RfmSegment> = new Set(["champions", "loyal", "cannot-lose"]);
const LOW_VALUE_SEGMENTS: ReadonlySet<RfmSegment> = new Set(["hibernating", "lost"]);

export function actionLevel(score: ChurnScore, config: AlertConfig): ActionLevel {
  const v = score.expectedValueMinor;
  if (HIGH_VALUE_SEGMENTS.has(score.segment)) return "high-value-at-risk";
  if (config.highValueMinor !== undefined && v >= config.highValueMinor) return "high-value-at-risk";
  if (LOW_VALUE_SEGMENTS.has(score.segment)) return "low-value-at-risk";
  if (config.lowValueMinor !== undefined && v < config.lowValueMinor) return "low-value-at-risk";
  return "at-risk";
}

// Two decimals unless that would print the value equal to the threshold it is below.
function formatBelow(value: number, threshold: number): string {
  const short = value.toFixed(2);
  return short === threshold.toFixed(2) ? value.toFixed(4) : short;
}

export function alertReason(input: AlertInput, config: AlertConfig, daysSince: number): string {
  const { score } = input;
  const parts = [
    `P(alive) ${formatBelow(score.pAlive, config.pAliveThreshold)} below ${config.pAliveThreshold.toFixed(2)} ` +
      `after ${daysSince} ${daysSince === 1 ? "day" : "days"} without a purchase`,
  ];
  const interval = input.purchaseIntervalDays;
  if (interval !== undefined && interval !== null && Number.isFinite(interval) && interval > 0) {
    parts.push(`used to buy every ~${Math.round(interval)} days`);
  } else {
    parts.push("no repeat purchase yet");
  }
  parts.push(
    `expects ${score.expectedPurchases.toFixed(2)} purchases in the next ${config.horizonDays} days`,
  );
  return parts.join("; ");
}

/**
 * Pure episode step: returns the next alert state and the alert to emit, if any. Deterministic:
 * the same inputs give the same state and the same text.
 */
export function decideAlert(previous: AlertState, input: AlertInput, config: AlertConfig): AlertDecision {
  const seen = previous.lastPurchaseAt;
  const latest = input.lastPurchaseAt;
  // Only a purchase later than any seen before starts a new episode; late-arriving older ones do not.
  const newPurchase = latest !== null && (seen === null || latest > seen);
  const lastPurchaseAt = newPurchase ? latest : seen;
  const armed = previous.armed || newPurchase;
  const quiet: AlertState = { armed, lastAlertAt: previous.lastAlertAt, lastPurchaseAt };

  if (!armed || lastPurchaseAt === null) return { state: quiet, alert: null };
  const { score } = input;
  if (!(score.pAlive < config.pAliveThreshold)) return { state: quiet, alert: null };
  if (config.minExpectedValueMinor !== undefined && score.expectedValueMinor < config.minExpectedValueMinor) {
    return { state: quiet, alert: null };
  }

  const daysSince = Math.max(0, Math.floor((input.now - lastPurchaseAt) / DAY_MS));
  const alert: ChurnAlert = {
    at: input.now,
    pAlive: score.pAlive,
    expectedPurchases: score.expectedPurchases,
    horizonDays: config.horizonDays,
    expectedValueMinor: score.expectedValueMinor,
    segment: score.segment,
    daysSinceLastPurchase: daysSince,
    reason: alertReason(input, config, daysSince),
    actionLevel: actionLevel(score, config),
  };
  return { state: { armed: false, lastAlertAt: input.now, lastPurchaseAt }, alert };
}
