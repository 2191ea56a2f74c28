import type { OrderEvent } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import {
  type BookOutcome,
  type OrderSlot,
  applyOrderEvent,
  applyPlaced,
  applyRefund,
  emptySlot,
  expireHeld,
  nextExpiry,
  orderKey,
  releaseHeld,
} from "../../src/domain/index.ts";
import { order } from "./helpers.ts";

const HOUR = 3_600_000;
const placed = order({ occurredAt: Date.UTC(2024, 5, 1) }); // 3000 EUR cents, lines L1 2000, L2 1000
const refund = (
  refundId: string,
  totalMinor: number,
  refundedLineIds: string[] = [],
  over: Record<string, unknown> = {},
) =>
  order({
    type: "ORDER_REFUNDED",
    refundId,
    totalMinor,
    refundedLineIds,
    lines: [],
    occurredAt: Date.UTC(2024, 5, 2),
    ...over,
  });
const cancel = order({ type: "ORDER_CANCELLED", occurredAt: Date.UTC(2024, 5, 3) });

const summary = (o: BookOutcome) =>
  o.status === "accepted"
    ? `accepted ${o.amountMinor} [${o.refundedLineIds.join(",")}]`
    : o.status === "rejected"
      ? `rejected ${o.code}`
      : o.status;

/** Applies events in sequence with the given clock, collecting outcome summaries. */
function run(events: OrderEvent[], now = 0, start: OrderSlot = emptySlot("shop-eu", "o-1")) {
  let slot = start;
  const seen: string[] = [];
  for (const e of events) {
    const t = applyOrderEvent(slot, e, now);
    slot = t.slot;
    seen.push(...t.outcomes.map(summary));
  }
  return { slot, seen };
}

