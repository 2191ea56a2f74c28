import { describe, expect, it } from "vitest";
import {
  DAY_MS,
  advanceTo,
  apply,
  defaultTierConfig,
  initialState,
  metricAt,
  nextDueAt,
  stats,
  tierAt,
} from "../src/index.ts";
import type { TierConfig, TierState } from "../src/index.ts";
import { at, ev, run } from "./helpers.ts";

// Default programme: spend in cents, Silver 10_000 / Gold 25_000 / Platinum 60_000, 12 months,
// anniversary evaluation every 12 months, 30 days grace, one level down at a time.
const cfg = defaultTierConfig;

const pointsCfg: TierConfig = {
  ...defaultTierConfig,
  metric: "points",
  tiers: [
    { name: "Member", threshold: 0 },
    { name: "Silver", threshold: 100 },
    { name: "Gold", threshold: 250 },
    { name: "Platinum", threshold: 600 },
  ],
  evaluation: { mode: "calendar", period: "quarter" },
};

describe("upgrades", () => {
  it("upgrades on the qualifying event, effective at its time", () => {
    const { state, changes } = run(cfg, [
      ev("purchase", "2024-03-01T10:00:00Z", 6_000),
      ev("purchase", "2024-03-05T15:30:00Z", 5_000),
    ]);
    expect(changes).toEqual([
      {
        memberId: "m1",
        from: "Member",
        to: "Silver",
        direction: "up",
        reason: "qualified",
        metric: "spend",
        metricValue: 11_000,
        threshold: 10_000,
        effectiveAt: at("2024-03-05T15:30:00Z"),
      },
    ]);
    expect(state.tier).toBe("Silver");
  });

  it("jumps several levels at once", () => {
    const { state, changes } = run(cfg, [ev("purchase", "2024-03-01T10:00:00Z", 70_000)]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ from: "Member", to: "Platinum", threshold: 60_000 });
    expect(state.tier).toBe("Platinum");
  });

  it("counts only the configured metric", () => {
    const r = apply(initialState("m1", cfg), ev("points-earned", "2024-01-01", 1_000_000), cfg);
    expect(r.outcome).toBe("ignored-metric");
    expect(r.state.tier).toBe("Member");
    const o: TierConfig = {
      ...cfg,
      tiers: [
        { name: "Member", threshold: 0 },
        { name: "Regular", threshold: 3 },
      ],
      metric: "orders",
    };
    const { state } = run(o, [
      ev("purchase", "2024-01-01", 1),
      ev("purchase", "2024-01-02", 1),
      ev("cancellation", "2024-01-03", 1),
      ev("refund", "2024-01-04", 500), // partial refund keeps the order
      ev("purchase", "2024-01-05", 1, { orders: 2 }),
    ]);
    expect(state.windowSum).toBe(3);
    expect(state.tier).toBe("Regular");
  });
});

