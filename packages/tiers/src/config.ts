// Tier programme configuration: types, the default programme and validation of untrusted JSON.

/**
 * The one qualifying metric of a programme.
 * - points: points earned (points-earned minus points-reversed). Redemptions are not an input,
 *   so spending points never demotes anyone.
 * - spend: purchases minus refunds/cancellations, in base-currency minor units (cents).
 * - orders: number of orders (purchases minus cancelled/refunded orders).
 */
export type TierMetric = "points" | "spend" | "orders";

export interface TierDefinition {
  name: string;
  /** Minimum metric over the window to hold this tier. The first (lowest) tier must be 0. */
  threshold: number;
}

/** Rolling qualification window, bucketed by UTC day. */
export interface WindowConfig {
  unit: "days" | "months";
  length: number;
}

export type CalendarPeriod = "month" | "quarter" | "half-year" | "year";

/**
 * When downgrades are considered.
 * - anniversary: every `periodMonths` after the member's last tier change.
 * - calendar: at every period start (UTC, aligned to January) after the last tier change.
 */
export type EvaluationConfig =
  | { mode: "anniversary"; periodMonths: number }
  | { mode: "calendar"; period: CalendarPeriod };

export interface TierConfig {
  schemaVersion: 1;
  metric: TierMetric;
  /** Ascending by threshold; index = level. */
  tiers: TierDefinition[];
  window: WindowConfig;
  evaluation: EvaluationConfig;
  /** Days after a failed evaluation during which the member may requalify before the downgrade. 0 = downgrade at the evaluation. */
  graceDays: number;
  /** Most levels one evaluation may take a member down. */
  maxLevelsDown: number;
  /** Tier changes kept per member for tierAt(); older ones are dropped. */
  historyLimit: number;
  /** Recent event ids kept per member for idempotency (within the window). 0 disables dedupe. */
  eventIdLimit: number;
}

export const CALENDAR_PERIOD_MONTHS: Readonly<Record<CalendarPeriod, number>> = {
  month: 1,
  quarter: 3,
  "half-year": 6,
  year: 12,
};

/**
 * Default programme, sized on CDNOW (23,570 customers, USD, Jan 1997 - Jun 1998). Metric is spend
 * in cents rather than points so tier multipliers and promotions cannot feed back into tier
 * qualification (with 1 point per dollar the thresholds read the same: 100 / 250 / 600). Measured as
 * the best rolling-12-month spend each customer ever reached: $100 is reached by ~25% of customers
 * (median is ~$42), $250 by ~8%, $600 by ~1.8% - a pyramid where the top tier is rare.
 */
export const defaultTierConfig: TierConfig = {
  schemaVersion: 1,
  metric: "spend",
  tiers: [
    { name: "Member", threshold: 0 },
    { name: "Silver", threshold: 10_000 },
    { name: "Gold", threshold: 25_000 },
    { name: "Platinum", threshold: 60_000 },
  ],
  window: { unit: "months", length: 12 },
  evaluation: { mode: "anniversary", periodMonths: 12 },
  graceDays: 30,
  maxLevelsDown: 1,
  historyLimit: 20,
  eventIdLimit: 256,
};

export interface ConfigError {
  /** JSONPath-like location, e.g. `$.tiers[2].threshold`. */
  path: string;
  message: string;
}

export type ConfigValidation = { ok: true; config: TierConfig } | { ok: false; errors: ConfigError[] };

// Upper bounds keep per-member state bounded (buckets, ids, history).
const MAX_WINDOW_DAYS = 3_660;
const MAX_MONTHS = 120;
const MAX_LIST = 10_000;

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates untrusted JSON. `metric` and `tiers` are required; other fields default to
 * `defaultTierConfig`'s. Unknown keys are errors (they are usually typos). Returns a fresh,
 * normalised config (no shared references with the input).
 */
