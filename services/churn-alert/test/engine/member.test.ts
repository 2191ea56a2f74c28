import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../src/config.ts";
import { nextGridAfter } from "../../src/engine/grid.ts";
import {
  type ActiveModel,
  type MemberRow,
  type TimedEvent,
  advanceMember,
  dueTime,
  featuresAt,
  newMemberRow,
  scoreAt,
  summarise,
} from "../../src/engine/member.ts";
import { boundariesOf, rfmReference, scoreBy } from "../../src/engine/rfm-reference.ts";
import {
  DAY_MS,
  type ModelNumericError,
  applyEvents,
  createMemberState,
  probabilityAlive,
  quintileScores,
} from "../../src/model/index.ts";
import { Sampler, sfc32 } from "../model/prng.ts";

const settings = { ...DEFAULT_SETTINGS, threshold: 0.4 };
const model: ActiveModel = {
  version: "test",
  bg: { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 },
  gg: { p: 6.25, q: 3.74, gamma: 1500 },
  rfm: rfmReference([
    { recencyDays: 1, frequency: 1, monetary: 1000 },
    { recencyDays: 30, frequency: 2, monetary: 2000 },
    { recencyDays: 90, frequency: 3, monetary: 3000 },
    { recencyDays: 200, frequency: 5, monetary: 4000 },
    { recencyDays: 400, frequency: 8, monetary: 5000 },
  ]),
};
const t0 = Date.UTC(1997, 0, 1);
const buy = (day: number, amount = 1500, k = 0): TimedEvent => {
  const time = t0 + day * DAY_MS + k;
  return {
    time,
    event: {
      type: "purchase",
      eventId: `e${day}-${k}`,
      orderId: `o${day}-${k}`,
      eventTime: time,
      amountMinor: amount,
    },
  };
};

describe("due time", () => {
  it("is the first grid point after the last event where P(alive) is below the threshold", () => {
    const state = applyEvents(
      createMemberState(),
      [buy(0), buy(10), buy(25)].map((e) => e.event),
    );
    const s = summarise(state)!;
    const after = t0 + 25 * DAY_MS;
    const due = dueTime(s, after, model.bg, settings)!;
    expect(due).toBeGreaterThan(after);
    expect(due % DAY_MS).toBe(0);
    const p = (t: number) => {
      const f = featuresAt(s, t, settings);
      return probabilityAlive(model.bg, f.x, f.tx, f.T);
    };
    expect(p(due)).toBeLessThan(settings.threshold);
    expect(p(due - DAY_MS)).toBeGreaterThanOrEqual(settings.threshold);
  });

  it("is null without a repeat purchase (P(alive) = 1)", () => {
    const s = summarise(applyEvents(createMemberState(), [buy(0).event]))!;
    expect(dueTime(s, t0, model.bg, settings)).toBeNull();
  });

  it("grid points are anchored", () => {
    expect(nextGridAfter(5, 7, 3)).toBe(10);
    expect(nextGridAfter(10, 7, 3)).toBe(17);
    expect(nextGridAfter(-1, 7, 0)).toBe(0);
  });
});

describe("member timeline", () => {
  const events = [buy(0), buy(3), buy(9), buy(200), buy(205)];
  const start: MemberRow = newMemberRow("m1", "UTC");
  const end = t0 + 800 * DAY_MS;

  it("alerts once per episode; a newer purchase re-arms", () => {
    const { alerts, row } = advanceMember(start, events, model, settings, end, true);
    expect(alerts).toHaveLength(2);
    const [a1, a2] = alerts as [(typeof alerts)[0], (typeof alerts)[0]];
    expect(a1.eventTime).toBeGreaterThan(events[2]!.time);
    expect(a1.eventTime).toBeLessThan(events[3]!.time);
    expect(a2.eventTime).toBeGreaterThan(events[4]!.time);
    for (const a of alerts) {
      expect(a.pAlive).toBeLessThan(settings.threshold);
      expect(a.eventTime % DAY_MS).toBe(0);
      expect(a.reason).toContain("without a purchase");
    }
    expect(a1.eventId).not.toBe(a2.eventId);
    expect(row.alert.armed).toBe(false);
    expect(row.dueAt).toBeNull();
  });

  it("gives the same alerts whatever the step boundaries", () => {
    const whole = advanceMember(start, events, model, settings, end, true).alerts;
    const rng = new Sampler(sfc32(7));
    for (let trial = 0; trial < 20; trial++) {
      const cuts = Array.from({ length: 6 }, () => t0 + Math.floor(rng.open() * 800) * DAY_MS).sort(
        (p, q) => p - q,
      );
      let row = start;
      const got = [];
      let i = 0;
      for (const limit of [...cuts, end]) {
        const batch: TimedEvent[] = [];
        while (i < events.length && events[i]!.time <= limit) batch.push(events[i++]!);
        const out = advanceMember(row, batch, model, settings, limit, true);
        row = out.row;
        got.push(...out.alerts);
      }
      expect(got).toEqual(whole);
    }
  });

  it("does not alert a member still above the threshold at the limit", () => {
    const { alerts, row } = advanceMember(
      start,
      events.slice(0, 3),
      model,
      settings,
      events[2]!.time + DAY_MS,
      true,
    );
    expect(alerts).toHaveLength(0);
    expect(row.dueAt).not.toBeNull();
  });

  it("respects the minimum value: below it, no alert and nothing due", () => {
    const { alerts, row } = advanceMember(
      start,
      events.slice(0, 3),
      model,
      { ...settings, minValueMinor: 10_000_000 },
      end,
      true,
    );
    expect(alerts).toHaveLength(0);
    expect(row.dueAt).toBeNull();
    expect(row.alert.armed).toBe(true);
  });
});