describe("downgrades", () => {
  const gold = () => run(cfg, [ev("purchase", "2024-03-10T12:00:00Z", 30_000)]).state;
  const E = at("2025-03-10T12:00:00Z"); // anniversary of the upgrade
  const G = E + 30 * DAY_MS;

  it("never downgrades before the evaluation date, even when the window is empty", () => {
    const s = gold();
    expect(nextDueAt(s, cfg)).toBe(E);
    const r = advanceTo(s, E - 1, cfg);
    expect(r.changes).toEqual([]);
    expect(r.state.tier).toBe("Gold");
    expect(r.state.buckets).toEqual([]); // the purchase left the window (pruned)...
    expect(r.state.windowSum).toBe(0); // ...but a window expiry alone demotes nobody
  });

  it("starts a grace period at the evaluation and downgrades one level when it expires", () => {
    let r = advanceTo(gold(), E, cfg);
    expect(r.changes).toEqual([]);
    expect(r.state.pending).toEqual({ evaluationDate: E, graceEndsAt: G });
    expect(nextDueAt(r.state, cfg)).toBe(G);

    r = advanceTo(r.state, G - 1, cfg);
    expect(r.changes).toEqual([]);
    expect(r.state.tier).toBe("Gold");

    r = advanceTo(r.state, G, cfg);
    expect(r.changes).toEqual([
      {
        memberId: "m1",
        from: "Gold",
        to: "Silver", // metric is 0, but at most one level per evaluation
        direction: "down",
        reason: "grace-expired",
        metric: "spend",
        metricValue: 0,
        threshold: 25_000,
        effectiveAt: G,
        evaluationDate: E,
      },
    ]);
    // The next evaluation is the anniversary of this change.
    const E2 = at("2026-04-09T12:00:00Z");
    expect(nextDueAt(r.state, cfg)).toBe(E2);
    r = advanceTo(r.state, E2 + 30 * DAY_MS, cfg);
    expect(r.changes.map((c) => [c.from, c.to, c.effectiveAt])).toEqual([
      ["Silver", "Member", E2 + 30 * DAY_MS],
    ]);
    expect(nextDueAt(r.state, cfg)).toBeNull(); // nothing can happen to the lowest tier by time alone
  });

  it("processes successive evaluations in one long advance", () => {
    const r = advanceTo(gold(), at("2030-01-01"), cfg);
    expect(r.changes.map((c) => `${c.from}>${c.to}`)).toEqual(["Gold>Silver", "Silver>Member"]);
  });

  it("maxLevelsDown lets an evaluation drop several levels, but not below what the member qualifies for", () => {
    const c3: TierConfig = { ...cfg, maxLevelsDown: 3 };
    const r = advanceTo(run(c3, [ev("purchase", "2024-03-10T12:00:00Z", 70_000)]).state, G, c3);
    expect(r.changes.map((c) => `${c.from}>${c.to}`)).toEqual(["Platinum>Member"]);

    // Still 12_000 in the window at the evaluation: Platinum -> Silver, not Member.
    const s = run(c3, [
      ev("purchase", "2024-03-10T12:00:00Z", 70_000),
      ev("purchase", "2025-01-05T12:00:00Z", 12_000),
    ]).state;
    const r2 = advanceTo(s, G, c3);
    expect(r2.changes.map((c) => `${c.from}>${c.to}`)).toEqual(["Platinum>Silver"]);
  });

  it("keeps the tier when the member requalifies during the grace period", () => {
    let r = advanceTo(gold(), E, cfg);
    const a = apply(r.state, ev("purchase", E + 5 * DAY_MS, 26_000), cfg);
    expect(a.changes).toEqual([]); // same tier: no upgrade, and the pending check is at grace end
    r = advanceTo(a.state, G, cfg);
    expect(r.changes).toEqual([]);
    expect(r.state.tier).toBe("Gold");
    expect(r.state.pending).toBeNull();
    expect(nextDueAt(r.state, cfg)).toBe(at("2026-03-10T12:00:00Z"));
  });

  it("upgrades during the grace period cancel it", () => {
    const r = advanceTo(gold(), E, cfg);
    const a = apply(r.state, ev("purchase", E + DAY_MS, 61_000), cfg);
    expect(a.changes.map((c) => `${c.from}>${c.to}`)).toEqual(["Gold>Platinum"]);
    expect(a.state.pending).toBeNull();
    expect(nextDueAt(a.state, cfg)).toBe(at("2026-03-11T12:00:00Z"));
  });

  it("downgrades at the evaluation itself when there is no grace", () => {
    const c0: TierConfig = { ...cfg, graceDays: 0 };
    const r = advanceTo(run(c0, [ev("purchase", "2024-03-10T12:00:00Z", 30_000)]).state, E, c0);
    expect(r.changes).toHaveLength(1);
    expect(r.changes[0]).toMatchObject({
      reason: "evaluation",
      effectiveAt: E,
      evaluationDate: E,
      to: "Silver",
    });
  });

  it("an event first runs the evaluations due before it", () => {
    const r = apply(gold(), ev("purchase", G + DAY_MS, 70_000), cfg);
    expect(r.changes.map((c) => [c.from, c.to, c.reason, c.effectiveAt])).toEqual([
      ["Gold", "Silver", "grace-expired", G],
      ["Silver", "Platinum", "qualified", G + DAY_MS],
    ]);
  });

  it("an evaluation due exactly at an event's time sees the data before the event", () => {
    const c0: TierConfig = { ...cfg, graceDays: 0 };
    const s = run(c0, [ev("purchase", "2024-03-10T12:00:00Z", 30_000)]).state;
    const r = apply(s, ev("purchase", E, 26_000), c0);
    expect(r.changes.map((c) => `${c.from}>${c.to}`)).toEqual(["Gold>Silver", "Silver>Gold"]);
  });
});

