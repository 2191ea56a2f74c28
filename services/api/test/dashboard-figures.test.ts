// The dashboard's pure figures (src/dashboard-figures.ts) against hand-computed answers: what a
// record adds to the read model, points flow and liability, budget burn, win-back conversion,
// the churn fit's time and a member's tier progress.
import type { ChurnAlert, PointsMovement, TierChanged } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import {
  alertFacts,
  budgetBurnFrom,
  budgetedRules,
  fitMadeAt,
  liabilityMinor,
  pointsFacts,
  pointsFlowFrom,
  tierFacts,
  tierProgressFrom,
  winbackFrom,
} from "../src/dashboard-figures.ts";
import type { PointsDayRow } from "../src/store/dashboard.ts";

const T = Date.UTC(1997, 2, 4, 15); // Tuesday 1997-03-04
const USD = { currency: "USD", currencyExponent: 2, pointValueMinor: "1" };

const movement = (over: Partial<PointsMovement>): PointsMovement => ({
  eventId: "e1",
  memberId: "m1",
  kind: "EARNED",
  points: 42,
  balanceAfter: 42,
  ruleId: "base-points",
  ruleVersion: 1,
  ruleSetVersion: 1,
  sourceEventId: "o1",
  orderId: "o1",
  reason: null,
  eventTime: T,
  lotExpiresAt: null,
  ruleSetId: null,
  lots: [],
  ...over,
});

const row = (day: string, kind: string, points: number, ruleId = ""): PointsDayRow => ({
  day,
  kind,
  ruleId,
  points,
  entries: 1,
});

describe("facts of a record", () => {
  it("an earn for an order is points on its UTC day and a purchase; a redemption only points", () => {
    expect(pointsFacts(movement({}))).toEqual({
      ok: true,
      facts: [
        { type: "points", day: "1997-03-04", kind: "EARNED", ruleId: "base-points", points: 42 },
        { type: "purchase", memberId: "m1", at: T },
      ],
    });
    expect(pointsFacts(movement({ kind: "REDEEMED", points: -10, ruleId: null, orderId: null }))).toEqual({
      ok: true,
      facts: [{ type: "points", day: "1997-03-04", kind: "REDEEMED", ruleId: "", points: -10 }],
    });
    expect(pointsFacts(movement({ eventTime: Number.NaN })).ok).toBe(false);
  });

  it("an alert names its fit with the parameters it carries; a tier change its metric", () => {
    const alert = {
      eventId: "a1",
      memberId: "m1",
      eventTime: T,
      modelVersion: "bgnbd@1997-03-01T00:00:00Z",
      bgnbd: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.43 },
    } as ChurnAlert;
    expect(alertFacts(alert)).toEqual({
      ok: true,
      facts: [
        {
          type: "fit",
          modelVersion: "bgnbd@1997-03-01T00:00:00Z",
          params: { r: 0.24, alpha: 4.4, a: 0.79, b: 2.43 },
          at: T,
        },
      ],
    });
    expect(alertFacts({ ...alert, bgnbd: null })).toMatchObject({ facts: [{ params: null }] });
    const change = {
      eventId: "t1",
      memberId: "m1",
      fromTier: "base",
      toTier: "silver",
      direction: "UP",
      reason: "QUALIFIED",
      metric: "spend",
      metricValue: 600,
      threshold: 500,
      effectiveAt: T,
      evaluationDate: null,
    } as TierChanged;
    expect(tierFacts(change, "7")).toEqual({
      ok: true,
      facts: [
        {
          type: "tier",
          eventId: "t1",
          memberId: "m1",
          toTier: "silver",
          direction: "UP",
          metric: "spend",
          metricValue: 600,
          threshold: 500,
          at: T,
          offset: "7",
        },
      ],
    });
  });
});

describe("points flow and liability", () => {
  it("liability is outstanding x the decimal point value, rounded half away from zero", () => {
    expect(liabilityMinor(250, "1")).toBe(250);
    expect(liabilityMinor(250, "0.5")).toBe(125);
    expect(liabilityMinor(3, "0.5")).toBe(2);
    expect(liabilityMinor(-3, "0.5")).toBe(-2);
    expect(liabilityMinor(1_000, "1.25")).toBe(1_250);
  });

  it("per day in the window, zero days included, outstanding counting days before it", () => {
    const rows = [
      row("1997-03-01", "EARNED", 100, "base-points"),
      row("1997-03-01", "EARNED", 50, "first-purchase"),
      row("1997-03-03", "REDEEMED", -30),
      row("1997-03-04", "EXPIRED", -20),
      row("1997-03-04", "REVERSED", -10, "base-points"),
      row("1997-03-04", "ADJUSTED", 5),
    ];
    const flow = pointsFlowFrom(rows, 3, { ...USD, pointValueMinor: "2" });
    expect(flow).toEqual({
      currency: "USD",
      currencyExponent: 2,
      pointValueMinor: "2",
      to: "1997-03-04",
      days: [
        {
          day: "1997-03-02",
          issued: 0,
          reversed: 0,
          redeemed: 0,
          expired: 0,
          adjusted: 0,
          outstanding: 150,
          liabilityMinor: 300,
        },
        {
          day: "1997-03-03",
          issued: 0,
          reversed: 0,
          redeemed: 30,
          expired: 0,
          adjusted: 0,
          outstanding: 120,
          liabilityMinor: 240,
        },
        {
          day: "1997-03-04",
          issued: 0,
          reversed: 10,
          redeemed: 0,
          expired: 20,
          adjusted: 5,
          outstanding: 95,
          liabilityMinor: 190,
        },
      ],
    });
    expect(pointsFlowFrom([], 90, USD)).toEqual({ ...USD, to: null, days: [] });
  });
});

