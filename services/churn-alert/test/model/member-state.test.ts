import { describe, expect, it } from "vitest";
import {
  DAY_MS,
  type MemberState,
  type PurchaseEvent,
  applyEvent,
  applyEvents,
  createMemberState,
  memberFeatures,
} from "../../src/model/index.ts";
import { cdnowPurchaseEvents, dollarsToCents, readCdnowSample, readCdnowSummary } from "./cdnow.ts";

const round2 = (v: number): number => Math.round(v * 100) / 100;

// CDNOW calibration ends 1997-09-30; the summary's T is measured to the start of that day
// (1997-01-01 → 1997-09-30 is 272 days = 38.86 weeks) and purchases made on it count.
const CALIBRATION_END = Date.UTC(1997, 8, 30);

describe("CDNOW sample replayed through member state", () => {
  it("reproduces cdnow_customers_summary.csv for every customer", () => {
    const byMember = cdnowPurchaseEvents(readCdnowSample());
    const summary = readCdnowSummary();
    expect(summary).toHaveLength(2357);
    expect(byMember.size).toBe(2357);
    const mismatches: string[] = [];
    for (const row of summary) {
      const events = byMember.get(row.id);
      expect(events, `customer ${row.id} missing from the sample`).toBeDefined();
      // The whole history is applied; the calibration cut is the asOf, as in production.
      const f = memberFeatures(applyEvents(createMemberState(), events ?? []), CALIBRATION_END);
      const got = f === null ? null : { frequency: f.x, recency: round2(f.tx), T: round2(f.T) };
      const want = { frequency: row.frequency, recency: row.recency, T: row.T };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches.push(`${row.id}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("converts dollars to cents exactly", () => {
    expect(dollarsToCents("29.33")).toBe(2933);
    expect(dollarsToCents("0.07")).toBe(7);
    expect(dollarsToCents("14.96")).toBe(1496);
    expect(dollarsToCents("1.005")).toBe(101);
    expect(dollarsToCents("12")).toBe(1200);
  });
});

const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`);
const purchase = (
  orderId: string,
  iso: string,
  amountMinor: number,
  eventId = `e-${orderId}`,
): PurchaseEvent => ({
  type: "purchase",
  eventId,
  orderId,
  eventTime: Date.parse(iso.length === 10 ? `${iso}T12:00:00Z` : iso),
  amountMinor,
});

function features(state: MemberState, asOfIso: string, unitMs = DAY_MS) {
  const f = memberFeatures(state, day(asOfIso), { unitMs });
  if (f === null) throw new Error("expected purchases");
  return f;
}

describe("member state", () => {
  const base = applyEvents(createMemberState(), [
    purchase("o1", "2024-01-01", 1000),
    purchase("o2", "2024-01-01", 500),
    purchase("o3", "2024-01-11", 2000),
    purchase("o4", "2024-01-31", 4000),
  ]);

  it("counts distinct purchase days and averages repeat days only", () => {
    const f = features(base, "2024-02-10");
    expect(f.purchaseDays).toBe(3);
    expect(f.x).toBe(2);
    expect(f.tx).toBe(30);
    expect(f.T).toBe(40);
    expect(f.monetaryMinor).toBe(3000); // (2000 + 4000) / 2; the 1500 first day is excluded
    expect(f.totalAmountMinor).toBe(7500);
    expect(f.firstPurchaseDay).toBe("2024-01-01");
    expect(f.lastPurchaseDay).toBe("2024-01-31");
    expect(base.days["2024-01-01"]).toEqual({ amountMinor: 1500, orderIds: ["o1", "o2"] });
  });

  it("uses weeks by default", () => {
    const f = memberFeatures(base, day("2024-02-10"));
    expect(f?.tx).toBeCloseTo(30 / 7, 12);
    expect(f?.T).toBeCloseTo(40 / 7, 12);
  });

  it("derives features as of a time: later days do not count, nothing before the first day", () => {
    const f = features(base, "2024-01-20");
    expect(f.x).toBe(1);
    expect(f.tx).toBe(10);
    expect(f.T).toBe(19);
    expect(f.monetaryMinor).toBe(2000);
    expect(memberFeatures(base, day("2023-12-31"))).toBeNull();
    expect(memberFeatures(createMemberState(), day("2024-01-01"))).toBeNull();
    // x = 0: monetary is 0 whatever the first day's amount.
    expect(features(base, "2024-01-05").monetaryMinor).toBe(0);
  });

  it("is idempotent for redelivered purchases", () => {
    const again = applyEvent(base, purchase("o3", "2024-01-11", 2000));
    expect(again).toBe(base);
    // Same event id under another order id is the same delivery.
    const sameEvent = applyEvent(base, purchase("o9", "2024-02-01", 999, "e-o3"));
    expect(sameEvent).toBe(base);
    const fresh = applyEvent(base, purchase("o5", "2024-02-01", 100));
    expect(features(fresh, "2024-02-10").x).toBe(3);
  });

  it("refunds reduce the day's amount, are capped at the order and dedupe by event id", () => {
    const refund = { type: "refund", orderId: "o4", amountMinor: 1000, eventId: "r1" } as const;
    const s1 = applyEvent(base, refund);
    expect(s1.days["2024-01-31"]?.amountMinor).toBe(3000);
    expect(features(s1, "2024-02-10").monetaryMinor).toBe(2500);
    expect(applyEvent(s1, refund)).toBe(s1);
    const s2 = applyEvent(s1, { type: "refund", orderId: "o4", amountMinor: 999_999, eventId: "r2" });
    expect(s2.days["2024-01-31"]?.amountMinor).toBe(0);
    // Fully refunded is still a purchase day.
    expect(features(s2, "2024-02-10").x).toBe(2);
    // The input is untouched (pure update).
    expect(base.days["2024-01-31"]?.amountMinor).toBe(4000);
  });

  it("cancelling the only order of the last day moves recency back", () => {
    const s = applyEvent(base, { type: "cancellation", orderId: "o4" });
    expect(s.days["2024-01-31"]).toBeUndefined();
    const f = features(s, "2024-02-10");
    expect(f.x).toBe(1);
    expect(f.tx).toBe(10);
    expect(f.monetaryMinor).toBe(2000);
    // Repeated cancellation and a redelivered purchase do not bring it back.
    expect(applyEvent(s, { type: "cancellation", orderId: "o4" })).toBe(s);
    expect(applyEvent(s, purchase("o4", "2024-01-31", 4000))).toBe(s);
    // Refunds after cancellation change nothing.
    expect(applyEvent(s, { type: "refund", orderId: "o4", amountMinor: 10 })).toBe(s);
  });

  it("cancelling the first day moves the first day and the age", () => {
    const s = applyEvents(base, [
      { type: "cancellation", orderId: "o1" },
      { type: "cancellation", orderId: "o2" },
    ]);
    const f = features(s, "2024-02-10");
    expect(f.firstPurchaseDay).toBe("2024-01-11");
    expect(f.x).toBe(1);
    expect(f.tx).toBe(20);
    expect(f.T).toBe(30);
    expect(f.monetaryMinor).toBe(4000);
  });

  it("cancelling one of two orders keeps the day with the other order's net amount", () => {
    const s = applyEvents(base, [
      { type: "refund", orderId: "o1", amountMinor: 300 },
      { type: "cancellation", orderId: "o2" },
    ]);
    expect(s.days["2024-01-01"]).toEqual({ amountMinor: 700, orderIds: ["o1"] });
    expect(features(s, "2024-02-10").x).toBe(2);
    const both = applyEvent(s, { type: "cancellation", orderId: "o1" });
    expect(both.days["2024-01-01"]).toBeUndefined();
  });

  it("keeps refunds and cancellations that arrive before their purchase", () => {
    let s = createMemberState();
    s = applyEvents(s, [
      { type: "refund", orderId: "a", amountMinor: 250, eventId: "ra" },
      { type: "refund", orderId: "a", amountMinor: 250, eventId: "ra" },
      { type: "cancellation", orderId: "b" },
    ]);
    s = applyEvents(s, [purchase("a", "2024-03-01", 1000), purchase("b", "2024-03-05", 800)]);
    expect(s.pending).toEqual({});
    expect(s.days).toEqual({ "2024-03-01": { amountMinor: 750, orderIds: ["a"] } });
    expect(s.orders.b?.cancelled).toBe(true);
  });

  it("survives a JSON round trip, including awkward order ids", () => {
    const s = applyEvents(base, [
      purchase("__proto__", "2024-02-02", 123),
      purchase("constructor", "2024-02-03", 456),
      { type: "refund", orderId: "__proto__", amountMinor: 23 },
    ]);
    expect(s.days["2024-02-02"]?.amountMinor).toBe(100);
    const copy = JSON.parse(JSON.stringify(s)) as MemberState;
    expect(copy).toEqual(s);
    expect(features(copy, "2024-03-01")).toEqual(features(s, "2024-03-01"));
    const next = purchase("o6", "2024-02-20", 50);
    expect(features(applyEvent(copy, next), "2024-03-01")).toEqual(
      features(applyEvent(s, next), "2024-03-01"),
    );
    // Stored as an own entry, not as the prototype.
    expect(Object.hasOwn(copy.orders, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(copy.orders, "__proto__")?.value?.refundedMinor).toBe(23);
  });

  it("rejects amounts that are not integer minor units", () => {
    expect(() => applyEvent(base, purchase("x", "2024-02-01", 10.5))).toThrow(RangeError);
    expect(() => applyEvent(base, purchase("x", "2024-02-01", -1))).toThrow(RangeError);
    expect(() => applyEvent(base, { type: "refund", orderId: "o1", amountMinor: -5 })).toThrow(RangeError);
    expect(() => createMemberState("Mars/Olympus_Mons")).toThrow(RangeError);
  });
});

describe("calendar days in a time zone", () => {
  const lateEvening = purchase("p1", "2024-01-01T23:30:00Z", 100);
  const earlyMorning = purchase("p2", "2024-01-02T00:30:00Z", 100);

  it("splits or merges days according to the zone", () => {
    const utc = applyEvents(createMemberState(), [lateEvening, earlyMorning]);
    expect(Object.keys(utc.days).sort()).toEqual(["2024-01-01", "2024-01-02"]);
    const ny = applyEvents(createMemberState("America/New_York"), [lateEvening, earlyMorning]);
    expect(Object.keys(ny.days)).toEqual(["2024-01-01"]);
    const tokyo = applyEvents(createMemberState("Asia/Tokyo"), [lateEvening, earlyMorning]);
    expect(Object.keys(tokyo.days)).toEqual(["2024-01-02"]);
  });

  it("measures whole days across a DST change", () => {
    // Berlin springs forward on 2024-03-31; local midnight of 04-01 is 2024-03-31T22:00Z.
    const s = applyEvents(createMemberState("Europe/Berlin"), [
      purchase("b1", "2024-03-29T11:00:00Z", 100),
      purchase("b2", "2024-03-31T10:00:00Z", 100),
    ]);
    const f = memberFeatures(s, Date.parse("2024-03-31T22:00:00Z"), { unitMs: DAY_MS });
    expect(f?.tx).toBe(2);
    expect(f?.T).toBe(3);
  });
});
