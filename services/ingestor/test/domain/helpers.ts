import type { OrderEvent } from "@loyalty/contracts";
import { type Result, validateOrder } from "../../src/domain/index.ts";

/** A valid upstream order JSON; override any field. */
export function orderJson(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    source: "shop-eu",
    type: "ORDER_PLACED",
    orderId: "o-1",
    revision: 0,
    customerId: "c-1",
    occurredAt: "2024-06-01T10:00:00Z",
    currency: "EUR",
    totalMinor: 3000,
    lines: [
      { lineId: "L1", sku: "A", category: "books", quantity: 2, unitPriceMinor: 1000, lineTotalMinor: 2000 },
      { lineId: "L2", sku: "B", quantity: 1, unitPriceMinor: 1000, lineTotalMinor: 1000 },
    ],
    ...over,
  };
}

export function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.reason}`);
  return r.value;
}

export function order(over: Record<string, unknown> = {}): OrderEvent {
  return unwrap(validateOrder(orderJson(over)));
}
