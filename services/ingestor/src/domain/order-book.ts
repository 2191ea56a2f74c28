// Refunds and cancellations checked against their orders, as pure state transitions.
//
// The state is one slot per (source, orderId), plain JSON, meant to be one PostgreSQL row
// read and written in the same transaction as the message offset. Every function returns a
// new slot and never mutates its input. Rules:
// - a refund or cancellation of an order never seen is held in the slot; when the order
//   arrives the held events are applied in arrival order; if it does not arrive within the
//   hold period they are rejected with ORPHAN_REFUND_TIMEOUT;
// - a refund whose refundId was already applied (or is already held) is a duplicate, whatever
//   its revision: one refund is applied once, corrections of refunds are not supported;
// - a refund may not exceed what is left of the order, nor (when it names lines) the total
//   of the lines it names, nor name a line twice over two refunds;
// - a cancellation refunds what is left and marks every line refunded; a second one is a
//   duplicate; refunds after it are refused;
// - a placement with a higher revision replaces total and lines (refund flags kept by line
//   id); the same or a lower revision is a duplicate.

import type { DlqReasonCode, OrderEvent } from "@loyalty/contracts";
import { orderEventId } from "./event-id.ts";

export interface BookLine {
  readonly lineId: string;
  readonly totalMinor: number;
  readonly refunded: boolean;
}

export interface BookOrder {
  readonly revision: number;
  readonly currency: string;
  /** occurredAt of the placement: refunds are converted at this time's FX rate. */
  readonly placedAt: number;
  readonly totalMinor: number;
  readonly refundedMinor: number;
  readonly cancelled: boolean;
  readonly lines: readonly BookLine[];
  /** refundIds applied, in order. */
  readonly refundIds: readonly string[];
}

export interface HeldEvent {
  readonly eventId: string;
  /** When it was held (the caller's clock, epoch millis). */
  readonly heldAt: number;
  readonly event: OrderEvent;
}

export interface OrderSlot {
  readonly source: string;
  readonly orderId: string;
  readonly order: BookOrder | null;
  /** Refunds and cancellations waiting for their order, in arrival order. */
  readonly held: readonly HeldEvent[];
}

export type BookOutcome =
  | {
      readonly status: "accepted";
      readonly eventId: string;
      readonly event: OrderEvent;
      /** The amount this event really moves: the total, the refund, or what was left at cancellation. */
      readonly amountMinor: number;
      /** Lines this event refunded (for a cancellation: those not refunded before). */
      readonly refundedLineIds: readonly string[];
      /** The order's placement time, for the FX rate (normaliseOrder's rateTime). */
      readonly rateTime: number;
      /** Set when a placement replaced an earlier revision. */
      readonly revisedFrom?: number;
    }
  | {
      readonly status: "duplicate";
      readonly eventId: string;
      readonly event: OrderEvent;
      readonly reason: string;
    }
  | { readonly status: "held"; readonly eventId: string; readonly event: OrderEvent }
  | {
      readonly status: "rejected";
      readonly eventId: string;
      readonly event: OrderEvent;
      readonly code: DlqReasonCode;
      readonly reason: string;
    };

export interface Transition {
  readonly slot: OrderSlot;
  /** One outcome per event decided by this transition, in order. */
  readonly outcomes: readonly BookOutcome[];
}

/** Row key: JSON of [source, orderId], unambiguous whatever characters the ids contain. */
export function orderKey(source: string, orderId: string): string {
  return JSON.stringify([source, orderId]);
}

export function emptySlot(source: string, orderId: string): OrderSlot {
  return { source, orderId, order: null, held: [] };
}

function checkSlot(slot: OrderSlot, event: OrderEvent): void {
  if (slot.source !== event.source || slot.orderId !== event.orderId) {
    throw new Error(
      `event for ${orderKey(event.source, event.orderId)} applied to slot ${orderKey(slot.source, slot.orderId)}`,
    );
  }
}

const rejected = (event: OrderEvent, eventId: string, code: DlqReasonCode, reason: string): BookOutcome => ({
  status: "rejected",
  eventId,
  event,
  code,
  reason,
});

/**
 * Any order event: placements go to applyPlaced, the rest to applyRefund. `eventId` is the
 * event's orderEventId, when the caller has it already (it is a sha256).
 */
