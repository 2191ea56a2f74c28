// The points read model's pure steps (src/points-read-model.ts, store/points.ts): a decoded
// loyalty.points.v1 record → its entry row with its lots (records from before `lots` included),
// and what a batch of entries read for the first time does to lots, balances and debt.
import type { PointsMovement } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { AppliedEntries, pointsEntryRow } from "../src/points-read-model.ts";
import type { Db } from "../src/store/db.ts";
import { type PointsEntryRow, planPoints } from "../src/store/points.ts";

const at = { partition: 1, offset: "7" };
const T = Date.UTC(1997, 2, 5);
const YEAR = 365 * 86_400_000;
const movement = (over: Partial<PointsMovement> = {}): PointsMovement => ({
  eventId: "e1",
  memberId: "m1",
  kind: "EARNED",
  points: 100,
  balanceAfter: 100,
  ruleId: "base",
  ruleVersion: 2,
  ruleSetVersion: 3,
  sourceEventId: "order-1",
  orderId: "o1",
  reason: null,
  eventTime: T,
  lotExpiresAt: T + YEAR,
  ruleSetId: "standard",
  lots: [{ lotId: "e1", points: 100, expiresAt: T + YEAR }],
  ...over,
});
const row = (m: PointsMovement, offset = "7"): PointsEntryRow => {
  const out = pointsEntryRow({ partition: 1, offset }, m);
  if (!out.ok) throw new Error("not a row");
  return out.row;
};

describe("pointsEntryRow", () => {
  it("keeps the entry, its rule (id, version, rule set) and its lots, the kind as the ledger names it", () => {
    expect(pointsEntryRow(at, movement())).toEqual({
      ok: true,
      row: {
        entryId: "e1",
        memberId: "m1",
        kind: "earn",
        points: 100,
        balanceAfter: 100,
        ruleId: "base",
        ruleVersion: 2,
        ruleSetId: "standard",
        ruleSetVersion: 3,
        reason: null,
        sourceEventId: "order-1",
        orderId: "o1",
        eventTime: T,
        lots: [{ lotId: "e1", points: 100, expiresAt: T + YEAR }],
        lotsKnown: true,
        partition: 1,
        offset: "7",
      },
    });
  });

  it("takes timestamps and longs as bigint or Date too", () => {
    const r = row(movement({ eventTime: new Date(T) as unknown as number, points: 5n as unknown as number }));
    expect([r.eventTime, r.points]).toEqual([T, 5]);
  });

  it("a record from before `lots`: an earn opens its own lot, a redemption's takes are unknown", () => {
    const earn = row(movement({ lots: [], ruleSetId: null }));
    expect([earn.lots, earn.lotsKnown, earn.ruleSetId]).toEqual([
      [{ lotId: "e1", points: 100, expiresAt: T + YEAR }],
      true,
      null,
    ]);
    const redeem = row(
      movement({ eventId: "r1", kind: "REDEEMED", points: -30, lotExpiresAt: null, lots: [] }),
    );
    expect([redeem.kind, redeem.lots, redeem.lotsKnown]).toEqual(["redeem", [], false]);
    // A clawback beyond every lot takes none: known.
    const claw = row(
      movement({ eventId: "c1", kind: "REVERSED", points: -40, lotExpiresAt: null, lots: [] }),
    );
    expect(claw.lotsKnown).toBe(true);
  });

  it("refuses a record without ids, with an unknown kind or a timestamp that is not one", () => {
    expect(pointsEntryRow(at, movement({ eventId: "" }))).toMatchObject({ ok: false });
    expect(pointsEntryRow(at, movement({ kind: "GIFTED" as PointsMovement["kind"] }))).toMatchObject({
      ok: false,
    });
    expect(pointsEntryRow(at, movement({ eventTime: "soon" as unknown as number }))).toMatchObject({
      ok: false,
    });
  });
});

