// The calibration report without I/O: buckets by calibration frequency, totals and means on
// synthetic members with known numbers; the conditional expectation against an independent
// evaluation of Fader, Hardie & Lee (2005) eq. 10; the holdout window's edges; the cohort as
// `fitAsOf` sees it.
import { describe, expect, it } from "vitest";
import { CalibrationRequestError, checkPeriods, cohortOf } from "../../src/calibration.ts";
import { DEFAULT_SETTINGS } from "../../src/config.ts";
import {
  type CalibrationMember,
  calibrationFigures,
  holdoutPurchaseDays,
  instantOfWallClock,
} from "../../src/model/calibration.ts";
import {
  type BgNbdParams,
  DAY_MS,
  type PurchaseEvent,
  applyEvents,
  createMemberState,
  wallClockMs,
} from "../../src/model/index.ts";

const PAPER: BgNbdParams = { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 };

/** Eq. 10 of the paper as printed: the plain Gauss series, no transformation. */
function eq10(p: BgNbdParams, t: number, x: number, tx: number, T: number): number {
  const { r, alpha, a, b } = p;
  const z = t / (alpha + T + t);
  const A = r + x;
  const B = b + x;
  const C = a + b + x - 1;
  let term = 1;
  let sum = 1;
  for (let n = 0; n < 100_000 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (((A + n) * (B + n)) / ((C + n) * (n + 1))) * z;
    sum += term;
  }
  const bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * sum;
  const alive = x > 0 ? 1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + tx)) ** (r + x) : 1;
  return ((C / (a - 1)) * bracket) / alive;
}

const member = (memberId: string, x: number, tx: number, T: number, actual: number): CalibrationMember => ({
  memberId,
  x,
  tx,
  T,
  actual,
});