describe("reversals", () => {
  it("points-reversed lowers the metric but only demotes at the next evaluation", () => {
    const s = run(pointsCfg, [
      ev("points-earned", "2024-01-10", 300),
      ev("purchase", "2024-01-10", 1_000_000), // purchases do not count in a points programme
    ]).state;
    expect(s.tier).toBe("Gold");
    const r = apply(s, ev("points-reversed", "2024-02-01", 100), pointsCfg);
    expect(r.changes).toEqual([]);
    expect(r.state.tier).toBe("Gold");
    expect(metricAt(r.state, pointsCfg)).toBe(200);
    expect(tierAt(r.state, at("2024-02-01"))).toBe("Gold"); // nothing retroactive
    expect(nextDueAt(r.state, pointsCfg)).toBe(at("2024-04-01")); // quarter start

    const end = advanceTo(r.state, at("2024-05-01"), pointsCfg);
    expect(end.changes).toEqual([
      expect.objectContaining({
        from: "Gold",
        to: "Silver",
        reason: "grace-expired",
        metricValue: 200,
        threshold: 250,
        evaluationDate: at("2024-04-01"),
        effectiveAt: at("2024-05-01"),
      }),
    ]);
    // Control: without the reversal the member keeps Gold at that evaluation.
    expect(advanceTo(s, at("2024-05-01"), pointsCfg).changes).toEqual([]);
  });

  it("a refund is booked against the original purchase's day and leaves the window with it", () => {
    const s = run(cfg, [ev("purchase", "2024-01-10T09:00:00Z", 30_000)]).state;
    const r = apply(
      s,
      ev("refund", "2024-06-01T09:00:00Z", 10_000, { reversesEventTime: at("2024-01-10T09:00:00Z") }),
      cfg,
    );
    expect(r.changes).toEqual([]);
    expect(r.state.tier).toBe("Gold");
    expect(r.state.buckets).toEqual([[Math.floor(at("2024-01-10") / DAY_MS), 20_000]]);
    // Refunding a purchase that already left the window changes nothing.
    const late = apply(
      r.state,
      ev("refund", "2025-02-01", 5_000, { reversesEventTime: at("2024-01-01T09:00:00Z") }),
      cfg,
    );
    expect(late.outcome).toBe("outside-window");
  });

  it("a refund without a reference is booked on its own day", () => {
    const s = run(cfg, [ev("purchase", "2024-01-10", 30_000), ev("refund", "2024-06-01", 10_000)]).state;
    expect(s.buckets.map((b) => b[1])).toEqual([30_000, -10_000]);
    expect(s.windowSum).toBe(20_000);
    expect(s.tier).toBe("Gold");
  });
});

