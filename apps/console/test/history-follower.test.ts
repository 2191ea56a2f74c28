// The console's history follower's bookkeeping, without Kafka: how far each partition is read
// against the ends a backtest takes (records, and a batch's high watermark when it left no lag),
// and which kept records a backtest gets (before each partition's end, event time before `to`),
// counted as readTopicHistory counts them.
import type { MemberChanged, PurchaseEvent } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { type Ends, FollowProgress, FollowedHistory } from "../server/history-follower.ts";

const P = "loyalty.purchases.v1";
const M = "loyalty.members.v1";
const ends = (e: Record<string, Record<number, number>>): Ends =>
  new Map(
    Object.entries(e).map(([t, parts]) => [
      t,
      new Map(Object.entries(parts).map(([p, o]) => [Number(p), o])),
    ]),
  );

const purchase = (id: string, eventTime: number): PurchaseEvent => ({
  eventId: id,
  type: "PURCHASE",
  memberId: "m1",
  source: "web",
  orderId: `o-${id}`,
  eventTime,
  amountMinor: 1_000,
  currency: "USD",
  baseAmountMinor: 1_000,
  baseCurrency: "USD",
  fxRate: "1",
  lines: [],
  channel: null,
  storeId: null,
  refundId: null,
  refundedLineIds: [],
});

describe("FollowProgress", () => {
  it("has reached the ends only when every partition is read up to its end", () => {
    const p = new FollowProgress();
    const e = ends({ [P]: { 0: 3, 1: 2 }, [M]: { 0: 1 } });
    expect(p.reached(e)).toBe(false);
    expect(p.behind(e)).toEqual([`${P}/0`, `${P}/1`, `${M}/0`]);
    for (const o of [0, 1, 2]) p.read(P, 0, o);
    p.read(P, 1, 0);
    p.read(M, 0, 0);
    expect(p.position(P, 0)).toBe(3);
    expect(p.behind(e)).toEqual([`${P}/1`]);
    p.read(P, 1, 1);
    expect(p.reached(e)).toBe(true);
  });

  it("counts a caught-up batch's high watermark (a trailing transaction marker) as read", () => {
    const p = new FollowProgress();
    const e = ends({ [P]: { 0: 5 } });
    for (const o of [0, 1, 2, 3]) p.read(P, 0, o); // offset 4 is a commit marker, no message
    expect(p.reached(e)).toBe(false);
    p.caughtUp(P, 0, 5);
    expect(p.reached(e)).toBe(true);
  });

  it("never moves back, and ends taken later wait for the new records", () => {
    const p = new FollowProgress();
    p.caughtUp(P, 0, 10);
    p.read(P, 0, 3); // a re-delivered record after a rebalance
    expect(p.position(P, 0)).toBe(10);
    expect(p.reached(ends({ [P]: { 0: 12 } }))).toBe(false);
    expect(p.reached(ends({}))).toBe(true); // empty topics: nothing to wait for
  });
});

describe("FollowedHistory", () => {
  it("gives the records before the ends, priced events before `to`, skipped ones counted", () => {
    const h = new FollowedHistory([P, M]);
    const member: MemberChanged = { memberId: "m1", eventTime: 50 } as unknown as MemberChanged;
    h.add(P, 0, 0, { kind: "purchase", event: purchase("a", 10) });
    h.add(P, 1, 0, { kind: "purchase", event: purchase("b", 20) });
    h.add(M, 0, 0, { kind: "member", event: member });
    h.add(P, 0, 1, { kind: "skipped" });
    h.add(P, 0, 2, { kind: "purchase", event: purchase("c", 200) }); // event time after `to`
    h.add(P, 0, 3, { kind: "purchase", event: purchase("d", 30) }); // written after the ends
    const got = h.upTo(ends({ [P]: { 0: 3, 1: 1 }, [M]: { 0: 1 } }), 100);
    expect(got.purchases.map((p) => p.eventId)).toEqual(["a", "b"]);
    expect(got.memberEvents).toEqual([member]);
    expect(got.records).toEqual({ [P]: 4, [M]: 1 });
    expect(got.skipped).toBe(1);
    expect(h.size).toBe(6);
    // Later ends include the later record; the window before `to` still drops the late event.
    const later = h.upTo(ends({ [P]: { 0: 4, 1: 1 }, [M]: { 0: 1 } }), 100);
    expect(later.purchases.map((p) => p.eventId)).toEqual(["a", "b", "d"]);
    expect(later.records[P]).toBe(5);
  });

  it("counts every topic, zero when nothing is before the ends", () => {
    const h = new FollowedHistory([P, M]);
    h.add(P, 0, 5, { kind: "purchase", event: purchase("a", 10) });
    expect(h.upTo(ends({ [P]: { 0: 5 } }), 100)).toEqual({
      purchases: [],
      memberEvents: [],
      records: { [P]: 0, [M]: 0 },
      skipped: 0,
    });
  });
});
