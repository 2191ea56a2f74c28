// A member's record: the policy's TierState plus the orders still inside the window, so that
// a refund or cancellation can be booked on the day of the purchase it reverses (and leave
// the window with it). Pure: functions return new records.
import {
  type QualifyingEvent,
  type TierChange,
  type TierConfig,
  type TierState,
  advanceTo,
  apply,
  initialState,
  utcDay,
  windowStartDay,
} from "@loyalty/tiers";
import type { TierInput } from "./inputs.ts";

/** [orderId, time of the purchase or earning, base amount (or points) still unreversed, still counts as an order]. */
export type OrderEntry = [orderId: string, time: number, left: number, open: boolean];

export interface MemberRecord {
  schemaVersion: 1;
  state: TierState;
  /** Oldest first; only orders whose day is inside the window ending at the member's clock. */
  orders: OrderEntry[];
}

export function newRecord(memberId: string, config: TierConfig): MemberRecord {
  return { schemaVersion: 1, state: initialState(memberId, config), orders: [] };
}

export interface RecordStep {
  record: MemberRecord;
  changes: TierChange[];
}

function pruneOrders(orders: OrderEntry[], state: TierState, config: TierConfig): OrderEntry[] {
  if (state.asOf === null || orders.length === 0) return orders;
  const start = windowStartDay(config, utcDay(state.asOf));
  return orders.some(([, t]) => utcDay(t) < start) ? orders.filter(([, t]) => utcDay(t) >= start) : orders;
}

/**
 * Applies one input. A reversal (refund, cancellation, points reversed) of an order the
 * member's record does not hold changes nothing: either the original is older than the window
 * (the policy would book it outside the window) or it was never counted here (so there is
 * nothing to take back). A reversal without an order id is booked at its own time.
 */
export function applyInput(record: MemberRecord, input: TierInput, config: TierConfig): RecordStep {
  if (input.kind === null) return { record, changes: [] };
  const orders = record.orders.map((o): OrderEntry => [o[0], o[1], o[2], o[3]]);
  const event: QualifyingEvent = {
    kind: input.kind,
    eventId: input.eventId,
    eventTime: input.eventTime,
    value: input.value,
  };
  const isReversal = input.kind !== "purchase" && input.kind !== "points-earned";
  if (isReversal && input.orderId !== null) {
    const entry = orders.find((o) => o[0] === input.orderId);
    if (entry === undefined) return { record, changes: [] };
    event.reversesEventTime = entry[1];
    if (input.kind === "cancellation") {
      event.value = Math.min(input.value, Math.max(0, entry[2]));
      event.orders = entry[3] ? 1 : 0;
      entry[2] -= event.value;
      entry[3] = false;
    } else {
      // Never take back more than the order still counts for (a refund repeated upstream).
      event.value = Math.min(input.value, Math.max(0, entry[2]));
      entry[2] -= event.value;
      // A refund of everything that was left cancels the order for the "orders" metric.
      event.orders = entry[3] && entry[2] <= 0 ? 1 : 0;
      if (entry[2] <= 0) entry[3] = false;
    }
  } else if (!isReversal) {
    event.orders = 1;
  }
  const r = apply(record.state, event, config);
  if (r.outcome === "duplicate") return { record, changes: [] };
  if (!isReversal && input.orderId !== null && r.outcome === "applied") {
    if (!orders.some((o) => o[0] === input.orderId))
      orders.push([input.orderId, input.eventTime, input.value, true]);
    orders.sort((a, b) => a[1] - b[1]);
  }
  return {
    record: { schemaVersion: 1, state: r.state, orders: pruneOrders(orders, r.state, config) },
    changes: r.changes,
  };
}

/** Moves the member's clock to `time`, running due evaluations and grace expiries. */
export function advanceRecord(record: MemberRecord, time: number, config: TierConfig): RecordStep {
  const r = advanceTo(record.state, time, config);
  return {
    record: { schemaVersion: 1, state: r.state, orders: pruneOrders(record.orders, r.state, config) },
    changes: r.changes,
  };
}
