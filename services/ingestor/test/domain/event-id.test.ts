import { describe, expect, it } from "vitest";
import { memberEventId, orderEventId } from "../../src/domain/index.ts";

describe("event ids", () => {
  const base = { source: "shop", orderId: "o-1", type: "ORDER_PLACED" as const, revision: 0, refundId: null };

  it("are stable: pinned values, the same on every run and machine", () => {
    expect(orderEventId(base)).toBe(orderEventId({ ...base }));
    expect(orderEventId(base)).toMatch(/^pur-[0-9a-f]{32}$/);
    // Pinned (computed independently: sha256 of the NUL-joined parts order, shop, o-1, ORDER_PLACED, 0, "") so that a
    // change of derivation, which would re-key every event, fails loudly.
    expect(orderEventId(base)).toBe("pur-2518a0e64912df58b90d8b6c2d110de2");
    expect(memberEventId({ source: "crm", customerId: "42", type: "MEMBER_REGISTERED", revision: 0 })).toBe(
      "mem-f0fe89f51ab8ee093bae8fc21311c428",
    );
  });

  it("differ per revision, type, refund, source and order", () => {
    const ids = [
      orderEventId(base),
      orderEventId({ ...base, revision: 1 }),
      orderEventId({ ...base, revision: 2 }),
      orderEventId({ ...base, type: "ORDER_CANCELLED" }),
      orderEventId({ ...base, type: "ORDER_REFUNDED", refundId: "r-1" }),
      orderEventId({ ...base, type: "ORDER_REFUNDED", refundId: "r-2" }),
      orderEventId({ ...base, type: "ORDER_REFUNDED", refundId: "r-1", revision: 1 }),
      orderEventId({ ...base, source: "pos" }),
      orderEventId({ ...base, orderId: "o-2" }),
      // parts cannot shift into each other
      orderEventId({ ...base, source: "shopo", orderId: "-1" }),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[3]).toMatch(/^can-/);
    expect(ids[4]).toMatch(/^ref-/);
  });

  it("ignore a refundId on non-refunds (validation drops it anyway)", () => {
    expect(orderEventId({ ...base, refundId: "r-1" })).toBe(orderEventId(base));
  });

  it("member ids differ per revision and type", () => {
    const m = { source: "crm", customerId: "42", type: "MEMBER_REGISTERED" as const, revision: 0 };
    const ids = [
      memberEventId(m),
      memberEventId({ ...m, revision: 1 }),
      memberEventId({ ...m, type: "MEMBER_PROFILE_UPDATED" }),
    ];
    expect(new Set(ids).size).toBe(3);
  });
});
