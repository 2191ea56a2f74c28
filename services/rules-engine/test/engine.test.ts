import type { ChurnAlert, PurchaseEvent } from "@loyalty/contracts";
import { defaultTierConfig } from "@loyalty/tiers";
import { describe, expect, it } from "vitest";
import { emptyState } from "../src/engine/draft.ts";
import { expirySourceOf } from "../src/engine/model.ts";
import { BatchProcessor, type EngineOptions, entryIdOf, programmeDay } from "../src/engine/process.ts";
import { RuleSetRegistry, checksumOf, readsChurnFacts } from "../src/engine/registry.ts";
import type { RuleSet } from "../src/rules/types.ts";
import { PROGRAMME, loadStandard } from "./rules/helpers.ts";

const OPTS: EngineOptions = {
  programme: PROGRAMME,
  tierConfig: defaultTierConfig,
  expiryMonths: 12,
  allowNegativeBalance: false,
};

function registry(
  ...versions: Array<{ version: number; effectiveAt: number; rate?: string }>
): RuleSetRegistry {
  const { ruleSet } = loadStandard();
  const reg = new RuleSetRegistry("standard", PROGRAMME);
  for (const v of versions) {
    const rs = structuredClone(ruleSet) as { version: number; rules: Array<Record<string, unknown>> };
    rs.version = v.version;
    const base = rs.rules.find((r) => r.id === "base-points") as {
      version: number;
      event: { params: { rate: string } };
    };
    base.version = v.version;
    base.event.params.rate = v.rate ?? "1";
    const json = JSON.stringify(rs);
    expect(
      reg.add({
        ruleSetId: "standard",
        version: v.version,
        effectiveAt: v.effectiveAt,
        checksum: checksumOf(json),
        ruleSetJson: json,
      }).outcome,
    ).toBe("added");
  }
  return reg;
}

let n = 0;
function order(
  memberId: string,
  cents: number,
  at: number,
  type: PurchaseEvent["type"] = "PURCHASE",
  orderId?: string,
): PurchaseEvent {
  n++;
  return {
    eventId: `e${n}`,
    type,
    memberId,
    source: "t",
    orderId: orderId ?? `o${n}`,
    eventTime: at,
    amountMinor: cents,
    currency: "USD",
    baseAmountMinor: cents,
    baseCurrency: "USD",
    fxRate: "1",
    lines: [],
    channel: null,
    storeId: null,
    refundId: null,
    refundedLineIds: [],
  };
}

const T = Date.UTC(2024, 2, 10, 12);
const pointsBy = (p: BatchProcessor, eventId: string) =>
  Object.fromEntries((p.bySource.get(eventId)?.entries ?? []).map((e) => [e.ruleId, e.points]));

function alert(memberId: string, at: number): ChurnAlert {
  n++;
  return {
    eventId: `a${n}`,
    memberId,
    eventTime: at,
    pAlive: 0.1,
    expectedPurchases: 0.2,
    horizonDays: 90,
    expectedValueMinor: 1_000,
    currency: "USD",
    segment: "at-risk",
    actionLevel: "at-risk",
    reason: "test",
    modelVersion: "m1",
  };
}

describe("churn alerts in event time (ADR 12)", () => {
  const DAY = 86_400_000;
  const before = order("m", 1_000, T);
  const risk = alert("m", T + 90 * DAY);
  const back = order("m", 1_000, T + 100 * DAY);
  const again = order("m", 1_000, T + 101 * DAY);
  const winback = (events: Parameters<BatchProcessor["run"]>[0]) => {
    const p = new BatchProcessor(emptyState(), registry({ version: 1, effectiveAt: 0 }), OPTS);
    p.run(events);
    return [before, back, again].map((e) => pointsBy(p, e.eventId)["winback-bonus"] ?? 0);
  };

  it("pays the win-back on the first purchase at or after the alert, however early the alert is read", () => {
    const A = { kind: "churn", event: risk } as const;
    const bought = (event: PurchaseEvent) => ({ kind: "purchase", event }) as const;
    const [b, k, g] = [bought(before), bought(back), bought(again)];
    // The join guarantees only that an alert is read before the purchases after it.
    expect(winback([b, A, k, g])).toEqual([0, 250, 0]);
    expect(winback([A, b, k, g])).toEqual([0, 250, 0]);
    // At the alert's own instant the alert comes first: that purchase is the return.
    const tie = order("m", 1_000, risk.eventTime);
    const p = new BatchProcessor(emptyState(), registry({ version: 1, effectiveAt: 0 }), OPTS);
    p.run([A, { kind: "purchase", event: tie }]);
    expect(pointsBy(p, tie.eventId)["winback-bonus"]).toBe(250);
  });

  it("makes purchases wait only for rule sets that read churn facts", () => {
    const ruleSet = loadStandard().ruleSet as RuleSet;
    expect(readsChurnFacts(ruleSet)).toBe(true);
    const without = { ...ruleSet, rules: ruleSet.rules.filter((r) => r.id !== "winback-bonus") };
    expect(readsChurnFacts(without)).toBe(false);
    const paused = {
      ...ruleSet,
      rules: ruleSet.rules.map((r) => (r.id === "winback-bonus" ? { ...r, status: "paused" as const } : r)),
    };
    expect(readsChurnFacts(paused)).toBe(false);
    const bySegment = {
      ...without,
      rules: without.rules.map((r) =>
        r.id === "base-points" ? { ...r, targeting: { segments: ["champions"] } } : r,
      ),
    };
    expect(readsChurnFacts(bySegment)).toBe(true);
  });
});