export function validateTierConfig(json: unknown): ConfigValidation {
  const errors: ConfigError[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  if (!isRecord(json)) {
    return { ok: false, errors: [{ path: "$", message: "must be an object" }] };
  }

  const known = new Set(Object.keys(defaultTierConfig));
  for (const key of Object.keys(json)) {
    if (!known.has(key)) err(`$.${key}`, "unknown field");
  }

  const int = (path: string, value: unknown, min: number, max: number): number | undefined => {
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      err(path, "must be an integer");
      return undefined;
    }
    if (value < min || value > max) {
      err(path, `must be between ${min} and ${max}`);
      return undefined;
    }
    return value;
  };
  const optionalInt = (key: keyof TierConfig, fallback: number, min: number, max: number): number => {
    const v = json[key];
    return v === undefined ? fallback : (int(`$.${key}`, v, min, max) ?? fallback);
  };

  if (json.schemaVersion !== undefined && json.schemaVersion !== 1) err("$.schemaVersion", "must be 1");

  const metrics: readonly TierMetric[] = ["points", "spend", "orders"];
  let metric: TierMetric = defaultTierConfig.metric;
  if (json.metric === undefined) err("$.metric", "is required");
  else if (!metrics.includes(json.metric as TierMetric))
    err("$.metric", `must be one of ${metrics.join(", ")}`);
  else metric = json.metric as TierMetric;

  const tiers: TierDefinition[] = [];
  if (json.tiers === undefined) err("$.tiers", "is required");
  else if (!Array.isArray(json.tiers) || json.tiers.length === 0) err("$.tiers", "must be a non-empty array");
  else {
    const names = new Set<string>();
    let prevThreshold: number | undefined;
    json.tiers.forEach((t: unknown, i: number) => {
      const p = `$.tiers[${i}]`;
      if (!isRecord(t)) {
        err(p, "must be an object");
        return;
      }
      for (const key of Object.keys(t)) {
        if (key !== "name" && key !== "threshold") err(`${p}.${key}`, "unknown field");
      }
      const name = t.name;
      if (typeof name !== "string" || name.trim() === "") err(`${p}.name`, "must be a non-empty string");
      else if (names.has(name)) err(`${p}.name`, `duplicate tier name "${name}"`);
      else names.add(name);
      const threshold = int(`${p}.threshold`, t.threshold, 0, Number.MAX_SAFE_INTEGER);
      if (threshold !== undefined) {
        if (i === 0 && threshold !== 0) err(`${p}.threshold`, "the lowest tier must have threshold 0");
        else if (prevThreshold !== undefined && threshold <= prevThreshold) {
          err(`${p}.threshold`, `must be greater than the previous tier's (${prevThreshold})`);
        }
        prevThreshold = threshold;
      }
      if (typeof name === "string" && threshold !== undefined) tiers.push({ name, threshold });
    });
  }

  let window: WindowConfig = { ...defaultTierConfig.window };
  if (json.window !== undefined) {
    const w = json.window;
    if (!isRecord(w)) err("$.window", "must be an object");
    else {
      for (const key of Object.keys(w)) {
        if (key !== "unit" && key !== "length") err(`$.window.${key}`, "unknown field");
      }
      if (w.unit !== "days" && w.unit !== "months") err("$.window.unit", 'must be "days" or "months"');
      else {
        const length = int("$.window.length", w.length, 1, w.unit === "days" ? MAX_WINDOW_DAYS : MAX_MONTHS);
        if (length !== undefined) window = { unit: w.unit, length };
      }
    }
  }

  let evaluation: EvaluationConfig = { ...defaultTierConfig.evaluation };
  if (json.evaluation !== undefined) {
    const e = json.evaluation;
    if (!isRecord(e)) err("$.evaluation", "must be an object");
    else if (e.mode === "anniversary") {
      for (const key of Object.keys(e)) {
        if (key !== "mode" && key !== "periodMonths") err(`$.evaluation.${key}`, "unknown field");
      }
      const periodMonths =
        e.periodMonths === undefined ? 12 : int("$.evaluation.periodMonths", e.periodMonths, 1, MAX_MONTHS);
      if (periodMonths !== undefined) evaluation = { mode: "anniversary", periodMonths };
    } else if (e.mode === "calendar") {
      for (const key of Object.keys(e)) {
        if (key !== "mode" && key !== "period") err(`$.evaluation.${key}`, "unknown field");
      }
      const periods = Object.keys(CALENDAR_PERIOD_MONTHS);
      if (typeof e.period !== "string" || !periods.includes(e.period)) {
        err("$.evaluation.period", `must be one of ${periods.join(", ")}`);
      } else evaluation = { mode: "calendar", period: e.period as CalendarPeriod };
    } else err("$.evaluation.mode", 'must be "anniversary" or "calendar"');
  }

  const graceDays = optionalInt("graceDays", defaultTierConfig.graceDays, 0, MAX_WINDOW_DAYS);
  const maxLevelsDown = optionalInt("maxLevelsDown", defaultTierConfig.maxLevelsDown, 1, MAX_LIST);
  const historyLimit = optionalInt("historyLimit", defaultTierConfig.historyLimit, 1, MAX_LIST);
  const eventIdLimit = optionalInt("eventIdLimit", defaultTierConfig.eventIdLimit, 0, MAX_LIST);

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      schemaVersion: 1,
      metric,
      tiers,
      window,
      evaluation,
      graceDays,
      maxLevelsDown,
      historyLimit,
      eventIdLimit,
    },
  };
}