export function applyOrderEvent(
  slot: OrderSlot,
  event: OrderEvent,
  now: number,
  eventId = orderEventId(event),
): Transition {
  return event.type === "ORDER_PLACED"
    ? applyPlaced(slot, event, eventId)
    : applyRefund(slot, event, now, eventId);
}

/** Records a placement, then applies whatever was held for it. */
export function applyPlaced(slot: OrderSlot, event: OrderEvent, eventId = orderEventId(event)): Transition {
  checkSlot(slot, event);
  if (event.type !== "ORDER_PLACED") throw new Error(`applyPlaced got ${event.type}`);
  const lines = event.lines.map((l) => ({ lineId: l.lineId, totalMinor: l.lineTotalMinor, refunded: false }));
  const prev = slot.order;
  if (prev === null) {
    const order: BookOrder = {
      revision: event.revision,
      currency: event.currency,
      placedAt: event.occurredAt,
      totalMinor: event.totalMinor,
      refundedMinor: 0,
      cancelled: false,
      lines,
      refundIds: [],
    };
    const placed: BookOutcome = {
      status: "accepted",
      eventId,
      event,
      amountMinor: event.totalMinor,
      refundedLineIds: [],
      rateTime: event.occurredAt,
    };
    const released = releaseHeld({ ...slot, order });
    return { slot: released.slot, outcomes: [placed, ...released.outcomes] };
  }
  if (event.revision <= prev.revision) {
    const reason = `order already placed at revision ${prev.revision}; revision ${event.revision} ignored`;
    return { slot, outcomes: [{ status: "duplicate", eventId, event, reason }] };
  }
  if (prev.cancelled) {
    const reason = `order is cancelled; revision ${event.revision} ignored`;
    return { slot, outcomes: [{ status: "duplicate", eventId, event, reason }] };
  }
  if (event.currency !== prev.currency && prev.refundedMinor > 0) {
    const reason = `revision ${event.revision} changes currency ${prev.currency} -> ${event.currency} after refunds`;
    return { slot, outcomes: [rejected(event, eventId, "SCHEMA_VIOLATION", reason)] };
  }
  const wasRefunded = new Set(prev.lines.filter((l) => l.refunded).map((l) => l.lineId));
  const order: BookOrder = {
    ...prev,
    revision: event.revision,
    currency: event.currency,
    placedAt: event.occurredAt,
    totalMinor: event.totalMinor,
    lines: lines.map((l) => ({ ...l, refunded: wasRefunded.has(l.lineId) })),
  };
  const outcome: BookOutcome = {
    status: "accepted",
    eventId,
    event,
    amountMinor: event.totalMinor,
    refundedLineIds: [],
    rateTime: event.occurredAt,
    revisedFrom: prev.revision,
  };
  return { slot: { ...slot, order }, outcomes: [outcome] };
}

/** Applies a refund or cancellation, or holds it when the order has never been seen. */
export function applyRefund(
  slot: OrderSlot,
  event: OrderEvent,
  now: number,
  eventId = orderEventId(event),
): Transition {
  checkSlot(slot, event);
  if (event.type === "ORDER_PLACED") throw new Error("applyRefund got ORDER_PLACED");
  if (slot.order === null) {
    const twin = slot.held.find((h) => sameRefund(h.event, event));
    if (twin) {
      const reason = `${describe(event)} is already held (${twin.eventId})`;
      return { slot, outcomes: [{ status: "duplicate", eventId, event, reason }] };
    }
    return {
      slot: { ...slot, held: [...slot.held, { eventId, heldAt: now, event }] },
      outcomes: [{ status: "held", eventId, event }],
    };
  }
  const { order, outcome } = againstOrder(slot.order, event, eventId);
  return { slot: { ...slot, order }, outcomes: [outcome] };
}

/** Applies held events in arrival order once the order is known; a no-op otherwise. */
export function releaseHeld(slot: OrderSlot): Transition {
  if (slot.order === null || slot.held.length === 0) return { slot, outcomes: [] };
  let order = slot.order;
  const outcomes: BookOutcome[] = [];
  for (const h of slot.held) {
    const step = againstOrder(order, h.event, h.eventId);
    order = step.order;
    outcomes.push(step.outcome);
  }
  return { slot: { ...slot, order, held: [] }, outcomes };
}