describe("time-driven window expiry", () => {
  it("prunes buckets that leave the window as time advances, keeping the running sum", () => {
    const s = run(cfg, [
      ev("purchase", "2024-01-10", 1_000),
      ev("purchase", "2024-02-10", 2_000),
      ev("purchase", "2024-03-10", 4_000),
    ]).state;
    expect(s.buckets).toHaveLength(3);
    let r = advanceTo(s, at("2025-01-10T23:59:59Z"), cfg); // Jan 10 2024 is 12 months ago: left the window
    expect(r.state.buckets.map((b) => b[1])).toEqual([2_000, 4_000]);
    expect(r.state.windowSum).toBe(6_000);
    r = advanceTo(r.state, at("2025-03-10"), cfg);
    expect(r.state.buckets).toEqual([]);
    expect(r.state.windowSum).toBe(0);
    expect(metricAt(s, cfg, at("2025-02-15"))).toBe(4_000); // projection without mutating
  });

  it("supports a window in days", () => {
    const c: TierConfig = { ...cfg, window: { unit: "days", length: 7 } };
    const s = run(c, [
      ev("purchase", "2024-01-01T23:00:00Z", 1_000),
      ev("purchase", "2024-01-07", 2_000),
    ]).state;
    expect(advanceTo(s, at("2024-01-07T23:59:59Z"), c).state.windowSum).toBe(3_000);
    expect(advanceTo(s, at("2024-01-08"), c).state.windowSum).toBe(2_000);
  });
});

describe("evaluation modes", () => {
  const up = (c: TierConfig, time: string): TierState => run(c, [ev("purchase", time, 30_000)]).state;

  it("anniversary: every periodMonths after the last change, without month-end drift", () => {
    expect(nextDueAt(up(cfg, "2024-03-10T12:00:00Z"), cfg)).toBe(at("2025-03-10T12:00:00Z"));
    const monthly: TierConfig = { ...cfg, evaluation: { mode: "anniversary", periodMonths: 1 } };
    let s = up(monthly, "2024-01-31T08:00:00Z");
    const dues: number[] = [];
    for (let i = 0; i < 3; i++) {
      const due = nextDueAt(s, monthly) as number;
      dues.push(due);
      const r = advanceTo(s, due, monthly); // the purchase is still in the window: evaluations pass
      expect(r.changes).toEqual([]);
      s = r.state;
    }
    expect(dues).toEqual([
      at("2024-02-29T08:00:00Z"),
      at("2024-03-31T08:00:00Z"),
      at("2024-04-30T08:00:00Z"),
    ]);
    expect(s.tier).toBe("Gold");
  });

  it("calendar: at the period starts after the last change", () => {
    const time = "2024-05-20T12:00:00Z";
    const dueFor = (period: "month" | "quarter" | "half-year" | "year"): number | null => {
      const c: TierConfig = { ...cfg, evaluation: { mode: "calendar", period } };
      return nextDueAt(up(c, time), c);
    };
    expect(dueFor("month")).toBe(at("2024-06-01"));
    expect(dueFor("quarter")).toBe(at("2024-07-01"));
    expect(dueFor("half-year")).toBe(at("2024-07-01"));
    expect(dueFor("year")).toBe(at("2025-01-01"));
  });

  it("calendar: a passed evaluation schedules the next period start; a failed one the one after the downgrade", () => {
    const c: TierConfig = { ...cfg, evaluation: { mode: "calendar", period: "quarter" } };
    let s = up(c, "2024-05-20T12:00:00Z");
    s = advanceTo(s, at("2024-07-01"), c).state; // still qualifies
    expect(s.pending).toBeNull();
    expect(nextDueAt(s, c)).toBe(at("2024-10-01"));
    const r = advanceTo(s, at("2025-12-31"), c);
    expect(r.changes.map((x) => [x.to, new Date(x.evaluationDate as number).toISOString()])).toEqual([
      ["Silver", "2025-07-01T00:00:00.000Z"], // 2024-05-20 left the window on 2025-05-21
      ["Member", "2025-10-01T00:00:00.000Z"],
    ]);
    expect(r.changes.map((x) => x.effectiveAt)).toEqual([at("2025-07-31"), at("2025-10-31")]);
  });
});

