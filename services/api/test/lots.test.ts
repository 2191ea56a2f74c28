import { describe, expect, it } from "vitest";
import { DAY_MS, addMonthsUtc, expiringWithin } from "../src/domain/lots.ts";

const T0 = Date.UTC(2024, 0, 1);
const lot = (lotId: string, remaining: number, days: number) => ({
  lotId,
  remaining,
  expiresAt: T0 + days * DAY_MS,
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
