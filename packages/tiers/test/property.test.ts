import { describe, expect, it } from "vitest";
import {
  DAY_MS,
  advanceTo,
  apply,
  defaultTierConfig,
  initialState,
  utcDay,
  windowStartDay,
} from "../src/index.ts";
import type { QualifyingEvent, QualifyingKind, TierChange, TierConfig, TierState } from "../src/index.ts";
import { at, rng } from "./helpers.ts";

const configs: Record<string, TierConfig> = {
  default: defaultTierConfig,
  quarterNoGrace: {
    ...defaultTierConfig,
    evaluation: { mode: "calendar", period: "quarter" },
    graceDays: 0,
    maxLevelsDown: 2,
  },
  // Grace longer than the evaluation period, tiny history and id bounds: the awkward corners.
  pointsMonthlyLongGrace: {
    ...defaultTierConfig,
    metric: "points",
    tiers: [
      { name: "Member", threshold: 0 },
      { name: "Silver", threshold: 100 },
      { name: "Gold", threshold: 250 },
      { name: "Platinum", threshold: 600 },
    ],
    evaluation: { mode: "calendar", period: "month" },
    graceDays: 45,
    historyLimit: 3,
    eventIdLimit: 5,
  },
  ordersDays: {
    ...defaultTierConfig,
    metric: "orders",
    tiers: [
      { name: "Member", threshold: 0 },
      { name: "Silver", threshold: 3 },
      { name: "Gold", threshold: 6 },
    ],
    window: { unit: "days", length: 90 },
    evaluation: { mode: "anniversary", periodMonths: 3 },
    graceDays: 10,
  },
};

const START = at("2020-01-01");
const END = at("2024-06-01");

/** A messy but plausible stream: bursts, long silences, late arrivals, refunds, redeliveries. */
function genEvents(seed: number, count: number): QualifyingEvent[] {
  const r = rng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const events: QualifyingEvent[] = [];
  const purchases: QualifyingEvent[] = [];
  let clock = START;
  for (let i = 0; i < count; i++) {
    const gap = r() < 0.05 ? int(100, 400) * DAY_MS : int(0, 20 * DAY_MS);
    clock += gap;
    if (clock > END) break;
    const late = r() < 0.15 ? int(0, 3 * DAY_MS) : 0;
    const eventTime = clock - late;
    const roll = r();
    if (roll < 0.05 && events.length > 0) {
      events.push(events[int(0, events.length - 1)] as QualifyingEvent); // redelivery
      continue;
    }
    let kind: QualifyingKind;
    let value: number;
    let extra: Partial<QualifyingEvent> = {};
    if (roll < 0.45) {
      kind = "purchase";
      value = int(500, 30_000);
    } else if (roll < 0.55 && purchases.length > 0) {
      const orig = purchases[int(0, purchases.length - 1)] as QualifyingEvent;
      kind = r() < 0.5 ? "refund" : "cancellation";
      value = int(1, orig.value);
      if (r() < 0.7) extra = { reversesEventTime: orig.eventTime, orders: kind === "refund" ? 0 : 1 };
    } else if (roll < 0.9) {
      kind = "points-earned";
      value = int(5, 300);
    } else {
      kind = "points-reversed";
      value = int(1, 100);
    }
    const e: QualifyingEvent = { kind, eventId: `s${seed}-${i}`, eventTime, value, ...extra };
    events.push(e);
    if (kind === "purchase") purchases.push(e);
  }
  return events;
}

interface RunResult {
  state: TierState;
  changes: TierChange[];
}

function runStraight(
  config: TierConfig,
  events: QualifyingEvent[],
  check?: (s: TierState) => void,
): RunResult {
  let s = initialState("m", config);
  const changes: TierChange[] = [];
  for (const e of events) {
    const r = apply(s, e, config);
    s = r.state;
    changes.push(...r.changes);
    check?.(s);
  }
  const end = advanceTo(s, END, config);
  changes.push(...end.changes);
  check?.(end.state);
  return { state: end.state, changes };
}

