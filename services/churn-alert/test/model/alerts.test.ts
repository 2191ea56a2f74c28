import { describe, expect, it } from "vitest";
import {
  type AlertConfig,
  type AlertInput,
  type AlertState,
  DAY_MS,
  INITIAL_ALERT_STATE,
  decideAlert,
} from "../../src/model/index.ts";

const t0 = Date.UTC(2024, 0, 1);
const config: AlertConfig = {
  pAliveThreshold: 0.3,
  horizonDays: 90,
  highValueMinor: 50_000,
  lowValueMinor: 2_000,
};

const input = (dayOffset: number, lastPurchaseDay: number, pAlive: number, value = 10_000): AlertInput => ({
  now: t0 + dayOffset * DAY_MS,
  lastPurchaseAt: t0 + lastPurchaseDay * DAY_MS,
  purchaseIntervalDays: 35,
  score: { pAlive, expectedPurchases: 0.4213, expectedValueMinor: value, segment: "about-to-sleep" },
});

describe("alert episodes", () => {
  it("alerts once, stays silent while disarmed, re-arms on a purchase and alerts again", () => {
    let state: AlertState = INITIAL_ALERT_STATE;
    const emitted: number[] = [];
    const step = (i: AlertInput): void => {
      const d = decideAlert(state, i, config);
      state = d.state;
      if (d.alert) emitted.push(Math.round((d.alert.at - t0) / DAY_MS));
    };
    step(input(10, 0, 0.9)); // healthy
    step(input(200, 0, 0.25)); // first alert
    expect(state.armed).toBe(false);
    step(input(210, 0, 0.2)); // still low: disarmed, silent
    step(input(300, 0, 0.05));
    step(input(310, 305, 0.95)); // bought again: re-armed, healthy
    expect(state.armed).toBe(true);
    step(input(600, 305, 0.1)); // second episode
    expect(emitted).toEqual([200, 600]);
    expect(state.lastAlertAt).toBe(t0 + 600 * DAY_MS);
    expect(state.lastPurchaseAt).toBe(t0 + 305 * DAY_MS);
  });

  it("does not re-arm on a late-arriving older purchase", () => {
    const first = decideAlert(INITIAL_ALERT_STATE, input(200, 20, 0.2), config);
    expect(first.alert).not.toBeNull();
    const late = decideAlert(first.state, input(210, 10, 0.2), config);
    expect(late.alert).toBeNull();
    expect(late.state.lastPurchaseAt).toBe(t0 + 20 * DAY_MS);
  });

  it("needs a purchase and respects the minimum expected value", () => {
    const none = decideAlert(INITIAL_ALERT_STATE, { ...input(10, 0, 0.1), lastPurchaseAt: null }, config);
    expect(none.alert).toBeNull();
    const small = decideAlert(INITIAL_ALERT_STATE, input(200, 0, 0.1, 500), {
      ...config,
      minExpectedValueMinor: 1_000,
    });
    expect(small.alert).toBeNull();
    expect(small.state.armed).toBe(true);
    expect(decideAlert(INITIAL_ALERT_STATE, input(200, 0, 0.3), config).alert).toBeNull();
  });

  it("writes a deterministic payload with the reason in words", () => {
    const a = decideAlert(INITIAL_ALERT_STATE, input(212, 0, 0.1834), config);
    const b = decideAlert(INITIAL_ALERT_STATE, input(212, 0, 0.1834), config);
    expect(a).toEqual(b);
    expect(a.alert?.reason).toBe(
      "P(alive) 0.18 below 0.30 after 212 days without a purchase; used to buy every ~35 days; " +
        "expects 0.42 purchases in the next 90 days",
    );
    expect(a.alert?.daysSinceLastPurchase).toBe(212);
    expect(a.alert?.actionLevel).toBe("at-risk");
    expect(a.alert?.horizonDays).toBe(90);
    // A value that would print as the threshold keeps more digits.
    const edge = decideAlert(INITIAL_ALERT_STATE, input(212, 0, 0.2996), config);
    expect(edge.alert?.reason.startsWith("P(alive) 0.2996 below 0.30")).toBe(true);
    const single = decideAlert(
      INITIAL_ALERT_STATE,
      { ...input(40, 0, 0.2), purchaseIntervalDays: null },
      config,
    );
    expect(single.alert?.reason).toContain("no repeat purchase yet");
  });

  it("grades the action level by value and segment", () => {
    const level = (value: number, segment: AlertInput["score"]["segment"]) =>
      decideAlert(
        INITIAL_ALERT_STATE,
        { ...input(200, 0, 0.1), score: { ...input(200, 0, 0.1).score, expectedValueMinor: value, segment } },
        config,
      ).alert?.actionLevel;
    expect(level(60_000, "about-to-sleep")).toBe("high-value-at-risk");
    expect(level(100, "champions")).toBe("high-value-at-risk");
    expect(level(10_000, "at-risk")).toBe("at-risk");
    expect(level(1_000, "at-risk")).toBe("low-value-at-risk");
    expect(level(10_000, "hibernating")).toBe("low-value-at-risk");
  });
});