describe("order book", () => {
  it("records a placement and accepts refunds up to what is left", () => {
    const { slot, seen } = run([
      placed,
      refund("r1", 500),
      refund("r2", 2000, ["L1"]),
      refund("r3", 501),
      refund("r4", 500),
    ]);
    expect(seen).toEqual([
      "accepted 3000 []",
      "accepted 500 []",
      "accepted 2000 [L1]",
      "rejected REFUND_EXCEEDS_ORDER",
      "accepted 500 []",
    ]);
    expect(slot.order).toMatchObject({
      totalMinor: 3000,
      refundedMinor: 3000,
      refundIds: ["r1", "r2", "r4"],
      cancelled: false,
    });
    expect(slot.order?.lines).toEqual([
      { lineId: "L1", totalMinor: 2000, refunded: true },
      { lineId: "L2", totalMinor: 1000, refunded: false },
    ]);
  });

  it("treats a re-sent refund (same refundId, any revision) as a duplicate", () => {
    const { slot, seen } = run([
      placed,
      refund("r1", 500),
      refund("r1", 500),
      refund("r1", 700, [], { revision: 1 }),
    ]);
    expect(seen).toEqual(["accepted 3000 []", "accepted 500 []", "duplicate", "duplicate"]);
    expect(slot.order?.refundedMinor).toBe(500);
  });

  it("checks line refunds: unknown lines, lines refunded twice, more than the named lines", () => {
    const { seen } = run([
      placed,
      refund("r1", 100, ["L9"]),
      refund("r2", 1001, ["L2"]),
      refund("r3", 1000, ["L2"]),
      refund("r4", 1, ["L2"]),
      refund("r5", 1, ["L1", "L2"]),
    ]);
    expect(seen).toEqual([
      "accepted 3000 []",
      "rejected UNKNOWN_ORDER_LINE",
      "rejected REFUND_EXCEEDS_ORDER",
      "accepted 1000 [L2]",
      "rejected REFUND_EXCEEDS_ORDER",
      "rejected REFUND_EXCEEDS_ORDER",
    ]);
  });

  it("refuses a refund in another currency", () => {
    const t = run([placed, refund("r1", 100, [], { currency: "USD" })]);
    expect(t.seen).toEqual(["accepted 3000 []", "rejected SCHEMA_VIOLATION"]);
  });

  it("a cancellation refunds what is left, once; refunds after it are refused", () => {
    const { slot, seen } = run([placed, refund("r1", 1000, ["L2"]), cancel, cancel, refund("r2", 1)]);
    expect(seen).toEqual([
      "accepted 3000 []",
      "accepted 1000 [L2]",
      "accepted 2000 [L1]",
      "duplicate",
      "rejected REFUND_EXCEEDS_ORDER",
    ]);
    expect(slot.order).toMatchObject({ cancelled: true, refundedMinor: 3000 });
  });

  it("holds refunds of unseen orders and applies them in arrival order when the order arrives", () => {
    const { slot, seen } = run([refund("r1", 2000), refund("r2", 2000), refund("r1", 2000), cancel]);
    expect(seen).toEqual(["held", "held", "duplicate", "held"]);
    expect(slot.held.map((h) => h.event.refundId ?? "cancel")).toEqual(["r1", "r2", "cancel"]);
    const t = applyPlaced(slot, placed);
    expect(t.outcomes.map(summary)).toEqual([
      "accepted 3000 []",
      "accepted 2000 []",
      "rejected REFUND_EXCEEDS_ORDER", // r2: only 1000 left after r1
      "accepted 1000 [L1,L2]",
    ]);
    expect(t.slot.held).toEqual([]);
    const accepted = t.outcomes.filter((o) => o.status === "accepted");
    // refunds and cancellations carry the order's time for the FX rate
    expect(accepted.map((o) => o.status === "accepted" && o.rateTime)).toEqual([
      placed.occurredAt,
      placed.occurredAt,
      placed.occurredAt,
    ]);
  });

  it("releaseHeld is a no-op without an order or without held events", () => {
    const held = applyRefund(emptySlot("shop-eu", "o-1"), refund("r1", 1), 0).slot;
    expect(releaseHeld(held)).toEqual({ slot: held, outcomes: [] });
    const withOrder = applyPlaced(emptySlot("shop-eu", "o-1"), placed).slot;
    expect(releaseHeld(withOrder)).toEqual({ slot: withOrder, outcomes: [] });
  });

  it("expires held events after the hold period as ORPHAN_REFUND_TIMEOUT", () => {
    let slot = applyRefund(emptySlot("shop-eu", "o-1"), refund("r1", 100), 0).slot;
    slot = applyRefund(slot, refund("r2", 100), 2 * HOUR).slot;
    expect(nextExpiry(slot, 24 * HOUR)).toBe(24 * HOUR);
    expect(expireHeld(slot, 24 * HOUR - 1, 24 * HOUR).outcomes).toEqual([]);
    const t = expireHeld(slot, 24 * HOUR, 24 * HOUR);
    expect(t.outcomes).toHaveLength(1);
    expect(t.outcomes[0]).toMatchObject({
      status: "rejected",
      code: "ORPHAN_REFUND_TIMEOUT",
      eventId: expect.stringMatching(/^ref-/),
    });
    expect(t.outcomes[0]?.status === "rejected" && t.outcomes[0].reason).toBe(
      'refund "r1" of order o-1 (source shop-eu) never seen within 86400000 ms',
    );
    expect(t.slot.held.map((h) => h.event.refundId)).toEqual(["r2"]);
    // the order arriving later applies only what is still held
    expect(applyPlaced(t.slot, placed).outcomes.map(summary)).toEqual([
      "accepted 3000 []",
      "accepted 100 []",
    ]);
  });

  it("handles revisions of the placement", () => {
    const revised = order({
      occurredAt: Date.UTC(2024, 5, 1),
      revision: 1,
      totalMinor: 2500,
      lines: [
        { lineId: "L1", sku: "A", quantity: 2, unitPriceMinor: 1000, lineTotalMinor: 2000 },
        { lineId: "L3", sku: "C", quantity: 1, unitPriceMinor: 500, lineTotalMinor: 500 },
      ],
    });
    const { slot, seen } = run([placed, refund("r1", 2000, ["L1"]), revised, placed, revised]);
    expect(seen).toEqual([
      "accepted 3000 []",
      "accepted 2000 [L1]",
      "accepted 2500 []",
      "duplicate",
      "duplicate",
    ]);
    expect(slot.order?.lines).toEqual([
      { lineId: "L1", totalMinor: 2000, refunded: true },
      { lineId: "L3", totalMinor: 500, refunded: false },
    ]);
    expect(slot.order).toMatchObject({ revision: 1, refundedMinor: 2000 });
  });

  it("never mutates its input and keeps the state plain JSON", () => {
    const start = applyPlaced(emptySlot("shop-eu", "o-1"), placed).slot;
    const frozen = JSON.stringify(start);
    const after = run([refund("r1", 100, ["L1"]), cancel], 0, start).slot;
    expect(JSON.stringify(start)).toBe(frozen);
    expect(JSON.parse(JSON.stringify(after))).toEqual(after);
    expect(orderKey("a", "b")).toBe('["a","b"]');
  });

  it("refuses an event for another slot", () => {
    expect(() => applyPlaced(emptySlot("shop-eu", "o-2"), placed)).toThrow(/applied to slot/);
  });
});