describe("earning pipeline", () => {
  it("prices an order 1 ms after the one that lifted the member to Gold at Gold", () => {
    const p = new BatchProcessor(emptyState(), registry({ version: 1, effectiveAt: 0 }), OPTS);
    const first = order("m", 30_000, T); // $300: Member -> Gold (>= $250)
    const second = order("m", 10_000, T + 1);
    p.run([
      { kind: "purchase", event: first },
      { kind: "purchase", event: second },
    ]);
    expect(pointsBy(p, first.eventId)).toEqual({ "base-points": 300, "first-purchase": 100 });
    expect(pointsBy(p, second.eventId)).toEqual({ "base-points": 100, "tier-gold": 50 });
    // Batching does not matter: the same orders in two batches give the same awards.
    const state = emptyState();
    const reg = registry({ version: 1, effectiveAt: 0 });
    new BatchProcessor(state, reg, OPTS).run([{ kind: "purchase", event: first }]);
    const p2 = new BatchProcessor(state, reg, OPTS);
    p2.run([{ kind: "purchase", event: second }]);
    expect(pointsBy(p2, second.eventId)).toEqual({ "base-points": 100, "tier-gold": 50 });
  });

  it("prices each event with the version in effect at its event time", () => {
    const reg = registry(
      { version: 1, effectiveAt: T + 1000 },
      { version: 2, effectiveAt: T + 2000, rate: "3" },
    );
    expect(reg.at(T)?.version).toBe(1); // before the first publication: the first version
    expect(reg.at(T + 1999)?.version).toBe(1);
    expect(reg.at(T + 2000)?.version).toBe(2);
    const p = new BatchProcessor(emptyState(), reg, OPTS);
    const early = order("m", 1_000, T + 1500);
    const late = order("m", 1_000, T + 2500);
    p.run([
      { kind: "purchase", event: early },
      { kind: "purchase", event: late },
    ]);
    expect(p.bySource.get(early.eventId)?.entries[0]).toMatchObject({
      ruleVersion: 1,
      ruleSetVersion: 1,
      points: 10,
    });
    expect(p.bySource.get(late.eventId)?.entries[0]).toMatchObject({
      ruleVersion: 2,
      ruleSetVersion: 2,
      points: 30,
    });
    expect(p.priced.map((e) => e.ruleSetVersion)).toEqual([1, 2]);
  });

  it("reverses from the award's own lot first, then records a shortfall the balance cannot cover", () => {
    const state = emptyState();
    const reg = registry({ version: 1, effectiveAt: 0 });
    const a = order("m", 5_000, T, "PURCHASE", "A");
    const b = order("m", 2_000, T + 10, "PURCHASE", "B");
    const p = new BatchProcessor(state, reg, OPTS);
    p.run([
      { kind: "purchase", event: a },
      { kind: "purchase", event: b },
    ]);
    expect(state.balances.get("m")?.balance).toBe(50 + 100 + 20);
    // The member spends (API redemption) everything but 10 points, from A's first-purchase lot and B's lot.
    state.lotsLoadedFor.add("m");
    for (const lot of state.lots.get("m") ?? []) lot.remaining = lot.points === 50 ? 10 : 0;
    (state.balances.get("m") as { balance: number }).balance = 10;
    const refund = order("m", 5_000, T + 20, "CANCELLATION", "A");
    const q = new BatchProcessor(state, reg, OPTS);
    q.run([{ kind: "purchase", event: refund }]);
    const rev = q.bySource.get(refund.eventId)?.entries ?? [];
    expect(rev.map((e) => [e.ruleId, e.points, (e.detail as { claimed: number }).claimed])).toEqual([
      ["base-points", -10, 50],
      ["first-purchase", 0, 100],
    ]);
    expect(q.movements.map((m) => m.points)).toEqual([-10]);
    expect(state.balances.get("m")).toMatchObject({ balance: 0, shortfall: 140, debt: 0 });
    // A second cancellation of the same order claws nothing more back.
    const again = new BatchProcessor(state, reg, OPTS);
    again.run([{ kind: "purchase", event: { ...refund, eventId: "other" } }]);
    expect(again.entries).toEqual([]);
  });

  it("with ALLOW_NEGATIVE_BALANCE reverses in full and books the uncovered part as debt", () => {
    const state = emptyState();
    const reg = registry({ version: 1, effectiveAt: 0 });
    const a = order("m", 5_000, T, "PURCHASE", "A");
    new BatchProcessor(state, reg, OPTS).run([{ kind: "purchase", event: a }]);
    state.lotsLoadedFor.add("m");
    for (const lot of state.lots.get("m") ?? []) lot.remaining = 0;
    (state.balances.get("m") as { balance: number }).balance = 0;
    const q = new BatchProcessor(state, reg, { ...OPTS, allowNegativeBalance: true });
    q.run([{ kind: "purchase", event: order("m", 5_000, T + 5, "CANCELLATION", "A") }]);
    expect(state.balances.get("m")).toMatchObject({ balance: -150, debt: 150, shortfall: 0 });
  });

  it("keys per-day caps by the programme's local day", () => {
    // 03:00 UTC on 10 March is still 9 March in New York.
    expect(programmeDay(Date.UTC(2024, 2, 10, 3), "America/New_York")).toBe("2024-03-09");
    expect(programmeDay(Date.UTC(2024, 2, 10, 12), "America/New_York")).toBe("2024-03-10");
  });
});

