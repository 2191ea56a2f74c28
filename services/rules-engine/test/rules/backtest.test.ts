// backtest(): a draft against history beside the running set. Pure: events are built here.
import { readFileSync } from "node:fs";
import type { MemberChanged, PurchaseEvent } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { simulateDraft } from "../../src/engine/draft.ts";
import { backtestParallel, endBacktestWorker } from "../../src/rules/backtest-parallel.ts";
import { BacktestError, type BacktestInput, TOP_MEMBERS, backtest } from "../../src/rules/backtest.ts";
import type { RuleSet } from "../../src/rules/types.ts";
import { BASE_RULE, mustValidate, rule } from "./helpers.ts";

const DAY = 86_400_000;
const at = (iso: string): number => Date.parse(iso);

let n = 0;
function purchase(
  memberId: string,
  cents: number,
  time: number,
  type: PurchaseEvent["type"] = "PURCHASE",
  orderId?: string,
): PurchaseEvent {
  n++;
  return {
    eventId: `e${n}`,
    type,
    memberId,
    source: "t",
    orderId: orderId ?? `o${n}`,
    eventTime: time,
    amountMinor: cents,
    currency: "USD",
    baseAmountMinor: cents,
    baseCurrency: "USD",
    fxRate: "1",
    lines: [],
    channel: null,
    storeId: null,
    refundId: null,
    refundedLineIds: [],
  };
}

const UTC_PROGRAMME = {
  baseCurrency: "USD",
  currencyExponent: 2,
  timeZone: "UTC",
  pointValueMinor: "0.5",
};

const set = (rules: Record<string, unknown>[], version = 1): RuleSet =>
  mustValidate({ id: "test", version, rules });

const STANDARD = mustValidate(
  JSON.parse(readFileSync(new URL("../../../../rules/standard/ruleset.json", import.meta.url), "utf8")),
);
const STANDARD_PROGRAMME = {
  baseCurrency: "USD",
  currencyExponent: 2,
  timeZone: "America/New_York",
  pointValueMinor: "1",
};

/** Deterministic synthetic history: `count` purchases of `members` members over ~5 months. */
function history(count: number, members: number): PurchaseEvent[] {
  let seed = 42;
  const next = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed / 2 ** 32;
  };
  const out: PurchaseEvent[] = [];
  const start = at("1997-01-01T00:00:00Z");
  for (let i = 0; i < count; i++) {
    const m = `m${String(Math.floor(next() * members)).padStart(4, "0")}`;
    out.push(purchase(m, 100 + Math.floor(next() * 20_000), start + Math.floor((i / count) * 150 * DAY)));
  }
  return out;
}

