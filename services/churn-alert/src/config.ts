// Service configuration: validated once at start (zod), then turned into plain settings that the
// pure engine code takes as an argument.

import { baseConfigSchema } from "@loyalty/stream-runtime";
import { z } from "zod";
import { DAY_MS } from "./model/index.ts";

const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD")
  .transform((s) => Date.parse(`${s}T00:00:00Z`));
/** Defaults of the fit guards (see README, "Rejected fits"). */
export const MIN_REPEAT_BUYERS = 200;
export const MIN_HISTORY_DAYS = 56;

const optionalMinor = z.coerce.number().int().min(0).optional();

export const churnConfigSchema = baseConfigSchema.extend({
  SERVICE_NAME: z.string().min(1).default("churn-alert"),
  /** P(alive) strictly below this raises an alert. */
  CHURN_P_ALIVE_THRESHOLD: z.coerce.number().gt(0).lt(1).default(0.3),
  /** Horizon of "expected purchases" and of the expected value, days. */
  CHURN_HORIZON_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** Only alert members whose expected value is at least this (base-currency minor units). */
  CHURN_MIN_VALUE_MINOR: optionalMinor,
  CHURN_HIGH_VALUE_MINOR: optionalMinor,
  CHURN_LOW_VALUE_MINOR: optionalMinor,
  /** Refit cadence in days of event time, on a grid aligned to CHURN_REFIT_ANCHOR. */
  CHURN_REFIT_DAYS: z.coerce.number().int().min(1).max(366).default(7),
  CHURN_REFIT_ANCHOR: isoDay.default("1970-01-01"),
  /** Alerts fall on this grid (hours, aligned to the epoch): midnight UTC by default. */
  CHURN_ALERT_GRID_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 7)
    .default(24),
  /** Time unit of the model: 7 = weeks, as in the paper. */
  CHURN_UNIT_DAYS: z.coerce.number().gt(0).max(365).default(7),
  /** Discount rate per 30-day period for the expected value. */
  CHURN_DISCOUNT_RATE: z.coerce.number().min(0).max(1).default(0.01),
  CHURN_MIN_FIT_MEMBERS: z.coerce.number().int().min(2).default(100),
  /**
   * A fit drives alerts only when at least this many members of the fit have a repeat purchase
   * (x > 0): with fewer, nobody has visibly dropped out and the dropout parameters (a, b) are not
   * identified.
   */
  CHURN_MIN_REPEAT_BUYERS: z.coerce.number().int().min(0).default(MIN_REPEAT_BUYERS),
  /** …and the population's history (first purchase to the calibration end) spans this many days. */
  CHURN_MIN_HISTORY_DAYS: z.coerce.number().int().min(0).max(3650).default(MIN_HISTORY_DAYS),
  CHURN_PENALIZER: z.coerce.number().min(0).default(0),
  CHURN_TIME_ZONE: z.string().min(1).default("UTC"),
  /**
   * Event mode: how long every input partition must stand consumed to its end, nothing new
   * arriving, before events past the watermark (a finished replay's tail) are released, ms.
   */
  CHURN_IDLE_MS: z.coerce.number().int().min(100).max(600_000).default(2000),
  CHURN_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .default("USD"),
});

export type ChurnConfig = z.infer<typeof churnConfigSchema>;

export interface ChurnSettings {
  readonly threshold: number;
  readonly horizonDays: number;
  readonly minValueMinor?: number;
  readonly highValueMinor?: number;
  readonly lowValueMinor?: number;
  readonly refitMs: number;
  readonly refitAnchor: number;
  readonly gridMs: number;
  readonly unitMs: number;
  /** Discounting period for the expected value, days. */
  readonly periodDays: number;
  readonly discountRate: number;
  readonly minFitMembers: number;
  /** A fit with fewer repeat buyers is stored but rejected (does not drive alerts). */
  readonly minRepeatBuyers: number;
  /** A fit whose population history is shorter (days) is stored but rejected. */
  readonly minHistoryDays: number;
  readonly penalizer: number;
  readonly timeZone: string;
  readonly currency: string;
}

export const DEFAULT_SETTINGS: ChurnSettings = {
  threshold: 0.3,
  horizonDays: 90,
  refitMs: 7 * DAY_MS,
  refitAnchor: 0,
  gridMs: DAY_MS,
  unitMs: 7 * DAY_MS,
  periodDays: 30,
  discountRate: 0.01,
  minFitMembers: 100,
  minRepeatBuyers: MIN_REPEAT_BUYERS,
  minHistoryDays: MIN_HISTORY_DAYS,
  penalizer: 0,
  timeZone: "UTC",
  currency: "USD",
};

export function settingsFrom(c: ChurnConfig): ChurnSettings {
  return {
    threshold: c.CHURN_P_ALIVE_THRESHOLD,
    horizonDays: c.CHURN_HORIZON_DAYS,
    ...(c.CHURN_MIN_VALUE_MINOR !== undefined ? { minValueMinor: c.CHURN_MIN_VALUE_MINOR } : {}),
    ...(c.CHURN_HIGH_VALUE_MINOR !== undefined ? { highValueMinor: c.CHURN_HIGH_VALUE_MINOR } : {}),
    ...(c.CHURN_LOW_VALUE_MINOR !== undefined ? { lowValueMinor: c.CHURN_LOW_VALUE_MINOR } : {}),
    refitMs: c.CHURN_REFIT_DAYS * DAY_MS,
    refitAnchor: c.CHURN_REFIT_ANCHOR,
    gridMs: c.CHURN_ALERT_GRID_HOURS * 3_600_000,
    unitMs: c.CHURN_UNIT_DAYS * DAY_MS,
    periodDays: 30,
    discountRate: c.CHURN_DISCOUNT_RATE,
    minFitMembers: c.CHURN_MIN_FIT_MEMBERS,
    minRepeatBuyers: c.CHURN_MIN_REPEAT_BUYERS,
    minHistoryDays: c.CHURN_MIN_HISTORY_DAYS,
    penalizer: c.CHURN_PENALIZER,
    timeZone: c.CHURN_TIME_ZONE,
    currency: c.CHURN_CURRENCY,
  };
}