/** Rejects held events whose order has not arrived within holdMs of their holding. */
export function expireHeld(slot: OrderSlot, now: number, holdMs: number): Transition {
  const outcomes: BookOutcome[] = [];
  const keep: HeldEvent[] = [];
  for (const h of slot.held) {
    if (now - h.heldAt >= holdMs) {
      const reason = `${describe(h.event)} of order ${h.event.orderId} (source ${h.event.source}) never seen within ${holdMs} ms`;
      outcomes.push(rejected(h.event, h.eventId, "ORPHAN_REFUND_TIMEOUT", reason));
    } else keep.push(h);
  }
  if (outcomes.length === 0) return { slot, outcomes };
  return { slot: { ...slot, held: keep }, outcomes };
}

/** Earliest time at which expireHeld would reject something in this slot, or null. */
export function nextExpiry(slot: OrderSlot, holdMs: number): number | null {
  if (slot.held.length === 0) return null;
  return Math.min(...slot.held.map((h) => h.heldAt)) + holdMs;
}

function sameRefund(a: OrderEvent, b: OrderEvent): boolean {
  if (a.type !== b.type) return false;
  return a.type === "ORDER_CANCELLED" || a.refundId === b.refundId;
}

function describe(e: OrderEvent): string {
  return e.type === "ORDER_CANCELLED" ? "cancellation" : `refund ${JSON.stringify(e.refundId)}`;
}

function againstOrder(
  order: BookOrder,
  event: OrderEvent,
  eventId: string,
): { order: BookOrder; outcome: BookOutcome } {
  const no = (code: DlqReasonCode, reason: string) => ({
    order,
    outcome: rejected(event, eventId, code, reason),
  });
  if (event.currency !== order.currency) {
    return no(
      "SCHEMA_VIOLATION",
      `${describe(event)} is in ${event.currency} but the order is in ${order.currency}`,
    );
  }
  const left = Math.max(0, order.totalMinor - order.refundedMinor);

  if (event.type === "ORDER_CANCELLED") {
    if (order.cancelled)
      return { order, outcome: { status: "duplicate", eventId, event, reason: "order already cancelled" } };
    const lineIds = order.lines.filter((l) => !l.refunded).map((l) => l.lineId);
    const next: BookOrder = {
      ...order,
      cancelled: true,
      refundedMinor: order.refundedMinor + left,
      lines: order.lines.map((l) => (l.refunded ? l : { ...l, refunded: true })),
    };
    return {
      order: next,
      outcome: {
        status: "accepted",
        eventId,
        event,
        amountMinor: left,
        refundedLineIds: lineIds,
        rateTime: order.placedAt,
      },
    };
  }

  const refundId = event.refundId ?? "";
  if (order.refundIds.includes(refundId)) {
    return {
      order,
      outcome: {
        status: "duplicate",
        eventId,
        event,
        reason: `refund ${JSON.stringify(refundId)} already applied`,
      },
    };
  }
  if (order.cancelled)
    return no("REFUND_EXCEEDS_ORDER", `refund ${JSON.stringify(refundId)} of a cancelled order`);
  let namedTotal = 0;
  const named = new Set(event.refundedLineIds);
  for (const lineId of event.refundedLineIds) {
    const line = order.lines.find((l) => l.lineId === lineId);
    if (!line)
      return no(
        "UNKNOWN_ORDER_LINE",
        `refund names line ${JSON.stringify(lineId)}, which the order does not have`,
      );
    if (line.refunded)
      return no("REFUND_EXCEEDS_ORDER", `line ${JSON.stringify(lineId)} was already refunded`);
    namedTotal += line.totalMinor;
  }
  if (named.size > 0 && event.totalMinor > namedTotal) {
    return no(
      "REFUND_EXCEEDS_ORDER",
      `refund of ${event.totalMinor} exceeds the ${namedTotal} of the lines it names`,
    );
  }
  if (event.totalMinor > left) {
    return no(
      "REFUND_EXCEEDS_ORDER",
      `refund of ${event.totalMinor} exceeds the ${left} left of order total ${order.totalMinor}`,
    );
  }
  const next: BookOrder = {
    ...order,
    refundedMinor: order.refundedMinor + event.totalMinor,
    lines: order.lines.map((l) => (named.has(l.lineId) ? { ...l, refunded: true } : l)),
    refundIds: [...order.refundIds, refundId],
  };
  return {
    order: next,
    outcome: {
      status: "accepted",
      eventId,
      event,
      amountMinor: event.totalMinor,
      refundedLineIds: [...event.refundedLineIds],
      rateTime: order.placedAt,
    },
  };
}
