import { describe, expect, it } from "vitest";
import { DAY_MS, addMonthsUtc, allocateFifo, expiringWithin, restoration } from "../src/domain/lots.ts";

const T0 = Date.UTC(2024, 0, 1);
const lot = (lotId: string, remaining: number, days: number) => ({
  lotId,
  remaining,
  expiresAt: T0 + days * DAY_MS,
});

describe("allocateFifo", () => {
  it("takes the soonest-expiring lots first, then by lot id", () => {
    const lots = [lot("c", 50, 30), lot("b", 40, 10), lot("a", 30, 30), lot("d", 100, 5)];
    const r = allocateFifo(lots, 160, T0, 220);
    expect(r).toEqual({
      ok: true,
      takes: [
        { lotId: "d", points: 100, expiresAt: T0 + 5 * DAY_MS },
        { lotId: "b", points: 40, expiresAt: T0 + 10 * DAY_MS },
        { lotId: "a", points: 20, expiresAt: T0 + 30 * DAY_MS },
      ],
    });
  });

  it("ignores lots expired at now and empty lots", () => {
    const lots = [lot("old", 500, 0), lot("empty", 0, 1), lot("new", 10, 1)];
    expect(allocateFifo(lots, 10, T0, 510)).toEqual({
      ok: true,
      takes: [{ lotId: "new", points: 10, expiresAt: T0 + DAY_MS }],
    });
    expect(allocateFifo(lots, 11, T0, 510)).toEqual({ ok: false, available: 10 });
  });

  it("never spends beyond the balance (debt makes it lower than the lots)", () => {
    const lots = [lot("a", 100, 10)];
    expect(allocateFifo(lots, 80, T0, 70)).toEqual({ ok: false, available: 70 });
    expect(allocateFifo(lots, 70, T0, 70).ok).toBe(true);
  });

  it("refuses non-positive or fractional amounts", () => {
    expect(() => allocateFifo([], 0, T0, 0)).toThrow(RangeError);
    expect(() => allocateFifo([], 1.5, T0, 10)).toThrow(RangeError);
  });
});

describe("restoration", () => {
  it("puts back exactly what each lot gave, sorted by lot id", () => {
    expect(
      restoration([
        { lotId: "z", points: -5 },
        { lotId: "a", points: -7 },
      ]),
    ).toEqual([
      { lotId: "a", points: 7 },
      { lotId: "z", points: 5 },
    ]);
  });
  it("refuses a movement into a lot", () => {
    expect(() => restoration([{ lotId: "a", points: 3 }])).toThrow(RangeError);
  });
});

describe("expiringWithin", () => {
  it("counts cumulatively, including lots already due", () => {
    const lots = [lot("due", 1, 0), lot("a", 10, 30), lot("b", 20, 31), lot("c", 40, 90), lot("d", 80, 91)];
    expect(expiringWithin(lots, T0, [30, 60, 90])).toEqual([
      { days: 30, points: 11 },
      { days: 60, points: 31 },
      { days: 90, points: 71 },
    ]);
  });
});

describe("addMonthsUtc", () => {
  it("clamps to the end of shorter months", () => {
    expect(new Date(addMonthsUtc(Date.UTC(2024, 0, 31, 12), 1)).toISOString()).toBe(
      "2024-02-29T12:00:00.000Z",
    );
    expect(new Date(addMonthsUtc(Date.UTC(2023, 4, 15), 12)).toISOString()).toBe("2024-05-15T00:00:00.000Z");
  });
});