describe("backtest: a hand-checked example", () => {
  // running: 1 point per dollar. draft: 2 points per dollar, and 50 points per order from a
  // 120-point budget. Window: two UTC weeks from Monday 1997-03-03.
  const running = set([BASE_RULE]);
  const draft = set(
    [
      {
        ...BASE_RULE,
        version: 2,
        event: { type: "points-per-unit", params: { rate: "2", rounding: "floor" } },
      },
      rule({
        id: "bonus",
        budget: { totalPoints: 120 },
        event: { type: "fixed-bonus", params: { points: 50 } },
      }),
    ],
    2,
  );
  const bCancelled = purchase("B", 500, at("1997-03-11T10:00:00Z"), "PURCHASE", "b-1");
  const input: BacktestInput = {
    running,
    draft,
    programme: UTC_PROGRAMME,
    from: at("1997-03-03T00:00:00Z"),
    to: at("1997-03-17T00:00:00Z"),
    purchases: [
      purchase("A", 1_000, at("1997-02-20T10:00:00Z")), // warm-up: priced by the running set on both sides
      purchase("A", 2_550, at("1997-03-04T10:00:00Z")), // running 25; draft 51 + 50
      bCancelled, // running 5; draft 10 + 50
      purchase("B", 10_000, at("1997-03-12T10:00:00Z")), // running 100; draft 200 + 20 (budget left)
      purchase("B", 500, at("1997-03-13T10:00:00Z"), "CANCELLATION", "b-1"), // reverses b-1's awards
      purchase("C", 9_999, at("1997-03-17T00:00:00Z")), // at `to`: not read
    ],
  };
  const report = backtest(input);

  it("counts points per rule on both sides, reversals included", () => {
    expect(report.events).toEqual({ warmUp: 1, inWindow: 4 });
    expect(report.members).toBe(2);
    expect(report.byRule).toEqual([
      {
        ruleId: "base",
        runningVersion: 1,
        draftVersion: 2,
        running: { awards: 3, awardedPoints: 25 + 5 + 100, reversedPoints: 5, netPoints: 125, members: 2 },
        draft: { awards: 3, awardedPoints: 51 + 10 + 200, reversedPoints: 10, netPoints: 251, members: 2 },
        difference: 126,
      },
      {
        ruleId: "bonus",
        runningVersion: null,
        draftVersion: 1,
        running: { awards: 0, awardedPoints: 0, reversedPoints: 0, netPoints: 0, members: 0 },
        draft: { awards: 3, awardedPoints: 50 + 50 + 20, reversedPoints: 50, netPoints: 70, members: 2 },
        difference: 70,
      },
    ]);
  });

  it("totals and liability at half a cent per point, rounded half-up once per side", () => {
    expect(report.currency).toBe("USD");
    expect(report.pointValueMinor).toBe("0.5");
    expect(report.totals).toEqual({
      running: { awardedPoints: 130, reversedPoints: 5, netPoints: 125, liabilityMinor: 63 }, // 62.5
      draft: { awardedPoints: 381, reversedPoints: 60, netPoints: 321, liabilityMinor: 161 }, // 160.5
      difference: { netPoints: 196, liabilityMinor: 98 },
    });
  });

  it("members affected and the top members by difference", () => {
    expect(report.membersAffected).toBe(2);
    expect(report.topMembers).toEqual([
      { memberId: "B", running: 100, draft: 220, difference: 120 },
      { memberId: "A", running: 25, draft: 101, difference: 76 },
    ]);
  });

  it("budget use per week: the refund does not give budget back", () => {
    expect(report.budgets).toEqual([
      {
        ruleId: "bonus",
        runningBudget: null,
        draftBudget: 120,
        runningBefore: 0,
        draftBefore: 0,
        weeks: [
          { week: "1997-03-03", running: 0, draft: 50, runningCumulative: 0, draftCumulative: 50 },
          { week: "1997-03-10", running: 0, draft: 70, runningCumulative: 0, draftCumulative: 120 },
        ],
      },
    ]);
  });

  it("tiers: spend-based, so no moves; the report says why", () => {
    expect(report.tiers.metric).toBe("spend");
    expect(report.tiers.moves).toEqual([]);
    expect(report.tiers.membersMoved).toBe(0);
    expect(report.tiers.note).toMatch(/never on points/);
  });

  it("the draft's budget carries use from before the window under the same rule id", () => {
    const budgeted = set([
      rule({
        id: "bonus",
        budget: { totalPoints: 120 },
        event: { type: "fixed-bonus", params: { points: 50 } },
      }),
    ]);
    const r = backtest({ ...input, running: budgeted, draft: draft });
    const bonus = r.budgets.find((b) => b.ruleId === "bonus");
    // The warm-up order used 50 of the running budget on both sides; 70 is left for the window.
    expect(bonus?.runningBefore).toBe(50);
    expect(bonus?.draftBefore).toBe(50);
    expect(bonus?.weeks.map((w) => w.draft)).toEqual([50, 20]);
    expect(bonus?.weeks.at(-1)?.draftCumulative).toBe(120);
  });
});