describe("RFM reference", () => {
  it("scoring the reference population by its boundaries gives back its quintile scores", () => {
    const rng = new Sampler(sfc32(1));
    const values = Array.from({ length: 500 }, () => Math.floor(rng.open() * 60));
    const b = boundariesOf(values);
    const q = quintileScores(values);
    values.forEach((v, i) => expect(scoreBy(b, v)).toBe(q[i]));
  });

  it("holds the lowest value of each quintile score, ties and empty scores included", () => {
    const rng = new Sampler(sfc32(7));
    const samples = [
      Array.from({ length: 997 }, () => Math.floor(rng.open() * 40) / 4),
      // Mostly one value (most members have bought once): scores with no value stay null.
      Array.from({ length: 300 }, (_, i) => (i < 250 ? 1 : 2 + Math.floor(rng.open() * 5))),
      Array.from({ length: 200 }, () => -Math.floor(rng.open() * 400)),
      [3],
      [],
    ];
    for (const values of samples) {
      const q = quintileScores(values);
      const lowest: (number | null)[] = [null, null, null, null, null];
      values.forEach((v, i) => {
        const s = (q[i] as number) - 1;
        const cur = lowest[s];
        if (cur === null || cur === undefined || v < cur) lowest[s] = v;
      });
      expect(boundariesOf(values)).toEqual(lowest);
    }
  });

  it("rejects NaN", () => {
    expect(() => boundariesOf([1, Number.NaN])).toThrow(RangeError);
  });
});

describe("scoreAt when the model cannot be evaluated", () => {
  const state = applyEvents(
    createMemberState(),
    [buy(0), buy(6), buy(13)].map((e) => e.event),
  );
  const s = summarise(state);
  const at = t0 + 27 * DAY_MS;

  it("scores the degenerate fit of a replay's first weeks (b > 2e6 used to throw) by eq. 10", () => {
    if (s === null) throw new Error("no summary");
    const errors: ModelNumericError[] = [];
    const degenerate = { ...model, bg: { r: 0.3, alpha: 6, a: 3.6e-7, b: 3e6 } };
    const score = scoreAt(s, at, degenerate, settings, { onModelError: (e) => errors.push(e) });
    expect(errors).toEqual([]);
    expect(score.modelError).toBeNull();
    // With dropout out of reach, E[Y] is close to the Poisson-Gamma (r+x)·t/(α+T)·P(alive).
    const f = featuresAt(s, at, settings);
    const horizon = (settings.horizonDays * DAY_MS) / settings.unitMs;
    const limit = ((0.3 + f.x) * horizon * score.pAlive) / (6 + f.T);
    expect(Math.abs(score.expectedPurchases / limit - 1)).toBeLessThan(1e-5);
  });

  it("falls back to the bound, says why and calls the hook once, instead of throwing", () => {
    if (s === null) throw new Error("no summary");
    const errors: ModelNumericError[] = [];
    const broken = { ...model, bg: { ...model.bg, b: Number.POSITIVE_INFINITY } };
    const score = scoreAt(s, at, broken, settings, { onModelError: (e) => errors.push(e) });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.kind).toBe("domain");
    expect(errors[0]?.retriable).toBe(false);
    expect(score.modelError).toBe(errors[0]);
    expect(Number.isFinite(score.expectedPurchases)).toBe(true);
    expect(Number.isSafeInteger(score.expectedValueMinor)).toBe(true);
    // Without hooks the same result, still no throw.
    expect(scoreAt(s, at, broken, settings)).toEqual(score);
  });

  it("passes the hook through advanceMember to each score it fires", () => {
    const kinds: string[] = [];
    // a = ∞: P(alive) is 0 after a repeat purchase, so scores are due, and eq. 10 is undefined.
    const broken = { ...model, bg: { ...model.bg, a: Number.POSITIVE_INFINITY } };
    const events = [buy(0), buy(3), buy(9)];
    const plain = advanceMember(newMemberRow("m9", "UTC"), events, broken, settings, t0 + 400 * DAY_MS, true);
    const hooked = advanceMember(
      newMemberRow("m9", "UTC"),
      events,
      broken,
      settings,
      t0 + 400 * DAY_MS,
      true,
      { onModelError: (e) => kinds.push(e.kind) },
    );
    expect(hooked).toEqual(plain);
    expect(kinds.length).toBeGreaterThan(0);
    expect(new Set(kinds)).toEqual(new Set(["domain"]));
  });
});