describe("calibrationFigures", () => {
  const members = [
    member("a", 0, 0, 30, 0),
    member("b", 0, 0, 38, 2),
    member("c", 1, 10, 35, 1),
    member("d", 2, 20, 36, 3),
    member("e", 7, 30, 38, 6),
    member("f", 12, 37, 39, 10),
  ];
  const f = calibrationFigures(members, PAPER, 39);

  it("gives each member E[X(t) | x, t_x, T] with t the holdout length, as eq. 10 evaluates it", () => {
    expect(f.members.map((m) => m.memberId)).toEqual(["a", "b", "c", "d", "e", "f"]);
    for (const m of f.members) {
      expect(m.expected).toBeGreaterThan(0);
      expect(Math.abs(m.expected - eq10(PAPER, 39, m.x, m.tx, m.T))).toBeLessThan(1e-9 * (1 + m.expected));
    }
    // A member who just bought often expects more than one who bought as often long ago.
    expect(f.members[5]!.expected).toBeGreaterThan(f.members[4]!.expected);
  });

  it("buckets by calibration frequency 0..7+, with sums and means per bucket", () => {
    expect(f.byFrequency.map((b) => b.label)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7+"]);
    expect(f.byFrequency.map((b) => b.members)).toEqual([2, 1, 1, 0, 0, 0, 0, 2]);
    expect(f.byFrequency.map((b) => b.actual)).toEqual([2, 1, 3, 0, 0, 0, 0, 16]);
    expect(f.byFrequency[0]!.actualMean).toBe(1);
    expect(f.byFrequency[7]!.actualMean).toBe(8);
    const e = f.members.map((m) => m.expected);
    expect(f.byFrequency[0]!.expected).toBeCloseTo(e[0]! + e[1]!, 12);
    expect(f.byFrequency[0]!.expectedMean).toBeCloseTo((e[0]! + e[1]!) / 2, 12);
    expect(f.byFrequency[7]!.expectedMean).toBeCloseTo((e[4]! + e[5]!) / 2, 12);
    // An empty bucket is there, with no mean.
    expect(f.byFrequency[3]).toEqual({
      x: 3,
      label: "3",
      members: 0,
      actual: 0,
      expected: 0,
      actualMean: null,
      expectedMean: null,
    });
  });

  it("totals every member, and the relative error of the total", () => {
    const expected = f.members.reduce((s, m) => s + m.expected, 0);
    expect(f.totals.members).toBe(6);
    expect(f.totals.actual).toBe(22);
    expect(f.totals.expected).toBeCloseTo(expected, 12);
    expect(f.totals.relativeError).toBeCloseTo((expected - 22) / 22, 12);
    expect(f.byFrequency.reduce((s, b) => s + b.members, 0)).toBe(6);
    expect(f.byFrequency.reduce((s, b) => s + b.expected, 0)).toBeCloseTo(expected, 12);
    expect(f.holdoutLength).toBe(39);
  });

  it("takes another last bucket, and no members at all", () => {
    const g = calibrationFigures(members, PAPER, 39, { maxFrequency: 2 });
    expect(g.byFrequency.map((b) => [b.label, b.members, b.actual])).toEqual([
      ["0", 2, 2],
      ["1", 1, 1],
      ["2+", 3, 19],
    ]);
    const empty = calibrationFigures([], PAPER, 10);
    expect(empty.totals).toEqual({ members: 0, actual: 0, expected: 0, relativeError: null });
    expect(empty.byFrequency).toHaveLength(8);
  });

  it("refuses impossible members and holdouts", () => {
    expect(() => calibrationFigures([member("z", 1, 5, 4, 0)], PAPER, 39)).toThrow(/0 <= tx <= T/);
    expect(() => calibrationFigures([member("z", 1.5, 1, 4, 0)], PAPER, 39)).toThrow(/integers/);
    expect(() => calibrationFigures([member("z", 1, 1, 4, -1)], PAPER, 39)).toThrow(/integers/);
    expect(() => calibrationFigures(members, PAPER, 0)).toThrow(/holdout length/);
    expect(() => calibrationFigures(members, PAPER, 39, { maxFrequency: -1 })).toThrow(/maxFrequency/);
  });
});

const purchase = (id: string, iso: string): PurchaseEvent => ({
  type: "purchase",
  eventId: `e-${id}`,
  orderId: `o-${id}`,
  eventTime: Date.parse(iso),
  amountMinor: 1000,
});

describe("the holdout window (calibration end, holdout end]", () => {
  const state = applyEvents(createMemberState(), [
    purchase("1", "1997-01-10T10:00:00Z"),
    purchase("2", "1997-09-30T23:00:00Z"), // the calibration's last day: calibration
    purchase("3", "1997-10-01T00:00:00Z"), // first holdout day
    purchase("4", "1997-10-01T18:00:00Z"), // same day: one purchase day
    purchase("5", "1998-06-30T12:00:00Z"), // last holdout day
    purchase("6", "1998-07-01T00:00:00Z"), // after the holdout
  ]);

  it("counts purchase days after the calibration end up to and including the holdout end", () => {
    expect(holdoutPurchaseDays(state, "1997-09-30", "1998-06-30")).toBe(2);
    expect(holdoutPurchaseDays(state, "1997-09-29", "1998-07-01")).toBe(4);
  });

  it("the cohort has fitAsOf's features: days up to and including calibration end, T to its start", () => {
    const later = applyEvents(createMemberState(), [purchase("9", "1997-12-01T00:00:00Z")]);
    const none = createMemberState();
    const c = cohortOf(
      [
        { memberId: "m", state },
        { memberId: "late", state: later },
        { memberId: "empty", state: none },
      ],
      { calibrationEnd: "1997-09-30", holdoutEnd: "1998-06-30" },
      DEFAULT_SETTINGS,
    );
    expect(c.laterMembers).toBe(1);
    expect(c.members).toEqual([{ memberId: "m", x: 1, tx: 263 / 7, T: 263 / 7, actual: 2 }]);
    expect(c.summaries).toHaveLength(1);
    expect(c.summaries[0]).toMatchObject({
      x: 1,
      firstDay: Date.UTC(1997, 0, 10),
      lastDay: Date.UTC(1997, 8, 30),
    });
  });

  it("cuts at the members' local midnight in another zone", () => {
    const ny = applyEvents(createMemberState("America/New_York"), [
      purchase("1", "1997-01-10T15:00:00Z"),
      purchase("2", "1997-10-01T02:00:00Z"), // 22:00 on 30 September in New York: calibration
      purchase("3", "1997-10-01T05:00:00Z"), // 01:00 on 1 October in New York: holdout
    ]);
    const c = cohortOf(
      [{ memberId: "n", state: ny }],
      { calibrationEnd: "1997-09-30", holdoutEnd: "1997-10-31" },
      DEFAULT_SETTINGS,
    );
    expect(c.members).toEqual([{ memberId: "n", x: 1, tx: 263 / 7, T: 263 / 7, actual: 1 }]);
  });

  it("instantOfWallClock finds the instant a zone's clock reads a given midnight", () => {
    const day = Date.UTC(1997, 8, 30);
    expect(instantOfWallClock(day, "UTC")).toBe(day);
    for (const zone of ["America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
      expect(wallClockMs(instantOfWallClock(day, zone), zone)).toBe(day);
    // Chile's clocks skipped midnight on 2023-09-03 (00:00 -> 01:00): the first instant after it.
    const gap = Date.UTC(2023, 8, 3);
    expect(wallClockMs(instantOfWallClock(gap, "America/Santiago"), "America/Santiago")).toBe(
      gap + 3_600_000,
    );
  });

  it("checks the days: real dates, holdout after calibration", () => {
    expect(checkPeriods({ calibrationEnd: "1997-09-30", holdoutEnd: "1998-06-30" })).toEqual({
      calibrationEnd: Date.UTC(1997, 8, 30),
      holdoutEnd: Date.UTC(1997, 8, 30) + 273 * DAY_MS,
    });
    const fails = (c: string, h: string) => {
      try {
        checkPeriods({ calibrationEnd: c, holdoutEnd: h });
      } catch (err) {
        return err as CalibrationRequestError;
      }
      throw new Error("accepted");
    };
    expect(fails("1997-02-30", "1998-06-30")).toMatchObject({ field: "calibrationEnd", retriable: false });
    expect(fails("1997-09-30", "98-06-30")).toMatchObject({ field: "holdoutEnd" });
    expect(fails("1997-09-30", "1997-09-30").message).toMatch(/must come after/);
    expect(fails("1997-09-30", "1997-09-29")).toBeInstanceOf(CalibrationRequestError);
  });
});