describe("lots expire in the member's event order (ADR 13)", () => {
  const YEAR_ON = Date.UTC(2025, 2, 10, 12); // A's lots, earned at T, expire 12 months on
  const reg = registry({ version: 1, effectiveAt: 0 });
  const expiryId = (lotId: string) => entryIdOf(expirySourceOf(lotId, 0), null, "expire", "m");

  /** A purchase at T (base 50 + first-purchase 100 points), each batch on the state the last left. */
  function earnedAtT() {
    const state = emptyState();
    new BatchProcessor(state, reg, OPTS).run([
      { kind: "purchase", event: order("m", 5_000, T, "PURCHASE", "A") },
    ]);
    const lots = (state.lots.get("m") ?? []).map((l) => ({ ...l }));
    return { state, lots };
  }

  it("expires due lots before the member's next earn, dated at their expiry", () => {
    const { state, lots } = earnedAtT();
    expect(lots.map((l) => [l.points, l.expiresAt])).toEqual([
      [50, YEAR_ON],
      [100, YEAR_ON],
    ]);
    const b = order("m", 2_000, YEAR_ON + 86_400_000, "PURCHASE", "B");
    const p = new BatchProcessor(state, reg, OPTS);
    p.run([{ kind: "purchase", event: b }]);
    const sorted = [...lots].sort((x, y) => (x.lotId < y.lotId ? -1 : 1));
    expect(p.entries.map((e) => [e.kind, e.entryId, e.points, e.balanceAfter, e.eventTime])).toEqual([
      [
        "expire",
        expiryId(sorted[0]?.lotId ?? ""),
        -(sorted[0]?.points ?? 0),
        150 - (sorted[0]?.points ?? 0),
        YEAR_ON,
      ],
      ["expire", expiryId(sorted[1]?.lotId ?? ""), -(sorted[1]?.points ?? 0), 0, YEAR_ON],
      ["earn", entryIdOf(b.eventId, "base-points", "earn", "m"), 20, 20, b.eventTime],
    ]);
    expect(p.expiries.map((e) => e.entryId)).toEqual(p.entries.slice(0, 2).map((e) => e.entryId));
    expect(p.expiries[0]?.detail).toEqual({ lotId: sorted[0]?.lotId, expiry: 0, trigger: b.eventId });
    // Published with the purchase, before its earn.
    expect(p.bySource.get(b.eventId)?.entries.map((e) => e.kind)).toEqual(["expire", "expire", "earn"]);
    expect(p.movements.map((m) => [m.lotId, m.points])).toEqual(sorted.map((l) => [l.lotId, -l.points]));
    expect(state.balances.get("m")?.balance).toBe(20);
  });

  it("leaves lots not yet due, and an earn at their expiry instant comes after it", () => {
    const { state } = earnedAtT();
    const before = new BatchProcessor(state, reg, OPTS);
    before.run([{ kind: "purchase", event: order("m", 1_000, YEAR_ON - 1, "PURCHASE", "C") }]);
    expect(before.expiries).toEqual([]);
    const at = new BatchProcessor(state, reg, OPTS);
    at.run([{ kind: "purchase", event: order("m", 1_000, YEAR_ON, "PURCHASE", "D") }]);
    expect(at.entries.map((e) => e.kind)).toEqual(["expire", "expire", "earn"]);
    // C's 10 points (earned a millisecond before) are still there.
    expect(state.balances.get("m")?.balance).toBe(10 + 10);
  });

  it("a cancellation after the expiry takes back nothing of what expired (ADR 14)", () => {
    const { state } = earnedAtT();
    const b = order("m", 2_000, T + 100 * 86_400_000, "PURCHASE", "B");
    new BatchProcessor(state, reg, OPTS).run([{ kind: "purchase", event: b }]);
    state.lotsLoadedFor.add("m");
    const cancel = order("m", 5_000, YEAR_ON + 1, "CANCELLATION", "A");
    const q = new BatchProcessor(state, reg, OPTS);
    q.run([{ kind: "purchase", event: cancel }]);
    expect(q.entries.map((e) => [e.kind, e.points, e.balanceAfter, e.reason])).toEqual([
      ["expire", expect.any(Number), expect.any(Number), "expired"],
      ["expire", expect.any(Number), 20, "expired"],
      ["reverse", 0, 20, "clawback-expired"],
      ["reverse", 0, 20, "clawback-expired"],
    ]);
    expect(q.entries.filter((e) => e.kind === "reverse").map((e) => e.detail)).toEqual([
      { awardEntryId: expect.any(String), claimed: 50, expired: 50, shortfall: 0 },
      { awardEntryId: expect.any(String), claimed: 100, expired: 100, shortfall: 0 },
    ]);
    // B's lot, open at the cancellation, is not taken from: A's points were lost once already.
    const reversals = new Set(q.entries.filter((e) => e.kind === "reverse").map((e) => e.entryId));
    expect(q.movements.filter((m) => reversals.has(m.entryId))).toEqual([]);
    expect(state.balances.get("m")).toMatchObject({ balance: 20, shortfall: 0 });
  });

  it("sets each expired point against one claim only: a refund before the expiry, the rest after", () => {
    const { state } = earnedAtT();
    state.lotsLoadedFor.add("m");
    // 40 % refunded before the expiry: 20 of A's 50 base points come back from A's own lot.
    const a = (id: string, cents: number, at: number, type: PurchaseEvent["type"]) =>
      new BatchProcessor(state, reg, OPTS).run([
        { kind: "purchase", event: order("m", cents, at, type, id) },
      ]);
    a("A", 2_000, T + 10 * 86_400_000, "REFUND");
    expect(state.balances.get("m")?.balance).toBe(130);
    a("B", 2_000, T + 100 * 86_400_000, "PURCHASE");
    // A's 30 + 100 left expire before the cancellation of the rest: nothing more to take.
    const q = new BatchProcessor(state, reg, OPTS);
    q.run([{ kind: "purchase", event: order("m", 5_000, YEAR_ON + 1, "CANCELLATION", "A") }]);
    expect(q.entries.filter((e) => e.kind === "reverse").map((e) => [e.points, e.detail])).toEqual([
      [0, { awardEntryId: expect.any(String), claimed: 30, expired: 30, shortfall: 0 }],
      [0, { awardEntryId: expect.any(String), claimed: 100, expired: 100, shortfall: 0 }],
    ]);
    expect(state.balances.get("m")).toMatchObject({ balance: 20, shortfall: 0 });
  });

  it("still claws back points the member spent before the rest expired", () => {
    const { state, lots } = earnedAtT();
    state.lotsLoadedFor.add("m");
    // The member redeemed 30 of the 50 base points (the API takes them from the lot).
    const base = lots.find((l) => l.points === 50)?.lotId;
    for (const lot of state.lots.get("m") ?? []) if (lot.lotId === base) lot.remaining = 20;
    (state.balances.get("m") as { balance: number }).balance = 120;
    new BatchProcessor(state, reg, OPTS).run([
      { kind: "purchase", event: order("m", 2_000, T + 100 * 86_400_000, "PURCHASE", "B") },
    ]);
    const q = new BatchProcessor(state, reg, OPTS);
    q.run([{ kind: "purchase", event: order("m", 5_000, YEAR_ON + 1, "CANCELLATION", "A") }]);
    // 20 of the base award expired; the 30 spent are owed, and B's 20 points cover 20 of them.
    expect(q.entries.filter((e) => e.kind === "reverse").map((e) => [e.points, e.reason, e.detail])).toEqual([
      [-20, "clawback-shortfall", { awardEntryId: base, claimed: 50, expired: 20, shortfall: 10 }],
      [0, "clawback-expired", { awardEntryId: expect.any(String), claimed: 100, expired: 100, shortfall: 0 }],
    ]);
    expect(state.balances.get("m")).toMatchObject({ balance: 0, shortfall: 10 });
  });

  it("expires a reopened lot again (its n-th expiry), dated when it is noticed", () => {
    const { state, lots } = earnedAtT();
    const reopened = lots[0]?.lotId ?? "";
    state.expiryCounts.set(reopened, 1);
    const b = order("m", 2_000, YEAR_ON + 1, "PURCHASE", "B");
    const p = new BatchProcessor(state, reg, OPTS);
    p.run([{ kind: "purchase", event: b }]);
    const again = p.expiries.find((e) => (e.detail as { lotId: string }).lotId === reopened);
    expect(again?.entryId).toBe(entryIdOf(expirySourceOf(reopened, 1), null, "expire", "m"));
    expect(again?.eventTime).toBe(b.eventTime);
    expect(again?.detail).toEqual({ lotId: reopened, expiry: 1, trigger: b.eventId });
    expect(state.lots.get("m")?.find((l) => l.lotId === reopened)?.remaining).toBe(0);
  });

  it("punctuates after each record at the stream time; where batches are cut does not matter", () => {
    const stream = (from: number) => ({ from, wallTime: null, owns: () => true });
    const x1 = order("x", 1_000, YEAR_ON - 86_400_000, "PURCHASE", "X1");
    const x2 = order("x", 1_000, YEAR_ON + 1, "PURCHASE", "X2");
    const start = earnedAtT().state;
    const whole = structuredClone(start);
    const one = new BatchProcessor(whole, reg, OPTS);
    one.run(
      [
        { kind: "purchase", event: x1 },
        { kind: "purchase", event: x2 },
      ],
      stream(Number.NEGATIVE_INFINITY),
    );
    // m has no movement: its lots expire after x2, the record that carried time past them.
    expect(one.entries.map((e) => [e.memberId, e.kind])).toEqual([
      ["x", "earn"],
      ["x", "earn"],
      ["x", "earn"],
      ["m", "expire"],
      ["m", "expire"],
    ]);
    expect(one.bySource.get(x2.eventId)?.entries.map((e) => e.kind)).toEqual(["earn", "expire", "expire"]);
    expect(one.expiries.map((e) => (e.detail as { trigger: string }).trigger)).toEqual([
      x2.eventId,
      x2.eventId,
    ]);

    const split = structuredClone(start);
    const a = new BatchProcessor(split, reg, OPTS);
    a.run([{ kind: "purchase", event: x1 }], stream(Number.NEGATIVE_INFINITY));
    const b = new BatchProcessor(split, reg, OPTS);
    b.run([{ kind: "purchase", event: x2 }], stream(x1.eventTime));
    const rows = (p: BatchProcessor) =>
      p.entries.map((e) => [e.entryId, e.points, e.balanceAfter, e.eventTime]);
    expect([...rows(a), ...rows(b)]).toEqual(rows(one));
    expect(split.balances).toEqual(whole.balances);
  });

  it("a punctuation expires the lots of members with no movement, as outputs of its trigger", () => {
    const { state, lots } = earnedAtT();
    const idle = new BatchProcessor(state, reg, OPTS);
    idle.punctuate(YEAR_ON - 1, "batch-end");
    expect(idle.entries).toEqual([]);
    const p = new BatchProcessor(state, reg, OPTS);
    p.punctuate(YEAR_ON, "batch-end");
    const sorted = [...lots].sort((x, y) => (x.lotId < y.lotId ? -1 : 1));
    expect(p.entries.map((e) => [e.entryId, e.balanceAfter, e.eventTime])).toEqual([
      [expiryId(sorted[0]?.lotId ?? ""), 150 - (sorted[0]?.points ?? 0), YEAR_ON],
      [expiryId(sorted[1]?.lotId ?? ""), 0, YEAR_ON],
    ]);
    expect(p.bySource.get("batch-end")?.entries.map((e) => e.entryId)).toEqual(
      p.entries.map((e) => e.entryId),
    );
    expect(state.balances.get("m")?.balance).toBe(0);
  });
});