describe("late events", () => {
  it("are booked in their bucket if still in the window, upgrade at the clock, never re-run evaluations", () => {
    let s = run(cfg, [ev("purchase", "2024-03-01", 8_000), ev("purchase", "2024-03-10", 1_000)]).state;
    s = advanceTo(s, at("2024-03-20"), cfg).state;
    const r = apply(s, ev("purchase", "2024-03-05", 2_000), cfg);
    expect(r.outcome).toBe("applied");
    expect(r.state.buckets.map((b) => b[1])).toEqual([8_000, 2_000, 1_000]);
    expect(r.changes).toEqual([expect.objectContaining({ to: "Silver", effectiveAt: at("2024-03-20") })]);
    expect(tierAt(r.state, at("2024-03-10"))).toBe("Member"); // history is never rewritten
    expect(r.state.asOf).toBe(at("2024-03-20"));

    const old = apply(r.state, ev("purchase", "2023-01-01", 50_000), cfg);
    expect(old.outcome).toBe("outside-window");
    expect(old.state.windowSum).toBe(11_000);
  });

  it("late reversals during a grace period count at its end, past evaluations are not re-run", () => {
    const s = run(cfg, [
      ev("purchase", "2024-03-10T12:00:00Z", 30_000),
      ev("purchase", "2025-01-10T12:00:00Z", 26_000),
    ]).state;
    let r = advanceTo(s, at("2025-03-10T12:00:00Z"), cfg); // evaluation passes with 26_000
    expect(r.state.pending).toBeNull();
    r = apply(r.state, ev("refund", "2025-01-11", 5_000), cfg); // late, lowers metric below Gold
    expect(r.changes).toEqual([]);
    expect(r.state.tier).toBe("Gold"); // the passed evaluation stays passed
    expect(nextDueAt(r.state, cfg)).toBe(at("2026-03-10T12:00:00Z"));
  });
});

describe("idempotency", () => {
  it("ignores a redelivered event id", () => {
    const e = ev("purchase", "2024-01-10", 6_000);
    const a = run(cfg, [e]).state;
    const b = apply(a, e, cfg);
    expect(b.outcome).toBe("duplicate");
    expect(b.state).toEqual(a);
    expect(b.state.windowSum).toBe(6_000);
  });

  it("keeps a bounded number of ids, forgotten once out of the window", () => {
    const c: TierConfig = { ...cfg, eventIdLimit: 3 };
    const s = run(
      c,
      [1, 2, 3, 4, 5].map((d) => ev("purchase", `2024-01-0${d}`, 1)),
    ).state;
    expect(s.recentEventIds).toHaveLength(3);
    expect(advanceTo(s, at("2025-02-01"), c).state.recentEventIds).toEqual([]);
  });

  it("does not dedupe with eventIdLimit 0 (caller dedupes)", () => {
    const c: TierConfig = { ...cfg, eventIdLimit: 0 };
    const e = ev("purchase", "2024-01-10", 6_000);
    expect(run(c, [e, e]).state.windowSum).toBe(12_000);
  });
});

