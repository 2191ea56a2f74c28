// Per-member purchase state, updated one canonical event at a time and stored as plain JSON.
//
// BTYD models count repeat purchases in distinct purchase days, so the state is a map of calendar
// days (in the member's configured zone) to the net amount and the live orders of that day. Orders
// are kept individually as well: refunds and cancellations name an order, and a cancelled order
// stays as a tombstone so that a redelivered purchase event cannot bring it back.

import {
  DAY_MS,
  WEEK_MS,
  assertTimeZone,
  dayIndexAt,
  dayIndexOfKey,
  dayKeyOfIndex,
  wallClockMs,
} from "./calendar.ts";

export interface PurchaseEvent {
  readonly type: "purchase";
  readonly eventId: string;
  readonly orderId: string;
  /** UTC epoch milliseconds. */
  readonly eventTime: number;
  /** Integer, base-currency minor units. */
  readonly amountMinor: number;
}

export interface RefundEvent {
  readonly type: "refund";
  readonly orderId: string;
  /** Amount refunded by this event, integer minor units. */
  readonly amountMinor: number;
  /** When present, a redelivered refund is recognised and ignored. */
  readonly eventId?: string;
}

export interface CancellationEvent {
  readonly type: "cancellation";
  readonly orderId: string;
  readonly eventId?: string;
}

export type MemberEvent = PurchaseEvent | RefundEvent | CancellationEvent;

export interface DayAggregate {
  /** Net amount of the day's live orders (gross minus refunds). */
  readonly amountMinor: number;
  /** Live (not cancelled) orders of the day, sorted. Its length is the live order count. */
  readonly orderIds: readonly string[];
}

export interface OrderRecord {
  readonly eventId: string;
  readonly eventTime: number;
  /** Day key "YYYY-MM-DD" in the state's time zone. */
  readonly day: string;
  readonly grossMinor: number;
  readonly refundedMinor: number;
  readonly cancelled: boolean;
  /** Event ids of refunds/cancellations already applied. */
  readonly adjustmentIds: readonly string[];
}

/** Refunds/cancellations that arrived before their purchase (no ordering guarantee across topics). */
export interface PendingAdjustment {
  readonly refundedMinor: number;
  readonly cancelled: boolean;
  readonly adjustmentIds: readonly string[];
}

export interface MemberState {
  readonly version: 1;
  readonly timeZone: string;
  readonly days: Readonly<Record<string, DayAggregate>>;
  readonly orders: Readonly<Record<string, OrderRecord>>;
  readonly pending: Readonly<Record<string, PendingAdjustment>>;
}

export function createMemberState(timeZone = "UTC"): MemberState {
  assertTimeZone(timeZone);
  return { version: 1, timeZone, days: {}, orders: {}, pending: {} };
}

// Keys come from upstream ids: read own properties only ("__proto__", "constructor", …).
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function without<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const copy: Record<string, T> = { ...record };
  delete copy[key];
  return copy;
}

function withEntry<T>(record: Readonly<Record<string, T>>, key: string, value: T): Record<string, T> {
  const copy: Record<string, T> = { ...record };
  // Only "__proto__" would not become an own property by assignment (Object.prototype's setter);
  // defining every key made V8 turn each state's records into slow dictionaries.
  if (key === "__proto__")
    Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  else copy[key] = value;
  return copy;
}

function assertMinor(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`${what} must be a non-negative integer in minor units, got ${amount}`);
  }
}

/**
 * Applies one event and returns the new state; returns the same object when the event changes
 * nothing (duplicate purchase, repeated cancellation, refund already applied).
 */
export function applyEvent(state: MemberState, event: MemberEvent): MemberState {
  switch (event.type) {
    case "purchase":
      return applyPurchase(state, event);
    case "refund":
      assertMinor(event.amountMinor, "refund amountMinor");
      return adjust(state, event.orderId, event.eventId, event.amountMinor, false);
    case "cancellation":
      return adjust(state, event.orderId, event.eventId, 0, true);
  }
}

export function applyEvents(state: MemberState, events: Iterable<MemberEvent>): MemberState {
  let s = state;
  for (const e of events) s = applyEvent(s, e);
  return s;
}

function applyPurchase(state: MemberState, event: PurchaseEvent): MemberState {
  assertMinor(event.amountMinor, "purchase amountMinor");
  if (own(state.orders, event.orderId) !== undefined) return state;
  // Same event id under another order id is still the same delivery.
  for (const o of Object.values(state.orders)) if (o.eventId === event.eventId) return state;

  const day = dayKeyOfIndex(dayIndexAt(event.eventTime, state.timeZone));
  const early = own(state.pending, event.orderId);
  const refundedMinor = Math.min(event.amountMinor, early?.refundedMinor ?? 0);
  const cancelled = early?.cancelled ?? false;
  const order: OrderRecord = {
    eventId: event.eventId,
    eventTime: event.eventTime,
    day,
    grossMinor: event.amountMinor,
    refundedMinor,
    cancelled,
    adjustmentIds: early?.adjustmentIds ?? [],
  };
  const pending = early === undefined ? state.pending : without(state.pending, event.orderId);
  const orders = withEntry(state.orders, event.orderId, order);
  if (cancelled) return { ...state, orders, pending };

  const prev = own(state.days, day);
  const aggregate: DayAggregate = {
    amountMinor: (prev?.amountMinor ?? 0) + event.amountMinor - refundedMinor,
    orderIds: [...(prev?.orderIds ?? []), event.orderId].sort(),
  };
  return { ...state, orders, pending, days: withEntry(state.days, day, aggregate) };
}

