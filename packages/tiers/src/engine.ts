// The tier state machine. Every public function is pure: it copies the state it is given and
// returns a new one; time only ever comes from arguments (UTC epoch millis).
import { CALENDAR_PERIOD_MONTHS } from "./config.ts";
import type { TierConfig, TierMetric } from "./config.ts";
import { DAY_MS, addMonthsUtc, monthIndex, nextPeriodStartUtc, utcDay } from "./time.ts";

export const TIER_STATE_SCHEMA_VERSION = 1;

export type QualifyingKind = "points-earned" | "points-reversed" | "purchase" | "refund" | "cancellation";

/**
 * A movement of the qualifying metric. `value` and `orders` are non-negative integer magnitudes;
 * the kind gives the sign (points-reversed, refund and cancellation subtract). Which field counts
 * depends on config.metric: points -> value of points-*, spend -> value of purchase/refund/
 * cancellation (minor units), orders -> `orders` of purchase/refund/cancellation.
 */
export interface QualifyingEvent {
  kind: QualifyingKind;
  eventId: string;
  /** Event time, UTC epoch millis. */
  eventTime: number;
  value: number;
  /** Orders delta magnitude; defaults to 1 for purchase and cancellation, 0 for refund (partial refunds keep the order). */
  orders?: number;
  /**
   * For reversals (points-reversed, refund, cancellation): event time of the movement being
   * reversed. The reversal is booked in that day's bucket so it leaves the window together with
   * the original; if the original is already outside the window the reversal changes nothing.
   */
  reversesEventTime?: number;
}

export type TierChangeReason = "qualified" | "grace-expired" | "evaluation";

export interface TierChange {
  memberId: string;
  from: string;
  to: string;
  direction: "up" | "down";
  reason: TierChangeReason;
  metric: TierMetric;
  /** Window total when the change was decided. */
  metricValue: number;
  /** Up: threshold of the tier reached. Down: threshold of the tier the member failed to keep. */
  threshold: number;
  /** When the new tier starts to apply (epoch millis). */
  effectiveAt: number;
  /** The evaluation that decided a downgrade (effectiveAt = evaluationDate + grace). */
  evaluationDate?: number;
}

/** [UTC day number, window contribution of that day]. Sorted by day, only days inside the window. */
export type DayBucket = [day: number, value: number];

export interface PendingDowngrade {
  evaluationDate: number;
  graceEndsAt: number;
}

/** Per-member state; plain JSON (jsonb / Redis friendly). */
export interface TierState {
  schemaVersion: 1;
  memberId: string;
  tier: string;
  /** Earliest event time seen (or the seed time); members are not counted by stats() before it. */
  joinedAt: number | null;
  /** The member's clock: the latest time it was advanced to. Never moves back. */
  asOf: number | null;
  /** effectiveAt of the last tier change; the anniversary anchor. */
  tierSince: number | null;
  /** Evaluations are done up to here; the next one is the first scheduled date after it. */
  evaluatedThrough: number | null;
  pending: PendingDowngrade | null;
  /** Running sum of `buckets`, i.e. the metric over the window ending at asOf's day. */
  windowSum: number;
  buckets: DayBucket[];
  /** [eventId, bucket day] of recently applied events, pruned with the window and capped. */
  recentEventIds: [eventId: string, day: number][];
  /** Last tier changes, oldest first, at most config.historyLimit. */
  history: TierChange[];
  /** Tiers before this time are unknown (changes were evicted or the member was seeded). */
  historyFloor: number | null;
}

export type ApplyOutcome = "applied" | "ignored-metric" | "outside-window" | "duplicate";

export interface Transition {
  state: TierState;
  changes: TierChange[];
}

export interface ApplyResult extends Transition {
  outcome: ApplyOutcome;
}