describe("campaign budget burn", () => {
  const sets = [
    {
      ruleSetId: "standard",
      version: 3,
      ruleSet: {
        rules: [
          { id: "base-points", name: "Base" },
          { id: "jazz-double", name: "Jazz", budget: { totalPoints: 1_000 } },
          { id: "promo", budget: { totalPoints: 500 } },
        ],
      },
    },
  ];

  it("only rules with a budget, sorted", () => {
    expect(budgetedRules(sets)).toEqual([
      { ruleSetId: "standard", ruleSetVersion: 3, ruleId: "jazz-double", name: "Jazz", budget: 1_000 },
      { ruleSetId: "standard", ruleSetVersion: 3, ruleId: "promo", name: null, budget: 500 },
    ]);
  });

  it("awards net of reversals, cumulative per week, earlier weeks counted in the first", () => {
    const rows = [
      row("1997-02-18", "EARNED", 100, "jazz-double"), // week of 02-17, before the window
      row("1997-02-25", "EARNED", 200, "jazz-double"), // week of 02-24
      row("1997-03-04", "EARNED", 300, "jazz-double"), // week of 03-03
      row("1997-03-05", "REVERSED", -50, "jazz-double"),
    ];
    const burn = budgetBurnFrom(budgetedRules(sets), rows, 2);
    expect(burn.to).toBe("1997-03-05");
    expect(burn.rules[0]).toMatchObject({
      ruleId: "jazz-double",
      budget: 1_000,
      used: 550,
      remaining: 450,
      weeks: [
        { week: "1997-02-24", used: 300 },
        { week: "1997-03-03", used: 550 },
      ],
    });
    expect(burn.rules[1]).toMatchObject({ ruleId: "promo", used: 0, remaining: 500 });
    expect(burn.rules[1]?.weeks).toEqual([
      { week: "1997-02-24", used: 0 },
      { week: "1997-03-03", used: 0 },
    ]);
  });
});

describe("win-back conversion", () => {
  it("quiet weeks as zeros, totals over the window, the rate per week", () => {
    const w = winbackFrom(
      [
        { week: "1997-02-17", alerted: 9, converted: 9 },
        { week: "1997-02-24", alerted: 4, converted: 1 },
        { week: "1997-03-10", alerted: 2, converted: 2 },
      ],
      3,
    );
    expect(w).toEqual({
      to: "1997-03-10",
      alerted: 6,
      converted: 3,
      weeks: [
        { week: "1997-02-24", alerted: 4, converted: 1, rate: 0.25 },
        { week: "1997-03-03", alerted: 0, converted: 0, rate: null },
        { week: "1997-03-10", alerted: 2, converted: 2, rate: 1 },
      ],
    });
    expect(winbackFrom([], 26)).toEqual({ to: null, alerted: 0, converted: 0, weeks: [] });
  });
});

describe("churn fit and tier progress", () => {
  it("the fit's time from its version", () => {
    expect(fitMadeAt("bgnbd@1997-09-30T00:00:00Z")).toBe("1997-09-30T00:00:00.000Z");
    expect(fitMadeAt("bgnbd-on-demand@1998-01-02T03:04:05.678Z")).toBe("1998-01-02T03:04:05.678Z");
    expect(fitMadeAt("fit-console")).toBeNull();
  });

  const ladder = [
    { tier: "silver", metric: "spend", threshold: 500 },
    { tier: "gold", metric: "spend", threshold: 1_500 },
    { tier: "platinum", metric: "spend", threshold: 5_000 },
    { tier: "vip", metric: "orders", threshold: 3 },
  ];
  const latest = {
    toTier: "silver",
    direction: "UP",
    metric: "spend",
    metricValue: 900,
    threshold: 500,
    at: T,
  };

  it("the next tier on the same metric's ladder, the remainder and the fraction", () => {
    expect(tierProgressFrom(latest, ladder)).toEqual({
      tier: "silver",
      metric: "spend",
      value: 900,
      asOf: new Date(T).toISOString(),
      next: { tier: "gold", threshold: 1_500, remaining: 600, progress: 0.6 },
    });
    expect(tierProgressFrom({ ...latest, toTier: "platinum", metricValue: 6_000 }, ladder)?.next).toBeNull();
    // Down to the base tier (no upgrade names it): the lowest step is next.
    expect(
      tierProgressFrom({ ...latest, toTier: "base", direction: "DOWN", metricValue: 100 }, ladder)?.next,
    ).toEqual({ tier: "silver", threshold: 500, remaining: 400, progress: 0.2 });
    expect(tierProgressFrom(null, ladder)).toBeNull();
  });
});
