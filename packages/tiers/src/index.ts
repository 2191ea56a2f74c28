// @loyalty/tiers: the pure, deterministic tier policy shared by the rules engine (tierAt for
// pricing) and the tier evaluator (apply/advanceTo/nextDueAt to publish changes).
//
// Usage: keep one TierState per member (plain JSON, schemaVersion 1). For every qualifying event
// call apply(); persist the state, publish the changes, and index the member by nextDueAt() (e.g. a
// Redis sorted set). On a watermark/timer tick, advanceTo(state, tick) only the members whose due
// time <= tick. Policy in short: upgrades on the event, downgrades only at evaluation dates after
// the grace period, at most maxLevelsDown per evaluation; late events never rewrite the past.
export { CALENDAR_PERIOD_MONTHS, defaultTierConfig, validateTierConfig } from "./config.ts";
export type {
  CalendarPeriod,
  ConfigError,
  ConfigValidation,
  EvaluationConfig,
  TierConfig,
  TierDefinition,
  TierMetric,
  WindowConfig,
} from "./config.ts";
export {
  TIER_STATE_SCHEMA_VERSION,
  advanceTo,
  apply,
  initialState,
  metricAt,
  nextDueAt,
  stats,
  tierAt,
  windowStartDay,
} from "./engine.ts";
export type {
  ApplyOutcome,
  ApplyResult,
  DayBucket,
  InitialStateOptions,
  PendingDowngrade,
  QualifyingEvent,
  QualifyingKind,
  TierChange,
  TierChangeReason,
  TierState,
  TierStats,
  Transition,
} from "./engine.ts";
export { DAY_MS, addMonthsUtc, utcDay } from "./time.ts";
