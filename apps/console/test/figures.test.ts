// The text of the dashboard's, churn page's and member page's figures (src/figures.ts): money in
// minor units, running totals, and each caption's figures, against hand-computed values.
import { describe, expect, it } from "vitest";
import {
  budgetCaption,
  calibrationCaption,
  cumulative,
  flowCaption,
  liabilityCaption,
  money,
  progressText,
  segmentsCaption,
  winbackCaption,
} from "../src/figures.ts";

const day = (d: string, over: Partial<Record<string, number>>) => ({
  day: d,
  issued: 0,
  reversed: 0,
  redeemed: 0,
  expired: 0,
  adjusted: 0,
  outstanding: 0,
  liabilityMinor: 0,
  ...over,
});

describe("money and flow", () => {
  it("minor units with the currency's exponent", () => {
    expect(money(123_456, "USD", 2)).toBe("USD 1,234.56");
    expect(money(5, "USD", 2)).toBe("USD 0.05");
    expect(money(-250, "EUR", 2)).toBe("-EUR 2.50");
    expect(money(1_234, "JPY", 0)).toBe("JPY 1,234");
  });

  it("running totals and the captions' figures", () => {
    const days = [
      day("1997-03-04", { issued: 150, outstanding: 350, liabilityMinor: 175 }),
      day("1997-03-05", { redeemed: 30, outstanding: 320, liabilityMinor: 160 }),
      day("1997-03-06", { issued: 10, expired: 20, outstanding: 310, liabilityMinor: 155 }),
    ];
    expect(cumulative(days)).toEqual({ issued: [150, 150, 160], redeemed: [0, 30, 30], expired: [0, 0, 20] });
    const flow = { to: "1997-03-06", currency: "USD", currencyExponent: 2, pointValueMinor: "0.5", days };
    expect(liabilityCaption(flow)).toBe(
      "Outstanding points liability at each day's end, 3 days up to 1997-03-06 (event time): 310 points, USD 1.55 at 0.5 minor units per point.",
    );
    expect(flowCaption(flow)).toBe(
      "Points issued, redeemed and expired, cumulative over the 3 days up to 1997-03-06: 160 issued, 30 redeemed, 20 expired.",
    );
    expect(liabilityCaption({ ...flow, days: [] })).toBe("No points movement read yet.");
  });
});

describe("budget, win-back, segments, calibration, tier progress", () => {
  it("captions", () => {
    expect(
      budgetCaption({
        ruleSetId: "standard",
        ruleId: "jazz-double",
        name: "Jazz",
        budget: 5_000_000,
        used: 1_250_000,
        remaining: 3_750_000,
        weeks: [],
      }),
    ).toBe("Jazz (standard/jazz-double): 1,250,000 of 5,000,000 points used (25.0 %), 3,750,000 left.");
    expect(
      winbackCaption({
        to: "1997-03-03",
        alerted: 8,
        converted: 2,
        weeks: [
          { week: "1997-02-24", alerted: 5, converted: 2, rate: 0.4 },
          { week: "1997-03-03", alerted: 3, converted: 0, rate: 0 },
        ],
      }),
    ).toBe(
      "Win-back conversion per week of alerts, 2 weeks up to 1997-03-03: 8 members alerted, 2 purchased again after the alert (25.0 %).",
    );
    expect(
      segmentsCaption({
        members: 3,
        segments: [
          { segment: "at-risk", members: 2 },
          { segment: "lost", members: 1 },
        ],
        actionLevels: [],
      }),
    ).toBe("Members per segment of their latest alert (3 members alerted): at-risk 2, lost 1.");
    expect(segmentsCaption({ members: 0, segments: [], actionLevels: [] })).toBe("No churn alert read yet.");
    expect(
      calibrationCaption({
        calibrationEnd: "1997-09-30",
        holdoutEnd: "1998-06-30",
        totals: { members: 1_000, actual: 400, expected: 380.04, relativeError: -0.0499 },
        byFrequency: [],
      }),
    ).toBe(
      "Repeat purchases in the holdout (1997-09-30 to 1998-06-30) per member, predicted against actual, by repeat purchases in calibration: 1,000 members, 400 actual, 380.0 predicted (error -5.0 %).",
    );
    const p = {
      tier: "silver",
      metric: "spend",
      value: 600,
      asOf: "1997-03-04T15:00:00.000Z",
      next: { tier: "gold", threshold: 1_500, remaining: 900, progress: 0.4 },
    };
    expect(progressText(p)).toBe("silver: spend 600 of 1,500 for gold (40 %), 900 to go.");
    expect(progressText({ ...p, tier: "gold", value: 1_600, next: null })).toBe(
      "gold: the highest tier seen on upgrades (spend 1,600).",
    );
  });
});
