// The acceptance decision of a population fit (pure), the fit guards' configuration, and the
// refit grid's anchor.

import { describe, expect, it } from "vitest";
import {
  DEFAULT_SETTINGS,
  MIN_HISTORY_DAYS,
  MIN_REPEAT_BUYERS,
  churnConfigSchema,
} from "../../src/config.ts";
import { nextGridAfter } from "../../src/engine/grid.ts";
import { calibrationEndFor, judgeFit, parametersAtCap } from "../../src/engine/refit.ts";
import { DAY_MS } from "../../src/model/index.ts";

const PAPER = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
const ENOUGH = { repeatBuyers: 5000, historyDays: 180 };
const guards = { minRepeatBuyers: 200, minHistoryDays: 56 };

describe("judgeFit", () => {
  it("accepts a converged interior fit of a population with enough repeat buyers and history", () => {
    expect(judgeFit({ params: PAPER, converged: true }, ENOUGH, guards)).toEqual({
      accepted: true,
      rejectedReason: null,
    });
    // The thresholds are inclusive.
    expect(
      judgeFit({ params: PAPER, converged: true }, { repeatBuyers: 200, historyDays: 56 }, guards).accepted,
    ).toBe(true);
  });

  it("rejects a fit that did not converge", () => {
    expect(judgeFit({ params: PAPER, converged: false }, ENOUGH, guards)).toEqual({
      accepted: false,
      rejectedReason: "not converged",
    });
  });

  it("rejects the degenerate early fit of a CDNOW master replay although it reports converged", () => {
    const v = judgeFit(
      { params: { r: 0.51, alpha: 8.7, a: 3.6e-7, b: 8.45e5 }, converged: true },
      { repeatBuyers: 661, historyDays: 29 },
      guards,
    );
    expect(v).toEqual({
      accepted: false,
      rejectedReason: "at the optimiser's cap: a = 3.6e-7, b = 845000; 29 days of history < 56",
    });
  });

  it("rejects too few repeat buyers or too little history, naming each", () => {
    const fit = { params: PAPER, converged: true };
    expect(judgeFit(fit, { repeatBuyers: 199, historyDays: 180 }, guards).rejectedReason).toBe(
      "199 repeat buyers < 200",
    );
    expect(judgeFit(fit, { repeatBuyers: 5000, historyDays: 55 }, guards).rejectedReason).toBe(
      "55 days of history < 56",
    );
    expect(
      judgeFit({ params: PAPER, converged: false }, { repeatBuyers: 3, historyDays: 8 }, guards)
        .rejectedReason,
    ).toBe("not converged; 3 repeat buyers < 200; 8 days of history < 56");
  });

  it("with both thresholds at 0 only convergence and the caps decide", () => {
    const none = { minRepeatBuyers: 0, minHistoryDays: 0 };
    expect(
      judgeFit({ params: PAPER, converged: true }, { repeatBuyers: 0, historyDays: 1 }, none).accepted,
    ).toBe(true);
  });
});

describe("parametersAtCap", () => {
  it("flags parameters within a factor 10 of the optimiser's reach e^±15, and non-finite ones", () => {
    expect(parametersAtCap(PAPER)).toEqual([]);
    expect(parametersAtCap({ r: 0.01, alpha: 300, a: 1e-4, b: 1e5 })).toEqual([]);
    expect(parametersAtCap({ r: 1, alpha: 1, a: 3.6e-7, b: 8.45e5 })).toEqual(["a", "b"]);
    expect(parametersAtCap({ r: 1, alpha: 1, a: 2.9e-6, b: 1 })).toEqual(["a"]);
    expect(parametersAtCap({ r: Number.NaN, alpha: Number.POSITIVE_INFINITY, a: 0, b: 1 })).toEqual([
      "r",
      "alpha",
      "a",
    ]);
  });
});

describe("fit guard configuration", () => {
  const shape = churnConfigSchema.shape;
  it("defaults to 200 repeat buyers and 56 days of history", () => {
    expect(MIN_REPEAT_BUYERS).toBe(200);
    expect(MIN_HISTORY_DAYS).toBe(56);
    expect(shape.CHURN_MIN_REPEAT_BUYERS.parse(undefined)).toBe(200);
    expect(shape.CHURN_MIN_HISTORY_DAYS.parse(undefined)).toBe(56);
    expect(DEFAULT_SETTINGS.minRepeatBuyers).toBe(200);
    expect(DEFAULT_SETTINGS.minHistoryDays).toBe(56);
  });
  it("reads them from the environment's strings and refuses negative ones", () => {
    expect(shape.CHURN_MIN_REPEAT_BUYERS.parse("0")).toBe(0);
    expect(shape.CHURN_MIN_HISTORY_DAYS.parse("90")).toBe(90);
    expect(() => shape.CHURN_MIN_REPEAT_BUYERS.parse("-1")).toThrow();
    expect(() => shape.CHURN_MIN_HISTORY_DAYS.parse("1.5")).toThrow();
  });
});

describe("the refit grid", () => {
  const week = 7 * DAY_MS;
  const day = (s: string) => Date.parse(`${s}T00:00:00Z`);

  it("by default falls every 7 days from 1970-01-01, a Thursday", () => {
    const anchor = churnConfigSchema.shape.CHURN_REFIT_ANCHOR.parse(undefined);
    expect(anchor).toBe(0);
    expect(new Date(anchor).getUTCDay()).toBe(4);
    const t = nextGridAfter(day("1997-09-28"), week, anchor);
    expect(new Date(t).toISOString()).toBe("1997-10-02T00:00:00.000Z");
    expect(new Date(t).getUTCDay()).toBe(4);
  });

  it("anchored at 1997-10-01, refits at 1997-10-01 with the paper's calibration end 1997-09-30", () => {
    const anchor = churnConfigSchema.shape.CHURN_REFIT_ANCHOR.parse("1997-10-01");
    expect(anchor).toBe(day("1997-10-01"));
    // From the first CDNOW purchase, stepping by the cadence reaches the anchor exactly.
    let t = nextGridAfter(day("1997-01-01"), week, anchor);
    expect(new Date(t).toISOString()).toBe("1997-01-08T00:00:00.000Z");
    while (t < anchor) t += week;
    expect(t).toBe(anchor);
    expect(calibrationEndFor(t, "UTC")).toBe(day("1997-09-30"));
    // A point on the grid is not "after" itself; the grid goes on past the anchor.
    expect(nextGridAfter(anchor, week, anchor)).toBe(day("1997-10-08"));
    expect(nextGridAfter(anchor - 1, week, anchor)).toBe(anchor);
    // Any cadence: every point is anchor + k·step, also before the anchor.
    for (const step of [1, 3, 14, 30].map((d) => d * DAY_MS))
      for (const at of [day("1997-01-01") + 123_456, day("1998-06-30")])
        expect((((nextGridAfter(at, step, anchor) - anchor) % step) + step) % step).toBe(0);
  });
});