export interface InitialStateOptions {
  /** Seed tier (e.g. migrating from another system); defaults to the lowest tier. */
  tier?: string;
  /** Required with a non-lowest seed tier: when that tier started (the anniversary anchor). */
  since?: number;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function assertTime(name: string, t: number): void {
  if (!Number.isSafeInteger(t)) throw new RangeError(`${name} must be integer epoch millis, got ${t}`);
}

function checkState(state: TierState): void {
  if (state.schemaVersion !== TIER_STATE_SCHEMA_VERSION) {
    throw new Error(`unsupported tier state schemaVersion ${String(state.schemaVersion)}`);
  }
}

function levelOf(config: TierConfig, tier: string): number {
  const level = config.tiers.findIndex((t) => t.name === tier);
  // A state naming a tier the config no longer has is a migration bug, not something to guess at.
  if (level < 0) throw new Error(`tier "${tier}" is not in the tier config`);
  return level;
}

function tierDef(config: TierConfig, level: number): { name: string; threshold: number } {
  const def = config.tiers[level];
  if (def === undefined) throw new Error(`no tier at level ${level}`);
  return def;
}

/** Highest level whose threshold the metric reaches (the lowest tier if none, even for negative sums). */
function qualifiedLevel(config: TierConfig, metric: number): number {
  let level = 0;
  config.tiers.forEach((t, i) => {
    if (metric >= t.threshold) level = i;
  });
  return level;
}

/** First UTC day still inside the window that ends on `today` (inclusive). */
export function windowStartDay(config: TierConfig, today: number): number {
  if (config.window.unit === "days") return today - config.window.length + 1;
  return utcDay(addMonthsUtc(today * DAY_MS, -config.window.length)) + 1;
}

/** Signed contribution of an event to the configured metric (0 when the metric ignores the kind). */
function contribution(event: QualifyingEvent, metric: TierMetric): number {
  const { kind } = event;
  if (metric === "points") {
    if (kind === "points-earned") return event.value;
    if (kind === "points-reversed") return -event.value;
    return 0;
  }
  if (kind === "points-earned" || kind === "points-reversed") return 0;
  if (metric === "spend") return kind === "purchase" ? event.value : -event.value;
  const orders = event.orders ?? (kind === "refund" ? 0 : 1);
  return kind === "purchase" ? orders : -orders;
}

function validateEvent(event: QualifyingEvent): void {
  assertTime("eventTime", event.eventTime);
  if (typeof event.eventId !== "string" || event.eventId === "") throw new TypeError("eventId is required");
  // Integers keep the running sum exact, hence byte-identical however the work is batched.
  if (!Number.isSafeInteger(event.value) || event.value < 0) {
    throw new RangeError(`event ${event.eventId}: value must be a non-negative integer, got ${event.value}`);
  }
  if (event.orders !== undefined && (!Number.isSafeInteger(event.orders) || event.orders < 0)) {
    throw new RangeError(`event ${event.eventId}: orders must be a non-negative integer`);
  }
  if (event.reversesEventTime !== undefined) assertTime("reversesEventTime", event.reversesEventTime);
}

function cloneChange(c: TierChange): TierChange {
  return { ...c };
}

function cloneState(s: TierState): TierState {
  return {
    schemaVersion: s.schemaVersion,
    memberId: s.memberId,
    tier: s.tier,
    joinedAt: s.joinedAt,
    asOf: s.asOf,
    tierSince: s.tierSince,
    evaluatedThrough: s.evaluatedThrough,
    pending:
      s.pending === null
        ? null
        : { evaluationDate: s.pending.evaluationDate, graceEndsAt: s.pending.graceEndsAt },
    windowSum: s.windowSum,
    buckets: s.buckets.map(([d, v]): DayBucket => [d, v]),
    recentEventIds: s.recentEventIds.map(([id, d]): [string, number] => [id, d]),
    history: s.history.map(cloneChange),
    historyFloor: s.historyFloor,
  };
}

/** Drops buckets (and remembered event ids) that left the window ending on `today`. O(dropped + ids). */
function pruneTo(s: TierState, config: TierConfig, today: number): void {
  const start = windowStartDay(config, today);
  let drop = 0;
  for (const [day, value] of s.buckets) {
    if (day >= start) break;
    s.windowSum -= value;
    drop++;
  }
  if (drop > 0) s.buckets.splice(0, drop);
  if (s.recentEventIds.some(([, day]) => day < start)) {
    s.recentEventIds = s.recentEventIds.filter(([, day]) => day >= start);
  }
}

function addToBucket(s: TierState, day: number, delta: number): void {
  // Most events land in the newest bucket: search from the end.
  let i = s.buckets.length - 1;
  while (i >= 0 && (s.buckets[i] as DayBucket)[0] > day) i--;
  const at = s.buckets[i];
  if (at !== undefined && at[0] === day) {
    at[1] += delta;
    if (at[1] === 0) s.buckets.splice(i, 1); // keep state minimal; an empty day is no bucket
  } else if (delta !== 0) {
    s.buckets.splice(i + 1, 0, [day, delta]);
  }
  s.windowSum += delta;
}

function recordChange(s: TierState, config: TierConfig, change: TierChange, out: TierChange[]): void {
  s.tier = change.to;
  s.tierSince = change.effectiveAt;
  s.evaluatedThrough = change.effectiveAt;
  s.pending = null;
  s.history.push(change);
  while (s.history.length > config.historyLimit) {
    const evicted = s.history.shift() as TierChange;
    s.historyFloor = evicted.effectiveAt;
  }
  out.push(cloneChange(change));
}

/** Next scheduled evaluation strictly after `after`. */
function nextEvaluationAfter(config: TierConfig, anchor: number, after: number): number {
  const ev = config.evaluation;
  if (ev.mode === "calendar") return nextPeriodStartUtc(after, CALENDAR_PERIOD_MONTHS[ev.period]);
  const p = ev.periodMonths;
  // Anniversaries are anchor + k*p months, each computed from the anchor so month-end clamping never drifts.
  let k = Math.max(1, Math.floor((monthIndex(after) - monthIndex(anchor)) / p));
  while (k > 1 && addMonthsUtc(anchor, (k - 1) * p) > after) k--;
  while (addMonthsUtc(anchor, k * p) <= after) k++;
  return addMonthsUtc(anchor, k * p);
}

function dueAt(s: TierState, config: TierConfig): number | null {
  if (s.pending !== null) return s.pending.graceEndsAt;
  // The lowest tier cannot go down and upgrades only happen on events: nothing is ever due.
  if (levelOf(config, s.tier) === 0) return null;
  const anchor = s.tierSince ?? s.asOf;
  const after = s.evaluatedThrough ?? anchor;
  if (anchor === null || after === null) return null;
  return nextEvaluationAfter(config, anchor, after);
}

/** Runs one due evaluation or grace expiry at `at` (the member's clock is already there). */
function runDue(s: TierState, config: TierConfig, at: number, out: TierChange[]): void {
  const level = levelOf(config, s.tier);
  const current = tierDef(config, level);
  const metric = s.windowSum;
  const qualified = qualifiedLevel(config, metric);
  const base = { memberId: s.memberId, from: s.tier, metric: config.metric, metricValue: metric };

  if (s.pending !== null) {
    const { evaluationDate } = s.pending;
    if (metric >= current.threshold) {
      // Requalified during the grace period: the evaluation passes late.
      s.pending = null;
      s.evaluatedThrough = at;
      return;
    }
    const to = Math.max(qualified, level - config.maxLevelsDown);
    const change: TierChange = {
      ...base,
      to: tierDef(config, to).name,
      direction: "down",
      reason: "grace-expired",
      threshold: current.threshold,
      effectiveAt: at,
      evaluationDate,
    };
    recordChange(s, config, change, out);
    return;
  }

  if (qualified > level) {
    // Only reachable after a config change lowered thresholds; promote rather than ignore.
    const change: TierChange = {
      ...base,
      to: tierDef(config, qualified).name,
      direction: "up",
      reason: "evaluation",
      threshold: tierDef(config, qualified).threshold,
      effectiveAt: at,
      evaluationDate: at,
    };
    recordChange(s, config, change, out);
  } else if (qualified === level) {
    s.evaluatedThrough = at;
  } else if (config.graceDays === 0) {
    const change: TierChange = {
      ...base,
      to: tierDef(config, Math.max(qualified, level - config.maxLevelsDown)).name,
      direction: "down",
      reason: "evaluation",
      threshold: current.threshold,
      effectiveAt: at,
      evaluationDate: at,
    };
    recordChange(s, config, change, out);
  } else {
    s.pending = { evaluationDate: at, graceEndsAt: at + config.graceDays * DAY_MS };
  }
}

/** Mutating core of advanceTo: runs every evaluation/grace expiry due at or before `time`, in order. */
function advanceMut(s: TierState, config: TierConfig, time: number, out: TierChange[]): void {
  if (s.asOf !== null && time <= s.asOf) return;
  for (;;) {
    const due = dueAt(s, config);
    if (due === null || due > time) break;
    // A due time behind the clock only happens after a config change; run it now, never in the past.
    const at = s.asOf === null ? due : Math.max(due, s.asOf);
    pruneTo(s, config, utcDay(at));
    s.asOf = at;
    runDue(s, config, at, out);
  }
  pruneTo(s, config, utcDay(time));
  s.asOf = time;
}

function maybeUpgrade(s: TierState, config: TierConfig, at: number, out: TierChange[]): void {
  const level = levelOf(config, s.tier);
  const qualified = qualifiedLevel(config, s.windowSum);
  if (qualified <= level) return;
  const target = tierDef(config, qualified);
  recordChange(
    s,
    config,
    {
      memberId: s.memberId,
      from: s.tier,
      to: target.name,
      direction: "up",
      reason: "qualified",
      metric: config.metric,
      metricValue: s.windowSum,
      threshold: target.threshold,
      effectiveAt: at,
    },
    out,
  );
}

// ---------------------------------------------------------------------------------------------
// Public API

/** A new member at the lowest tier (or seeded at `tier` since `since`). */
export function initialState(
  memberId: string,
  config: TierConfig,
  options: InitialStateOptions = {},
): TierState {
  const lowest = tierDef(config, 0).name;
  const tier = options.tier ?? lowest;
  const level = levelOf(config, tier);
  if (options.since !== undefined) assertTime("since", options.since);
  if (level > 0 && options.since === undefined)
    throw new Error("a seeded tier above the lowest needs `since`");
  const since = options.since ?? null;
  return {
    schemaVersion: TIER_STATE_SCHEMA_VERSION,
    memberId,
    tier,
    joinedAt: since,
    asOf: since,
    tierSince: level > 0 ? since : null,
    evaluatedThrough: level > 0 ? since : null,
    pending: null,
    windowSum: 0,
    buckets: [],
    recentEventIds: [],
    history: [],
    // What the member held before a seed is unknown.
    historyFloor: level > 0 ? since : null,
  };
}

/**
 * Moves the member's clock to `time`, running every evaluation and grace expiry due at or before
 * it, in time order, then pruning the window. Advancing to t1 then t2 gives exactly the same
 * state and changes as advancing to t2 directly. Times at or before the clock are a no-op.
 */
export function advanceTo(state: TierState, time: number, config: TierConfig): Transition {
  checkState(state);
  assertTime("time", time);
  const s = cloneState(state);
  const changes: TierChange[] = [];
  advanceMut(s, config, time, changes);
  return { state: s, changes };
}

/**
 * Applies one qualifying movement. First advances the member to the event time (evaluations due
 * at or before it run first, on the data before the event), then books the event in its UTC-day
 * bucket and upgrades immediately if the member now qualifies for a higher tier (several levels
 * at once if need be). Never downgrades: a reversal lowers the metric and is judged at the next
 * evaluation.
 *
 * Late events (eventTime before the member's clock) are booked in their day's bucket if it is
 * still inside the window and otherwise dropped; past evaluations are never re-run, and an
 * upgrade they trigger is effective at the clock, not back-dated, so tierAt() never rewrites a
 * time that may already have been priced.
 *
 * Idempotency: ids of applied events are remembered while their bucket is in the window, up to
 * config.eventIdLimit per member (oldest forgotten first). Services also dedupe upstream; this is
 * the safety net for redeliveries, not a guarantee beyond that bound.
 */
export function apply(state: TierState, event: QualifyingEvent, config: TierConfig): ApplyResult {
  checkState(state);
  validateEvent(event);
  const s = cloneState(state);
  const changes: TierChange[] = [];
  if (config.eventIdLimit > 0 && s.recentEventIds.some(([id]) => id === event.eventId)) {
    // Unchanged: the first delivery already advanced the clock at least this far.
    return { state: cloneState(state), changes, outcome: "duplicate" };
  }
  advanceMut(s, config, event.eventTime, changes);
  s.joinedAt = s.joinedAt === null ? event.eventTime : Math.min(s.joinedAt, event.eventTime);

  const delta = contribution(event, config.metric);
  if (delta === 0) return { state: s, changes, outcome: "ignored-metric" };

  const isReversal = delta < 0;
  const bookedAt =
    isReversal && event.reversesEventTime !== undefined
      ? Math.min(event.reversesEventTime, event.eventTime)
      : event.eventTime;
  const day = utcDay(bookedAt);
  const asOf = s.asOf as number;
  if (day < windowStartDay(config, utcDay(asOf))) return { state: s, changes, outcome: "outside-window" };

  addToBucket(s, day, delta);
  if (config.eventIdLimit > 0) {
    s.recentEventIds.push([event.eventId, day]);
    if (s.recentEventIds.length > config.eventIdLimit) s.recentEventIds.shift();
  }
  maybeUpgrade(s, config, asOf, changes);
  return { state: s, changes, outcome: "applied" };
}

/**
 * When the member next needs attention without any event: the next evaluation date, or the end
 * of a running grace period. null when nothing can happen by time alone (lowest tier). Meant as
 * the score in a timer index; calling advanceTo(state, nextDueAt) is always safe.
 */
export function nextDueAt(state: TierState, config: TierConfig): number | null {
  checkState(state);
  const due = dueAt(state, config);
  if (due === null) return null;
  // Mirrors advanceMut: something overdue (after a config change) is due right away.
  return state.asOf === null ? due : Math.max(due, state.asOf);
}

/**
 * The tier the member held at `time` (changes effective exactly at `time` included). Returns null
 * when the history needed was evicted (older than config.historyLimit changes) or precedes a
 * seeded tier. For times after the member's clock this is the current tier: advance first to
 * account for due downgrades. To price the order that itself triggers an upgrade at the old tier,
 * read the tier before applying that order.
 */
export function tierAt(state: TierState, time: number): string | null {
  checkState(state);
  if (state.historyFloor !== null && time < state.historyFloor) return null;
  for (let i = state.history.length - 1; i >= 0; i--) {
    const change = state.history[i] as TierChange;
    if (change.effectiveAt <= time) return change.to;
  }
  return state.history[0]?.from ?? state.tier;
}

/**
 * Metric over the window ending on `time`'s UTC day (default: the member's clock), assuming no new
 * events. Meant for `time` at or after the clock (e.g. "spend to keep Gold by the evaluation"):
 * buckets already pruned are gone, so earlier times are not reconstructed.
 */
export function metricAt(state: TierState, config: TierConfig, time?: number): number {
  checkState(state);
  const at = time ?? state.asOf;
  if (at === null) return state.windowSum;
  const start = windowStartDay(config, utcDay(at));
  const today = utcDay(at);
  let sum = 0;
  for (const [day, value] of state.buckets) if (day >= start && day <= today) sum += value;
  return sum;
}

export interface TierStats {
  at: number;
  /** Members per tier name, every configured tier present. */
  counts: Record<string, number>;
  /** Members whose tier at `at` is unknown (history evicted). */
  unknown: number;
  /** Members not yet joined at `at` (not counted in `counts`). */
  notJoined: number;
}

/**
 * Members per tier at `at`. States whose clock is behind `at` are advanced in memory (not
 * persisted) so due downgrades are counted; for earlier times the recorded history is used.
 */
export function stats(states: Iterable<TierState>, at: number, config: TierConfig): TierStats {
  assertTime("at", at);
  const counts: Record<string, number> = {};
  for (const t of config.tiers) counts[t.name] = 0;
  let unknown = 0;
  let notJoined = 0;
  for (const state of states) {
    checkState(state);
    if (state.joinedAt === null || state.joinedAt > at) {
      notJoined++;
      continue;
    }
    const view = state.asOf !== null && state.asOf < at ? advanceTo(state, at, config).state : state;
    const tier = tierAt(view, at);
    if (tier === null || counts[tier] === undefined) unknown++;
    else counts[tier] = (counts[tier] ?? 0) + 1;
  }
  return { at, counts, unknown, notJoined };
}
