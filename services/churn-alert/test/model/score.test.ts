import { describe, expect, it } from "vitest";
import {
  type AlertConfig,
  DAY_MS,
  INITIAL_ALERT_STATE,
  ModelNumericError,
  type PurchaseEvent,
  applyEvents,
  createMemberState,
  decideAlert,
  expectedAverageValue,
  expectedPurchases,
  memberFeatures,
  probabilityAlive,
  scoreMember,
  tryScoreMember,
} from "../../src/model/index.ts";

const bg = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
const gg = { p: 6.25, q: 3.74, gamma: 1544 };
const buy = (n: number, day: number, cents: number): PurchaseEvent => ({
  type: "purchase",
  eventId: `e${n}`,
  orderId: `o${n}`,
  eventTime: Date.UTC(2024, 0, 1) + day * DAY_MS,
  amountMinor: cents,
});

describe("scoreMember", () => {
  // Bought every ~35 days for five months, then stopped.
  const state = applyEvents(createMemberState(), [
    buy(1, 0, 3000),
    buy(2, 35, 2500),
    buy(3, 70, 3500),
    buy(4, 105, 3000),
    buy(5, 140, 2000),
  ]);

  it("combines the models in the features' time unit", () => {
    const asOf = Date.UTC(2024, 0, 1) + 352 * DAY_MS;
    const f = memberFeatures(state, asOf);
    if (f === null) throw new Error("no features");
    const s = scoreMember(f, bg, gg, { horizonDays: 91 });
    expect(f.x).toBe(4);
    expect(s.pAlive).toBe(probabilityAlive(bg, 4, 20, 352 / 7));
    expect(s.expectedPurchases).toBeCloseTo(expectedPurchases(bg, 13, 4, 20, 352 / 7), 12);
    expect(s.expectedValueMinor).toBe(Math.round(s.expectedPurchases * expectedAverageValue(gg, 4, 2750)));
    expect(s.purchaseIntervalDays).toBe(35);
    expect(scoreMember(f, bg, null, { horizonDays: 91 }).expectedValueMinor).toBe(0);
  });

  it("feeds the alert logic end to end", () => {
    const config: AlertConfig = { pAliveThreshold: 0.3, horizonDays: 90 };
    const at = (day: number) => {
      const now = Date.UTC(2024, 0, 1) + day * DAY_MS;
      const f = memberFeatures(state, now);
      if (f === null) throw new Error("no features");
      const s = scoreMember(f, bg, gg, { horizonDays: 90 });
      return decideAlert(
        INITIAL_ALERT_STATE,
        {
          now,
          lastPurchaseAt: f.lastPurchaseAt,
          purchaseIntervalDays: s.purchaseIntervalDays,
          score: { ...s, segment: "at-risk" },
        },
        config,
      );
    };
    expect(at(150).alert).toBeNull();
    const late = at(352).alert;
    expect(late?.reason).toMatch(
      /^P\(alive\) 0\.\d\d below 0\.30 after 212 days without a purchase; used to buy every ~35 days; /,
    );
  });
});

describe("tryScoreMember", () => {
  const state = applyEvents(createMemberState(), [buy(1, 0, 3000), buy(2, 20, 2500)]);
  const f = memberFeatures(state, Date.UTC(2024, 0, 1) + 30 * DAY_MS);

  it("is scoreMember's score where the model can be evaluated", () => {
    if (f === null) throw new Error("no features");
    expect(tryScoreMember(f, bg, gg, { horizonDays: 91 })).toEqual({
      ok: true,
      score: scoreMember(f, bg, gg, { horizonDays: 91 }),
    });
  });

  it("returns the typed error where scoreMember throws it", () => {
    if (f === null) throw new Error("no features");
    const broken = { ...bg, r: Number.NaN };
    expect(() => scoreMember(f, broken, gg, { horizonDays: 91 })).toThrow(ModelNumericError);
    const res = tryScoreMember(f, broken, gg, { horizonDays: 91 });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error.kind).toBe("domain");
    expect(res.error.retriable).toBe(false);
  });

  it("reports other failures as `unexpected`, with the error as cause", () => {
    if (f === null) throw new Error("no features");
    // q <= 1: the spend model's mean is undefined (RangeError from gamma-gamma).
    const res = tryScoreMember(f, bg, { ...gg, q: 0.5 }, { horizonDays: 91 });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error.kind).toBe("unexpected");
    expect(res.error.cause).toBeInstanceOf(RangeError);
  });
});
