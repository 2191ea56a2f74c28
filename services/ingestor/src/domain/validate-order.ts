// Upstream order (plain JSON, or an Avro-decoded orders.v1 value) -> a valid OrderEvent.
// The output is built field by field: unknown upstream fields are ignored and never copied.
// Checks run in this order and the first failure is reported: shape, customer id, ids and
// enum, timestamp, currency, total, lines, optional fields, refund rules, line sum.

import type { OrderEvent, OrderEventType, OrderLine } from "@loyalty/contracts";
import {
  type JsonRecord,
  amountValue,
  currencyField,
  customerIdField,
  enumField,
  idField,
  isRecord,
  optionalId,
  optionalString,
  own,
  quantityValue,
  revisionField,
  stringArrayField,
} from "./fields.ts";
import { type Result, accept, reject, show } from "./result.ts";
import { timestampValue } from "./timestamps.ts";

export const ORDER_EVENT_TYPES: readonly OrderEventType[] = [
  "ORDER_PLACED",
  "ORDER_REFUNDED",
  "ORDER_CANCELLED",
];

export function validateOrder(input: unknown): Result<OrderEvent> {
  if (!isRecord(input))
    return reject("SCHEMA_VIOLATION", `an order event must be a JSON object, got ${show(input)}`);

  const customerId = customerIdField(input);
  if (!customerId.ok) return customerId;
  const source = idField(input, "source");
  if (!source.ok) return source;
  const type = enumField(input, "type", ORDER_EVENT_TYPES);
  if (!type.ok) return type;
  const orderId = idField(input, "orderId");
  if (!orderId.ok) return orderId;
  const revision = revisionField(input);
  if (!revision.ok) return revision;
  const occurredAt = timestampValue(own(input, "occurredAt"), "occurredAt");
  if (!occurredAt.ok) return occurredAt;
  const currency = currencyField(input);
  if (!currency.ok) return currency;
  const totalMinor = amountValue(own(input, "totalMinor"), "totalMinor");
  if (!totalMinor.ok) return totalMinor;
  const lines = linesField(input);
  if (!lines.ok) return lines;
  const channel = optionalString(input, "channel");
  if (!channel.ok) return channel;
  const storeId = optionalString(input, "storeId");
  if (!storeId.ok) return storeId;
  const refundId = optionalId(input, "refundId");
  if (!refundId.ok) return refundId;
  const refundedLineIds = stringArrayField(input, "refundedLineIds");
  if (!refundedLineIds.ok) return refundedLineIds;

  const isRefund = type.value === "ORDER_REFUNDED";
  // The refund id is what makes a re-sent refund recognisable; without it we cannot dedupe.
  if (isRefund && refundId.value === null)
    return reject("SCHEMA_VIOLATION", "refundId is required on ORDER_REFUNDED");
  if (new Set(refundedLineIds.value).size !== refundedLineIds.value.length) {
    return reject("SCHEMA_VIOLATION", "refundedLineIds names a line twice");
  }

  if (type.value === "ORDER_PLACED" && lines.value.length > 0) {
    let sum = 0n;
    for (const line of lines.value) sum += BigInt(line.lineTotalMinor);
    if (sum !== BigInt(totalMinor.value)) {
      return reject(
        "LINES_MISMATCH",
        `lines add up to ${sum} but totalMinor is ${totalMinor.value} (${lines.value.length} lines)`,
      );
    }
  }

  return accept({
    source: source.value,
    type: type.value,
    orderId: orderId.value,
    revision: revision.value,
    customerId: customerId.value,
    occurredAt: occurredAt.value,
    currency: currency.value,
    totalMinor: totalMinor.value,
    lines: lines.value,
    channel: channel.value,
    storeId: storeId.value,
    // Refund fields mean nothing on a placement or cancellation: dropped, not rejected.
    refundId: isRefund ? refundId.value : null,
    refundedLineIds: isRefund ? refundedLineIds.value : [],
  });
}

function linesField(input: JsonRecord): Result<OrderLine[]> {
  const raw = own(input, "lines");
  if (raw === undefined || raw === null) return accept([]);
  if (!Array.isArray(raw)) return reject("SCHEMA_VIOLATION", `lines must be an array, got ${show(raw)}`);
  const lines: OrderLine[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const line = lineValue(raw[i], `lines[${i}]`);
    if (!line.ok) return line;
    if (seen.has(line.value.lineId)) {
      return reject(
        "SCHEMA_VIOLATION",
        `lines[${i}].lineId ${show(line.value.lineId)} is used by an earlier line`,
      );
    }
    seen.add(line.value.lineId);
    lines.push(line.value);
  }
  return accept(lines);
}

function lineValue(raw: unknown, path: string): Result<OrderLine> {
  if (!isRecord(raw)) return reject("SCHEMA_VIOLATION", `${path} must be an object, got ${show(raw)}`);
  const lineId = idField(raw, "lineId", `${path}.lineId`);
  if (!lineId.ok) return lineId;
  const sku = idField(raw, "sku", `${path}.sku`);
  if (!sku.ok) return sku;
  const category = optionalString(raw, "category", `${path}.category`);
  if (!category.ok) return category;
  const quantity = quantityValue(own(raw, "quantity"), `${path}.quantity`);
  if (!quantity.ok) return quantity;
  const unitPriceMinor = amountValue(own(raw, "unitPriceMinor"), `${path}.unitPriceMinor`);
  if (!unitPriceMinor.ok) return unitPriceMinor;
  const lineTotalMinor = amountValue(own(raw, "lineTotalMinor"), `${path}.lineTotalMinor`);
  if (!lineTotalMinor.ok) return lineTotalMinor;
  return accept({
    lineId: lineId.value,
    sku: sku.value,
    category: category.value,
    quantity: quantity.value,
    unitPriceMinor: unitPriceMinor.value,
    lineTotalMinor: lineTotalMinor.value,
  });
}
