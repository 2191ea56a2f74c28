// Valid upstream events -> canonical loyalty events (loyalty.purchases.v1, loyalty.members.v1).

import type {
  MemberChanged,
  MemberEvent,
  OrderEvent,
  OrderLine,
  PurchaseEvent,
  PurchaseEventType,
  PurchaseLine,
} from "@loyalty/contracts";
import { autoEnrolmentEventId, memberEventId, orderEventId } from "./event-id.ts";
import { type FxTable, allocateConverted, convertMinor, rateAt } from "./fx.ts";
import { type MemberIdPolicy, SHARED_MEMBER_IDS, memberIdFor } from "./member-id.ts";
import { isSafeMinor } from "./money.ts";
import { type Result, accept, reject } from "./result.ts";

const PURCHASE_TYPES = {
  ORDER_PLACED: "PURCHASE",
  ORDER_REFUNDED: "REFUND",
  ORDER_CANCELLED: "CANCELLATION",
} as const satisfies Record<OrderEvent["type"], PurchaseEventType>;

export interface NormaliseOrderContext {
  /** Resolved by the caller, usually memberIdFor(event.customerId, event.source, policy). */
  readonly memberId: string;
  readonly fx: FxTable;
  /**
   * When to take the FX rate from; defaults to the event's occurredAt. Pass the original
   * order's placement time for refunds and cancellations so that reversing an order reverses
   * exactly the base amount it earned on, whatever the rate did in between.
   */
  readonly rateTime?: number;
  /**
   * What the order book actually applied (a cancellation cancels only what is left of the
   * order). Overrides the event's totalMinor and refundedLineIds; event lines are narrowed to
   * the applied line ids when there are any.
   */
  readonly applied?: { readonly amountMinor: number; readonly refundedLineIds: readonly string[] };
}

export function normaliseOrder(event: OrderEvent, ctx: NormaliseOrderContext): Result<PurchaseEvent> {
  const { fx } = ctx;
  const at = ctx.rateTime ?? event.occurredAt;
  const rate = rateAt(fx, event.currency, at);
  if (!rate) {
    return reject(
      "UNKNOWN_CURRENCY",
      `no ${event.currency} -> ${fx.baseCurrency} rate effective at ${new Date(at).toISOString()}`,
    );
  }
  const amountMinor = ctx.applied?.amountMinor ?? event.totalMinor;
  const refundedLineIds = ctx.applied ? [...ctx.applied.refundedLineIds] : event.refundedLineIds;
  let lines: readonly OrderLine[] = event.lines;
  if (ctx.applied && refundedLineIds.length > 0) {
    const wanted = new Set(refundedLineIds);
    lines = lines.filter((l) => wanted.has(l.lineId));
  }

  const amount = BigInt(amountMinor);
  const lineTotals = lines.map((l) => BigInt(l.lineTotalMinor));
  const linesAddUp = lines.length > 0 && lineTotals.reduce((a, b) => a + b, 0n) === amount;
  let baseAmount: bigint;
  let baseLines: bigint[];
  if (linesAddUp) {
    const allocated = allocateConverted(lineTotals, event.currency, fx.baseCurrency, rate.rate, fx.rounding);
    baseAmount = allocated.total;
    baseLines = allocated.parts;
  } else {
    // Lines that do not add up to the amount (a partial refund naming its lines) are
    // converted one by one; there is no whole for them to add up to.
    baseAmount = convertMinor(amount, event.currency, fx.baseCurrency, rate.rate, fx.rounding);
    baseLines = lineTotals.map((t) =>
      convertMinor(t, event.currency, fx.baseCurrency, rate.rate, fx.rounding),
    );
  }
  if (!isSafeMinor(baseAmount) || !baseLines.every(isSafeMinor)) {
    return reject(
      "INVALID_AMOUNT",
      `${amountMinor} ${event.currency} is ${baseAmount} ${fx.baseCurrency} minor units, over ${Number.MAX_SAFE_INTEGER}`,
    );
  }

  const purchaseLines: PurchaseLine[] = lines.map((l, i) => ({
    lineId: l.lineId,
    sku: l.sku,
    category: l.category,
    quantity: l.quantity,
    unitPriceMinor: l.unitPriceMinor,
    baseLineTotalMinor: Number(baseLines[i]),
  }));

  return accept({
    eventId: orderEventId(event),
    type: PURCHASE_TYPES[event.type],
    memberId: ctx.memberId,
    source: event.source,
    orderId: event.orderId,
    eventTime: event.occurredAt,
    amountMinor,
    currency: event.currency,
    baseAmountMinor: Number(baseAmount),
    baseCurrency: fx.baseCurrency,
    fxRate: rate.text,
    lines: purchaseLines,
    channel: event.channel,
    storeId: event.storeId,
    refundId: event.refundId,
    refundedLineIds,
  });
}

export const ENROLLED_VIA_REGISTRATION = "registration";
export const ENROLLED_VIA_AUTO = "auto-enrolment";

/** MEMBER_REGISTERED -> ENROLLED (via registration), MEMBER_PROFILE_UPDATED -> PROFILE_UPDATED. */
export function normaliseMember(
  event: MemberEvent,
  policy: MemberIdPolicy = SHARED_MEMBER_IDS,
): MemberChanged {
  const registered = event.type === "MEMBER_REGISTERED";
  return {
    eventId: memberEventId(event),
    type: registered ? "ENROLLED" : "PROFILE_UPDATED",
    memberId: memberIdFor(event.customerId, event.source, policy),
    eventTime: event.occurredAt,
    enrolledVia: registered ? ENROLLED_VIA_REGISTRATION : null,
    birthday: event.birthday,
    // The referrer is a customer of the same source, so it is resolved in the same id space.
    referrerMemberId:
      event.referrerCustomerId === null ? null : memberIdFor(event.referrerCustomerId, event.source, policy),
  };
}

/**
 * The enrolment to emit when an order arrives for a customer who is not a member and
 * auto-enrolment is on (whether they are a member is the caller's lookup). Its id depends on
 * the member only, so emitting it again for a later order is a harmless duplicate.
 */
export function autoEnrolment(order: OrderEvent, policy: MemberIdPolicy = SHARED_MEMBER_IDS): MemberChanged {
  const memberId = memberIdFor(order.customerId, order.source, policy);
  return {
    eventId: autoEnrolmentEventId(memberId),
    type: "ENROLLED",
    memberId,
    eventTime: order.occurredAt,
    enrolledVia: ENROLLED_VIA_AUTO,
    birthday: null,
    referrerMemberId: null,
  };
}