describe("backtest: invariants", () => {
  it("a draft identical to the running set differs in nothing", () => {
    const purchases = history(3_000, 150);
    const r = backtest({
      running: STANDARD,
      draft: { ...STANDARD, version: STANDARD.version + 1 },
      programme: STANDARD_PROGRAMME,
      purchases,
      from: at("1997-02-01T00:00:00Z"),
      to: at("1997-05-01T00:00:00Z"),
    });
    expect(r.events.warmUp).toBeGreaterThan(0);
    expect(r.totals.running.netPoints).toBeGreaterThan(0);
    expect(r.totals.draft).toEqual(r.totals.running);
    expect(r.totals.difference).toEqual({ netPoints: 0, liabilityMinor: 0 });
    expect(r.byRule.every((row) => row.difference === 0)).toBe(true);
    expect(r.byRule.map((row) => row.draft)).toEqual(r.byRule.map((row) => row.running));
    expect(r.membersAffected).toBe(0);
    expect(r.topMembers).toEqual([]);
    expect(r.tiers.moves).toEqual([]);
    for (const b of r.budgets) for (const w of b.weeks) expect(w.draft).toBe(w.running);
  });

  it("over the whole history the running side awards what simulateDraft (one batch) awards", () => {
    // Many in-memory batches: limit use (caps, budgets) must carry across them.
    const purchases = history(5_000, 120);
    const sim = simulateDraft(STANDARD, STANDARD_PROGRAMME, purchases);
    const r = backtest({
      running: STANDARD,
      draft: STANDARD,
      programme: STANDARD_PROGRAMME,
      purchases,
      from: at("1996-01-01T00:00:00Z"),
      to: at("1999-01-01T00:00:00Z"),
      batchSize: 700,
    });
    expect(r.totals.running.awardedPoints).toBe(sim.report.totalPoints);
    expect(r.totals.running.liabilityMinor).toBe(sim.report.liabilityMinor);
    for (const row of r.byRule)
      expect(row.running.awardedPoints).toBe(
        sim.report.byRule.find((s) => s.ruleId === row.ruleId)?.points ?? 0,
      );
  });

  it("is deterministic: input order of events at distinct times does not matter", () => {
    const purchases = history(800, 40);
    const draft = set([
      { ...BASE_RULE, event: { type: "points-per-unit", params: { rate: "1.5", rounding: "floor" } } },
    ]);
    const base = { running: set([BASE_RULE]), draft, programme: UTC_PROGRAMME };
    const window = { from: at("1997-01-15T00:00:00Z"), to: at("1997-04-01T00:00:00Z") };
    const a = backtest({ ...base, ...window, purchases });
    const b = backtest({ ...base, ...window, purchases: [...purchases].reverse() });
    const c = backtest({ ...base, ...window, purchases, batchSize: 97 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(c)).toBe(JSON.stringify(a));
    expect(a.membersAffected).toBeGreaterThan(0);
  });

  it("a per-day cap holds across batches and resets the next day (past days' use is dropped)", () => {
    const capped = rule({ id: "capped", caps: { perMemberPerDay: 25 } });
    const day1 = at("1997-03-04T10:00:00Z");
    const purchases = [
      purchase("m1", 1_000, day1),
      purchase("m1", 1_000, day1 + 1_000),
      purchase("m1", 1_000, day1 + 2_000),
      purchase("m1", 1_000, day1 + DAY),
      purchase("m1", 1_000, day1 + DAY + 1_000),
    ];
    const input: BacktestInput = {
      running: set([capped]),
      draft: set([{ ...capped, event: { type: "fixed-bonus", params: { points: 20 } } }], 2),
      programme: UTC_PROGRAMME,
      purchases,
      from: at("1997-03-01T00:00:00Z"),
      to: at("1997-04-01T00:00:00Z"),
    };
    // 10 points per order, at most 25 a day: 10 + 10 + 5, then 10 + 10; the draft's 20: 20 + 5, 20 + 5.
    for (const batchSize of [1, 2, 1_000]) {
      const row = backtest({ ...input, batchSize }).byRule.find((r) => r.ruleId === "capped");
      expect([batchSize, row?.running.awardedPoints, row?.draft.awardedPoints]).toEqual([batchSize, 45, 50]);
    }
  });

  it("on two threads (backtestParallel) the report is the same, byte for byte", async () => {
    const purchases = history(1_500, 60);
    const input: BacktestInput = {
      running: STANDARD,
      draft: mustValidate({
        ...STANDARD,
        version: 2,
        rules: STANDARD.rules.map((r) =>
          r.id === "base-points"
            ? { ...r, event: { type: "points-per-unit", params: { rate: "3", rounding: "floor" } } }
            : r,
        ),
      }),
      programme: STANDARD_PROGRAMME,
      purchases,
      from: at("1997-02-01T00:00:00Z"),
      to: at("1997-04-01T00:00:00Z"),
    };
    const one = backtest(input);
    const two = await backtestParallel(input);
    expect(two.parallel).toBe(true); // the worker started (tsx registers in its thread)
    expect(JSON.stringify(two.report)).toBe(JSON.stringify(one));
    expect(one.membersAffected).toBeGreaterThan(0);
    await expect(backtestParallel({ ...input, to: input.from })).rejects.toBeInstanceOf(BacktestError);
    // The worker kept from the first backtest prices the next ones, each from its own input
    // (nothing of the previous one left in it), and is ended on request.
    const later = { ...input, from: at("1997-03-01T00:00:00Z") };
    const three = await backtestParallel(later);
    expect(three.parallel).toBe(true);
    expect(JSON.stringify(three.report)).toBe(JSON.stringify(backtest(later)));
    const again = await backtestParallel(input);
    expect(JSON.stringify(again.report)).toBe(JSON.stringify(one));
    // Overlapping backtests get a worker each, with the same reports.
    const both = await Promise.all([backtestParallel(input), backtestParallel(later)]);
    expect(both.map((b) => [b.parallel, JSON.stringify(b.report)])).toEqual([
      [true, JSON.stringify(one)],
      [true, JSON.stringify(three.report)],
    ]);
    await endBacktestWorker();
  });

  it("top members: |difference| descending, ties by member id, at most 20", () => {
    const t = at("1997-03-04T10:00:00Z");
    const purchases = [
      ...Array.from({ length: 25 }, (_, i) => purchase(`m${String(24 - i).padStart(2, "0")}`, 1_000, t + i)),
      purchase("zz", 100_000, t + 100), // the largest difference comes first
    ];
    const r = backtest({
      running: set([BASE_RULE]),
      draft: set([
        { ...BASE_RULE, event: { type: "points-per-unit", params: { rate: "2", rounding: "floor" } } },
      ]),
      programme: UTC_PROGRAMME,
      purchases,
      from: at("1997-03-01T00:00:00Z"),
      to: at("1997-04-01T00:00:00Z"),
    });
    expect(r.membersAffected).toBe(26);
    expect(r.topMembers).toHaveLength(TOP_MEMBERS);
    expect(r.topMembers[0]).toEqual({ memberId: "zz", running: 1_000, draft: 2_000, difference: 1_000 });
    expect(r.topMembers.slice(1).map((m) => m.memberId)).toEqual(
      Array.from({ length: 19 }, (_, i) => `m${String(i).padStart(2, "0")}`),
    );
  });

  it("member events: a referral rule in the draft pays the referee and the referrer", () => {
    const enrol = (memberId: string, time: number, referrer: string | null): MemberChanged => ({
      eventId: `enrol-${memberId}`,
      type: "ENROLLED",
      memberId,
      eventTime: time,
      enrolledVia: "registration",
      birthday: null,
      referrerMemberId: referrer,
    });
    const referral = (id: string, recipient: "member" | "referrer") =>
      rule({
        id,
        trigger: "member.referred",
        event: { type: "fixed-bonus", params: { points: 500, recipient } },
      });
    const r = backtest({
      running: set([BASE_RULE]),
      draft: set([BASE_RULE, referral("referee", "member"), referral("referrer", "referrer")]),
      programme: UTC_PROGRAMME,
      purchases: [purchase("old", 1_000, at("1997-03-02T00:00:00Z"))],
      memberEvents: [
        enrol("old", at("1997-03-01T00:00:00Z"), null),
        enrol("new", at("1997-03-05T00:00:00Z"), "old"),
      ],
      from: at("1997-03-03T00:00:00Z"),
      to: at("1997-03-10T00:00:00Z"),
    });
    expect(r.topMembers).toEqual([
      { memberId: "new", running: 0, draft: 500, difference: 500 },
      { memberId: "old", running: 0, draft: 500, difference: 500 },
    ]);
    expect(r.totals.difference).toEqual({ netPoints: 1_000, liabilityMinor: 500 });
  });

  it("rejects an empty or inverted window with a typed, non-retriable error", () => {
    const base = {
      running: set([BASE_RULE]),
      draft: set([BASE_RULE]),
      programme: UTC_PROGRAMME,
      purchases: [],
    };
    const t = at("1997-03-03T00:00:00Z");
    expect(() => backtest({ ...base, from: t, to: t })).toThrow(BacktestError);
    try {
      backtest({ ...base, from: t + 1, to: t });
    } catch (err) {
      expect(err).toBeInstanceOf(BacktestError);
      expect((err as BacktestError).retriable).toBe(false);
    }
  });

  it("a window without events reports zeros and every week of the window", () => {
    const r = backtest({
      running: set([rule({ id: "b", budget: { totalPoints: 10 } })]),
      draft: set([rule({ id: "b", budget: { totalPoints: 10 } })]),
      programme: UTC_PROGRAMME,
      purchases: [],
      from: at("1997-03-05T00:00:00Z"),
      to: at("1997-03-20T00:00:00Z"),
    });
    expect(r.totals.difference).toEqual({ netPoints: 0, liabilityMinor: 0 });
    expect(r.budgets[0]?.weeks.map((w) => w.week)).toEqual(["1997-03-03", "1997-03-10", "1997-03-17"]);
  });
});