describe("tierAt", () => {
  it("answers from the bounded history", () => {
    const { state } = run(cfg, [
      ev("purchase", "2024-03-10T12:00:00Z", 30_000),
      ev("purchase", "2024-04-01T00:00:00Z", 40_000),
    ]);
    const s = advanceTo(state, at("2026-01-01"), cfg).state;
    expect(s.history.map((h) => h.to)).toEqual(["Gold", "Platinum", "Gold"]);
    expect(tierAt(s, at("2024-01-01"))).toBe("Member");
    expect(tierAt(s, at("2024-03-10T11:59:59.999Z"))).toBe("Member");
    expect(tierAt(s, at("2024-03-10T12:00:00Z"))).toBe("Gold");
    expect(tierAt(s, at("2024-12-01"))).toBe("Platinum");
    expect(tierAt(s, at("2025-05-01T00:00:00Z"))).toBe("Gold"); // 2025-04-01 + 30 days grace
    expect(tierAt(s, at("2025-04-30T23:59:59Z"))).toBe("Platinum");

    const c2: TierConfig = { ...cfg, historyLimit: 2 };
    const t = advanceTo(
      run(c2, [
        ev("purchase", "2024-03-10T12:00:00Z", 30_000),
        ev("purchase", "2024-04-01T00:00:00Z", 40_000),
      ]).state,
      at("2026-01-01"),
      c2,
    ).state;
    expect(t.history).toHaveLength(2);
    expect(tierAt(t, at("2024-03-01"))).toBeNull(); // evicted: unknown, not guessed
    expect(tierAt(t, at("2024-03-10T12:00:00Z"))).toBe("Gold");
    expect(tierAt(t, at("2024-12-01"))).toBe("Platinum");
  });

  it("seeded members: known from the seed time on", () => {
    const s = initialState("m9", cfg, { tier: "Gold", since: at("2024-06-01") });
    expect(tierAt(s, at("2024-05-31"))).toBeNull();
    expect(tierAt(s, at("2024-06-01"))).toBe("Gold");
    expect(nextDueAt(s, cfg)).toBe(at("2025-06-01"));
    expect(() => initialState("m9", cfg, { tier: "Gold" })).toThrow(/since/);
  });
});

describe("stats and serialisation", () => {
  it("counts members per tier at a time, projecting due downgrades", () => {
    const a = run(cfg, [ev("purchase", "2024-03-10T12:00:00Z", 30_000)]).state;
    const b = run(cfg, [ev("purchase", "2024-01-01", 12_000)], initialState("m2", cfg)).state;
    const c = run(cfg, [ev("purchase", "2024-09-01", 100)], initialState("m3", cfg)).state;
    expect(stats([a, b, c], at("2024-06-01"), cfg)).toEqual({
      at: at("2024-06-01"),
      counts: { Member: 0, Silver: 1, Gold: 1, Platinum: 0 },
      unknown: 0,
      notJoined: 1,
    });
    expect(stats([a, b, c], at("2025-06-01"), cfg).counts).toEqual({
      Member: 2, // m2 (Silver from January) failed its 2025-01-01 evaluation; m3 never qualified
      Silver: 1, // m1 went Gold -> Silver on 2025-04-09
      Gold: 0,
      Platinum: 0,
    });
  });

  it("state is plain JSON with a schema version", () => {
    const { state } = run(cfg, [
      ev("purchase", "2024-03-10T12:00:00Z", 30_000),
      ev("refund", "2024-03-11", 100),
    ]);
    const copy = JSON.parse(JSON.stringify(state)) as TierState;
    expect(copy).toEqual(state);
    expect(copy.schemaVersion).toBe(1);
    const t = at("2025-06-01");
    expect(JSON.stringify(advanceTo(copy, t, cfg))).toBe(JSON.stringify(advanceTo(state, t, cfg)));
    expect(() => advanceTo({ ...state, schemaVersion: 2 as 1 }, t, cfg)).toThrow(/schemaVersion/);
  });

  it("does not mutate its inputs", () => {
    const { state } = run(cfg, [ev("purchase", "2024-03-10T12:00:00Z", 30_000)]);
    const before = JSON.stringify(state);
    advanceTo(state, at("2026-01-01"), cfg);
    apply(state, ev("refund", "2024-04-01", 100), cfg);
    expect(JSON.stringify(state)).toBe(before);
  });

  it("rejects malformed events", () => {
    const s = initialState("m1", cfg);
    expect(() => apply(s, ev("purchase", "2024-01-01", -5), cfg)).toThrow(RangeError);
    expect(() => apply(s, ev("purchase", "2024-01-01", 1.5), cfg)).toThrow(RangeError);
    expect(() => apply(s, { ...ev("purchase", "2024-01-01", 1), eventTime: Number.NaN }, cfg)).toThrow(
      RangeError,
    );
  });
});