describe("planPoints", () => {
  it("opens lots, takes from them and sets the balance to the member's last entry", () => {
    const entries = [
      row(movement()),
      row(
        movement({
          eventId: "e2",
          points: 50,
          balanceAfter: 150,
          lotExpiresAt: T + 2 * YEAR,
          lots: [{ lotId: "e2", points: 50, expiresAt: T + 2 * YEAR }],
        }),
        "8",
      ),
      row(
        movement({
          eventId: "r1",
          kind: "REDEEMED",
          points: -120,
          balanceAfter: 30,
          eventTime: T + 10,
          lotExpiresAt: null,
          lots: [
            { lotId: "e1", points: -100, expiresAt: null },
            { lotId: "e2", points: -20, expiresAt: null },
          ],
        }),
        "9",
      ),
      row(
        movement({
          eventId: "x1",
          memberId: "m2",
          balanceAfter: 100,
          lots: [{ lotId: "x1", points: 100, expiresAt: T + YEAR }],
        }),
        "3",
      ),
    ];
    const plan = planPoints(entries);
    expect(plan.lots).toEqual([
      { lotId: "e1", memberId: "m1", points: 100, delta: 0, earnedAt: T, expiresAt: T + YEAR },
      { lotId: "e2", memberId: "m1", points: 50, delta: 30, earnedAt: T, expiresAt: T + 2 * YEAR },
      { lotId: "x1", memberId: "m2", points: 100, delta: 100, earnedAt: T, expiresAt: T + YEAR },
    ]);
    expect(plan.balances).toEqual([
      {
        memberId: "m1",
        balance: 30,
        debtDelta: 0,
        lastEntryId: "r1",
        eventTime: T + 10,
        partition: 1,
        offset: "9",
      },
      {
        memberId: "m2",
        balance: 100,
        debtDelta: 0,
        lastEntryId: "x1",
        eventTime: T,
        partition: 1,
        offset: "3",
      },
    ]);
  });

  it("a take from a lot opened in an earlier batch moves only its remaining points", () => {
    const plan = planPoints([
      row(
        movement({
          eventId: "x9",
          kind: "EXPIRED",
          points: -60,
          balanceAfter: 0,
          lots: [{ lotId: "old", points: -60, expiresAt: null }],
        }),
      ),
    ]);
    expect(plan.lots).toEqual([
      { lotId: "old", memberId: "m1", points: 0, delta: -60, earnedAt: null, expiresAt: null },
    ]);
  });

  it("debt: a clawback beyond the lots adds it, a positive adjustment pays it off before its lot", () => {
    const plan = planPoints([
      row(
        movement({
          eventId: "c1",
          kind: "REVERSED",
          points: -80,
          balanceAfter: -50,
          lotExpiresAt: null,
          lots: [{ lotId: "e0", points: -30, expiresAt: null }],
        }),
      ),
      row(
        movement({
          eventId: "a1",
          kind: "ADJUSTED",
          points: 70,
          balanceAfter: 20,
          ruleId: null,
          lotExpiresAt: T + YEAR,
          lots: [{ lotId: "a1", points: 20, expiresAt: T + YEAR }],
        }),
        "8",
      ),
    ]);
    // +50 from the clawback (80 owed, 30 from lots), -50 paid off by the adjustment (70, 20 into its lot).
    expect(plan.balances[0]?.debtDelta).toBe(0);
    expect(
      planPoints([
        row(
          movement({
            eventId: "c1",
            kind: "REVERSED",
            points: -80,
            balanceAfter: -50,
            lotExpiresAt: null,
            lots: [{ lotId: "e0", points: -30, expiresAt: null }],
          }),
        ),
      ]).balances[0]?.debtDelta,
    ).toBe(50);
  });

  it("an entry whose lots are unknown (an older record) moves no debt", () => {
    const plan = planPoints([
      row(
        movement({
          eventId: "r1",
          kind: "REDEEMED",
          points: -30,
          balanceAfter: 70,
          lotExpiresAt: null,
          lots: [],
        }),
      ),
    ]);
    expect([plan.lots, plan.balances[0]?.debtDelta, plan.balances[0]?.balance]).toEqual([[], 0, 70]);
  });
});

describe("AppliedEntries", () => {
  const fakeDb = (stored: Set<string>) => {
    const db = {
      queries: 0,
      query: async (q: { values: unknown[] }) => {
        db.queries++;
        return { rowCount: stored.has(String(q.values[0])) ? 1 : 0, rows: [] };
      },
    };
    return db;
  };

  it("an entry this instance's read model applies wakes its waiter at once, without a query", async () => {
    const db = fakeDb(new Set());
    const applied = new AppliedEntries(db as unknown as Db, 10_000);
    const waiting = applied.waitFor("e1", 5_000);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    applied.applied(["e0", "e1"]);
    expect(await waiting).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_000);
    // Applied before anyone asked: answered from memory too.
    expect(await applied.waitFor("e0", 5_000)).toBe(true);
    expect(db.queries).toBe(0);
  });

  it("an entry another instance applied is found by polling; none: false after the timeout", async () => {
    const stored = new Set<string>();
    const db = fakeDb(stored);
    const applied = new AppliedEntries(db as unknown as Db, 10);
    setTimeout(() => stored.add("e2"), 30);
    expect(await applied.waitFor("e2", 5_000)).toBe(true);
    expect(db.queries).toBeGreaterThanOrEqual(2);
    expect(await applied.waitFor("nope", 40)).toBe(false);
  });

  it("keeps only the most recent entry ids", () => {
    const applied = new AppliedEntries(fakeDb(new Set()) as unknown as Db);
    applied.applied(Array.from({ length: AppliedEntries.RECENT + 5 }, (_, i) => `x${i}`));
    const recent = (applied as unknown as { recent: Set<string> }).recent;
    expect([recent.size, recent.has("x4"), recent.has("x5")]).toEqual([AppliedEntries.RECENT, false, true]);
  });
});