/** Same events, with the time between them chopped into random advances. */
function runBatched(config: TierConfig, events: QualifyingEvent[], seed: number): RunResult {
  const r = rng(seed);
  let s = initialState("m", config);
  const changes: TierChange[] = [];
  const advanceRandomly = (to: number): void => {
    const from = s.asOf ?? START;
    if (to <= from) return;
    const steps = Math.floor(r() * 4);
    const times = Array.from({ length: steps }, () => from + Math.floor(r() * (to - from))).sort(
      (a, b) => a - b,
    );
    for (const t of [...times, ...(r() < 0.5 ? [to] : [])]) {
      const a = advanceTo(s, t, config);
      s = a.state;
      changes.push(...a.changes);
    }
  };
  for (const e of events) {
    advanceRandomly(e.eventTime);
    const a = apply(s, e, config);
    s = a.state;
    changes.push(...a.changes);
  }
  advanceRandomly(END);
  const end = advanceTo(s, END, config);
  changes.push(...end.changes);
  return { state: end.state, changes };
}

function checkInvariants(config: TierConfig) {
  return (s: TierState): void => {
    const today = utcDay(s.asOf as number);
    const start = windowStartDay(config, today);
    let sum = 0;
    let prev = Number.NEGATIVE_INFINITY;
    for (const [day, value] of s.buckets) {
      expect(day).toBeGreaterThan(prev);
      expect(day).toBeGreaterThanOrEqual(start); // buckets outside the window are gone
      expect(day).toBeLessThanOrEqual(today);
      expect(value).not.toBe(0);
      sum += value;
      prev = day;
    }
    expect(s.windowSum).toBe(sum);
    expect(s.buckets.length).toBeLessThanOrEqual(today - start + 1);
    expect(s.history.length).toBeLessThanOrEqual(config.historyLimit);
    expect(s.recentEventIds.length).toBeLessThanOrEqual(config.eventIdLimit);
  };
}

describe("batching invariance (seeded property test)", () => {
  const seeds = Array.from({ length: 25 }, (_, i) => 1000 + i * 7919);
  let downgrades = 0;
  let upgrades = 0;

  for (const [name, config] of Object.entries(configs)) {
    it(`${name}: random advances between events change nothing`, () => {
      for (const seed of seeds) {
        const events = genEvents(seed, 400);
        const straight = runStraight(config, events, checkInvariants(config));
        const batched = runBatched(config, events, seed ^ 0x5eed);
        expect(JSON.stringify(batched.state)).toBe(JSON.stringify(straight.state));
        expect(JSON.stringify(batched.changes)).toBe(JSON.stringify(straight.changes));
        for (const c of straight.changes) {
          if (c.direction === "down") downgrades++;
          else upgrades++;
        }
      }
    });
  }

  it("advanceTo(t1) then advanceTo(t2) equals advanceTo(t2) from arbitrary states", () => {
    const r = rng(42);
    for (const config of Object.values(configs)) {
      let s = initialState("m", config);
      for (const e of genEvents(77, 300)) {
        s = apply(s, e, config).state;
        const from = s.asOf as number;
        const t2 = from + Math.floor(r() * 800 * DAY_MS);
        const t1 = from + Math.floor(r() * (t2 - from));
        const direct = advanceTo(s, t2, config);
        const a = advanceTo(s, t1, config);
        const b = advanceTo(a.state, t2, config);
        expect(JSON.stringify(b.state)).toBe(JSON.stringify(direct.state));
        expect(JSON.stringify([...a.changes, ...b.changes])).toBe(JSON.stringify(direct.changes));
      }
    }
  });

  it("the generated streams exercise both directions", () => {
    expect(upgrades).toBeGreaterThan(50);
    expect(downgrades).toBeGreaterThan(50);
  });
});

describe("window sum matches a brute-force recomputation", () => {
  it("over a long random stream", () => {
    const config = defaultTierConfig;
    const booked: [day: number, delta: number][] = [];
    const seen = new Set<string>();
    let s = initialState("m", config);
    for (const e of genEvents(3, 600)) {
      const r = apply(s, e, config);
      s = r.state;
      if (r.outcome === "applied") {
        expect(seen.has(e.eventId)).toBe(false);
        seen.add(e.eventId);
        const sign = e.kind === "purchase" ? 1 : -1;
        const time = sign < 0 && e.reversesEventTime !== undefined ? e.reversesEventTime : e.eventTime;
        booked.push([utcDay(Math.min(time, e.eventTime)), sign * e.value]);
      }
      const start = windowStartDay(config, utcDay(s.asOf as number));
      const expected = booked.filter(([d]) => d >= start).reduce((acc, [, v]) => acc + v, 0);
      expect(s.windowSum).toBe(expected);
    }
  });
});
