// Canonical input events -> the policy's QualifyingEvents. Pure.
//
// Which topic matters follows from the configured metric: "points" reads loyalty.points.v1,
// "spend" and "orders" read loyalty.purchases.v1. Messages of the other topic are not even
// decoded: a member's events on two topics have no defined relative order, so letting both
// move the member's clock would make the output depend on consumption order.
import type { PointsMovement, PurchaseEvent } from "@loyalty/contracts";
import type { QualifyingKind, TierMetric } from "@loyalty/tiers";

export type InputSource = "purchases" | "points";

export function sourceFor(metric: TierMetric): InputSource {
  return metric === "points" ? "points" : "purchases";
}

/**
 * An input reduced to what the tier evaluator needs. `kind` null: part of the stream (it moves
 * the partition's clock and is recorded as processed) but not a movement of the metric, e.g.
 * REDEEMED points (redemptions never demote anyone).
 */
export interface TierInput {
  eventId: string;
  memberId: string;
  eventTime: number;
  kind: QualifyingKind | null;
  /** Non-negative magnitude: base-currency minor units or points. */
  value: number;
  /** The order it belongs to (purchases, or points movements that name one). */
  orderId: string | null;
}

export type InputCheck =
  | { ok: true; input: TierInput }
  | { ok: false; code: InputRejectCode; reason: string };
export type InputRejectCode =
  | "SCHEMA_VIOLATION"
  | "MISSING_CUSTOMER_ID"
  | "INVALID_AMOUNT"
  | "INVALID_TIMESTAMP";

const PURCHASE_KINDS: Readonly<Record<PurchaseEvent["type"], QualifyingKind>> = {
  PURCHASE: "purchase",
  REFUND: "refund",
  CANCELLATION: "cancellation",
};

const POINTS_KINDS: Readonly<Record<PointsMovement["kind"], QualifyingKind | null>> = {
  EARNED: "points-earned",
  REVERSED: "points-reversed",
  // Spending, expiring or hand-adjusting points is not earning: the metric ignores them.
  REDEEMED: null,
  EXPIRED: null,
  ADJUSTED: null,
};

function common(eventId: unknown, memberId: unknown, eventTime: unknown): InputCheck | null {
  if (typeof eventId !== "string" || eventId === "")
    return { ok: false, code: "SCHEMA_VIOLATION", reason: "eventId is missing" };
  if (typeof memberId !== "string" || memberId === "")
    return { ok: false, code: "MISSING_CUSTOMER_ID", reason: `event ${eventId} has no member id` };
  if (typeof eventTime !== "number" || !Number.isSafeInteger(eventTime) || eventTime < 0)
    return {
      ok: false,
      code: "INVALID_TIMESTAMP",
      reason: `event ${eventId}: eventTime ${String(eventTime)}`,
    };
  return null;
}

function magnitude(eventId: string, v: unknown): InputCheck | number {
  if (typeof v !== "number" || !Number.isSafeInteger(v))
    return {
      ok: false,
      code: "INVALID_AMOUNT",
      reason: `event ${eventId}: amount ${String(v)} is not an integer`,
    };
  return Math.abs(v);
}

export function fromPurchase(e: PurchaseEvent): InputCheck {
  const bad = common(e.eventId, e.memberId, e.eventTime);
  if (bad) return bad;
  // Own keys only: an enum value such as "constructor" must not reach the prototype.
  const kind = Object.hasOwn(PURCHASE_KINDS, e.type) ? PURCHASE_KINDS[e.type] : undefined;
  if (kind === undefined)
    return { ok: false, code: "SCHEMA_VIOLATION", reason: `unknown type ${String(e.type)}` };
  if (typeof e.baseAmountMinor !== "number" || e.baseAmountMinor < 0)
    return { ok: false, code: "INVALID_AMOUNT", reason: `event ${e.eventId}: negative base amount` };
  const value = magnitude(e.eventId, e.baseAmountMinor);
  if (typeof value !== "number") return value;
  return {
    ok: true,
    input: {
      eventId: e.eventId,
      memberId: e.memberId,
      eventTime: e.eventTime,
      kind,
      value,
      orderId: e.orderId || null,
    },
  };
}

export function fromPoints(e: PointsMovement): InputCheck {
  const bad = common(e.eventId, e.memberId, e.eventTime);
  if (bad) return bad;
  if (!Object.hasOwn(POINTS_KINDS, e.kind))
    return { ok: false, code: "SCHEMA_VIOLATION", reason: `unknown kind ${String(e.kind)}` };
  const kind = POINTS_KINDS[e.kind];
  const value = magnitude(e.eventId, e.points);
  if (typeof value !== "number") return value;
  return {
    ok: true,
    input: {
      eventId: e.eventId,
      memberId: e.memberId,
      eventTime: e.eventTime,
      kind,
      value,
      orderId: e.orderId,
    },
  };
}