function adjust(
  state: MemberState,
  orderId: string,
  adjustmentId: string | undefined,
  refundMinor: number,
  cancel: boolean,
): MemberState {
  const order = own(state.orders, orderId);
  if (order === undefined) {
    const early = own(state.pending, orderId) ?? { refundedMinor: 0, cancelled: false, adjustmentIds: [] };
    if (adjustmentId !== undefined && early.adjustmentIds.includes(adjustmentId)) return state;
    if (cancel && early.cancelled) return state;
    const next: PendingAdjustment = {
      refundedMinor: early.refundedMinor + refundMinor,
      cancelled: early.cancelled || cancel,
      adjustmentIds:
        adjustmentId === undefined ? early.adjustmentIds : [...early.adjustmentIds, adjustmentId],
    };
    return { ...state, pending: withEntry(state.pending, orderId, next) };
  }
  if (order.cancelled) return state;
  if (adjustmentId !== undefined && order.adjustmentIds.includes(adjustmentId)) return state;

  const adjustmentIds =
    adjustmentId === undefined ? order.adjustmentIds : [...order.adjustmentIds, adjustmentId];
  const prev = own(state.days, order.day);
  if (prev === undefined) throw new Error(`member state corrupt: live order ${orderId} has no day`);

  if (cancel) {
    const orders = withEntry(state.orders, orderId, { ...order, cancelled: true, adjustmentIds });
    const remaining = prev.orderIds.filter((id) => id !== orderId);
    // A day with no live order is no purchase day: first/last day and frequency move with it.
    const days =
      remaining.length === 0
        ? without(state.days, order.day)
        : withEntry(state.days, order.day, {
            amountMinor: prev.amountMinor - (order.grossMinor - order.refundedMinor),
            orderIds: remaining,
          });
    return { ...state, orders, days };
  }

  // Refunds cannot exceed what was paid; the day stays a purchase day even if fully refunded.
  const refundedMinor = Math.min(order.grossMinor, order.refundedMinor + refundMinor);
  const delta = refundedMinor - order.refundedMinor;
  const orders = withEntry(state.orders, orderId, { ...order, refundedMinor, adjustmentIds });
  const days = withEntry(state.days, order.day, { ...prev, amountMinor: prev.amountMinor - delta });
  return { ...state, orders, days };
}

export interface FeatureOptions {
  /** Length of the model time unit in ms; weeks by default. */
  readonly unitMs?: number;
}

/** What the BTYD models and RFM need about one member, as of a moment. */
export interface MemberFeatures {
  /** Frequency: distinct purchase days − 1. */
  readonly x: number;
  /** Recency: first to last purchase day, in units. */
  readonly tx: number;
  /** Age: start of the first purchase day to asOf, in units. */
  readonly T: number;
  /** Mean net amount of the repeat purchase days (first day excluded, as Gamma-Gamma expects); 0 when x = 0. */
  readonly monetaryMinor: number;
  readonly purchaseDays: number;
  readonly totalAmountMinor: number;
  readonly firstPurchaseDay: string;
  readonly lastPurchaseDay: string;
  /** Latest eventTime among the live orders counted. */
  readonly lastPurchaseAt: number;
  readonly unitMs: number;
}

/**
 * Features as of `asOf` (epoch ms). A day counts when it has started by `asOf` in the state's zone;
 * T runs to `asOf` itself, so asOf = midnight gives whole days. Null when no purchase day counts.
 */
export function memberFeatures(
  state: MemberState,
  asOf: number,
  options: FeatureOptions = {},
): MemberFeatures | null {
  const unitMs = options.unitMs ?? WEEK_MS;
  if (!(unitMs > 0)) throw new RangeError(`unitMs must be positive, got ${unitMs}`);
  const asOfWall = wallClockMs(asOf, state.timeZone);

  // ISO day keys sort chronologically.
  const keys = Object.keys(state.days)
    .filter((k) => dayIndexOfKey(k) * DAY_MS <= asOfWall)
    .sort();
  const firstKey = keys[0];
  const lastKey = keys[keys.length - 1];
  if (firstKey === undefined || lastKey === undefined) return null;

  let total = 0;
  let repeatTotal = 0;
  let lastPurchaseAt = Number.NEGATIVE_INFINITY;
  for (const [i, k] of keys.entries()) {
    const d = own(state.days, k);
    if (d === undefined) continue;
    total += d.amountMinor;
    if (i > 0) repeatTotal += d.amountMinor;
    for (const id of d.orderIds) {
      const o = own(state.orders, id);
      if (o !== undefined && o.eventTime > lastPurchaseAt) lastPurchaseAt = o.eventTime;
    }
  }
  const firstMs = dayIndexOfKey(firstKey) * DAY_MS;
  const lastMs = dayIndexOfKey(lastKey) * DAY_MS;
  const x = keys.length - 1;
  return {
    x,
    tx: (lastMs - firstMs) / unitMs,
    T: (asOfWall - firstMs) / unitMs,
    monetaryMinor: x > 0 ? repeatTotal / x : 0,
    purchaseDays: keys.length,
    totalAmountMinor: total,
    firstPurchaseDay: firstKey,
    lastPurchaseDay: lastKey,
    lastPurchaseAt,
    unitMs,
  };
}
