// Stable event ids: the same upstream event always yields the same id, so a re-delivery is
// recognised downstream as a duplicate. Never random, never time-based.
// id = <tag>-<first 32 hex chars of sha256(kind NUL part NUL part ...)>. The validators
// refuse control characters in every part, so NUL cannot be smuggled in to shift parts.

import { type MemberEvent, type OrderEvent, type OrderEventType, stableId } from "@loyalty/contracts";

export { stableId };

const ORDER_TAGS: Readonly<Record<OrderEventType, string>> = {
  ORDER_PLACED: "pur",
  ORDER_REFUNDED: "ref",
  ORDER_CANCELLED: "can",
};

export type OrderEventIdentity = Pick<OrderEvent, "source" | "orderId" | "type" | "revision" | "refundId">;

/** pur-/ref-/can- + hash(source, orderId, type, revision, refundId). */
export function orderEventId(e: OrderEventIdentity): string {
  const refundId = e.type === "ORDER_REFUNDED" ? (e.refundId ?? "") : "";
  return stableId(ORDER_TAGS[e.type], ["order", e.source, e.orderId, e.type, String(e.revision), refundId]);
}

export type MemberEventIdentity = Pick<MemberEvent, "source" | "customerId" | "type" | "revision">;

/** mem- + hash(source, customerId, type, revision). */
export function memberEventId(e: MemberEventIdentity): string {
  return stableId("mem", ["member", e.source, e.customerId, e.type, String(e.revision)]);
}

/**
 * The one enrolment a member gets when their first order arrives before any registration:
 * derived from the member id only, so every order of that member (from any source sharing
 * the id space) derives the same id and a second emission is a recognisable duplicate.
 */
export function autoEnrolmentEventId(memberId: string): string {
  return stableId("mem", ["auto-enrolment", memberId]);
}
