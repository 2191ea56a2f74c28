// The engine and the programme's amount limits (issue 21, item 3): an event whose awards would
// exceed maxPointsPerEntry or the member's maxPointsPerMemberPerDay (programme day), or leave the
// safe-integer range, is refused with AmountLimitError (DLQ code AMOUNT_LIMIT) instead of written.
import type { MemberChanged, PurchaseEvent } from "@loyalty/contracts";
import { DLQ_REASONS } from "@loyalty/contracts";
import { isRetriable } from "@loyalty/stream-runtime";
import { defaultTierConfig } from "@loyalty/tiers";
import { describe, expect, it } from "vitest";
import { emptyState } from "../src/engine/draft.ts";
import { usageKey } from "../src/engine/model.ts";
import {
  AmountLimitError,
  BatchProcessor,
  type EngineEvent,
  type EngineOptions,
  PROGRAMME_DAY_USAGE,
  programmeDay,
} from "../src/engine/process.ts";
import { RuleSetRegistry, checksumOf } from "../src/engine/registry.ts";
import type { ProgrammeConfig } from "../src/rules/types.ts";
import { PROGRAMME, loadStandard } from "./rules/helpers.ts";

// Standard rules (1 point per USD, multipliers up to x2, bonuses up to 500) fit these limits.
const SMALL: ProgrammeConfig = {
  ...PROGRAMME,
  maxPointsPerEntry: 1_000,
  maxPointsPerMemberPerDay: 2_000,
  maxOrderAmountMinor: 100_000,
};

function processor(programme: ProgrammeConfig, rate = "1", state = emptyState()): BatchProcessor {
  const { ruleSet } = loadStandard();
  const rs = structuredClone(ruleSet) as {
    rules: Array<{ id: string; event: { params: { rate?: string } } }>;
  };
  const base = rs.rules.find((r) => r.id === "base-points");
  if (base === undefined) throw new Error("no base-points rule");
  base.event.params.rate = rate;
  const json = JSON.stringify(rs);
  const reg = new RuleSetRegistry("standard", programme);
  const added = reg.add({
    ruleSetId: "standard",
    version: 1,
    effectiveAt: 0,
    checksum: checksumOf(json),
    ruleSetJson: json,
  });
  expect(added.outcome).toBe("added");
  const opts: EngineOptions = {
    programme,
    tierConfig: defaultTierConfig,
    expiryMonths: 12,
    allowNegativeBalance: false,
  };
  return new BatchProcessor(state, reg, opts);
}

let n = 0;
function purchase(memberId: string, cents: number, at: number): EngineEvent {
  n++;
  const event: PurchaseEvent = {
    eventId: `p${n}`,
    type: "PURCHASE",
    memberId,
    source: "t",
    orderId: `o${n}`,
    eventTime: at,
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
  return { kind: "purchase", event };
}

const T = Date.UTC(2024, 2, 10, 17); // 13:00 in New York
const HOUR = 3_600_000;
const earned = (p: BatchProcessor, e: EngineEvent) =>
  (p.bySource.get(e.event.eventId)?.entries ?? []).reduce((s, x) => s + x.points, 0);

function refusal(run: () => void): AmountLimitError {
  try {
    run();
  } catch (err) {
    if (err instanceof AmountLimitError) return err;
    throw err;
  }
  throw new Error("expected an AmountLimitError");
}

describe("per entry", () => {
  it("an award over maxPointsPerEntry is refused: AMOUNT_LIMIT, not retriable, nothing of it earned", () => {
    const p = processor(SMALL);
    const ok = purchase("m", 90_000, T); // 900 + 100 first-purchase bonus
    p.run([ok]);
    expect(earned(p, ok)).toBe(1_000);
    const big = purchase("m", 150_000, T + HOUR); // base 1,500 > 1,000
    const err = refusal(() => p.run([big]));
    expect(err.code).toBe("AMOUNT_LIMIT");
    expect(err.limit).toBe("entry");
    expect(err.retriable).toBe(false);
    expect(isRetriable(err)).toBe(false);
    expect(err.message).toMatch(
      /award of 1500 points by rule base-points to m exceeds maxPointsPerEntry 1000/,
    );
    expect(p.bySource.get(big.event.eventId)).toBeUndefined();
    expect(p.entries.every((e) => e.sourceEventId !== big.event.eventId)).toBe(true);
    expect(DLQ_REASONS.AMOUNT_LIMIT).toMatch(/exceed/);
  });

  it("at the cap exactly is written", () => {
    const p = processor(SMALL);
    const e = purchase("m", 100_000, T);
    p.run([e]);
    expect(
      Object.fromEntries((p.bySource.get(e.event.eventId)?.entries ?? []).map((x) => [x.ruleId, x.points])),
    ).toEqual({ "base-points": 1_000, "first-purchase": 100 });
  });
});

describe("per member per day", () => {
  it("counts every award of the member's programme day and refuses the event that would pass the cap", () => {
    const p = processor(SMALL);
    const a = purchase("m", 90_000, T); // 900 + 100
    const b = purchase("m", 30_000, T + HOUR); // 300 x the tier the first order reached
    p.run([a, b]);
    expect(earned(p, a)).toBe(1_000);
    const day = programmeDay(T, "America/New_York");
    const used = p.usageDelta.get(usageKey("m", PROGRAMME_DAY_USAGE, "day", day));
    expect(used).toBe(1_000 + earned(p, b));
    expect(earned(p, b)).toBeGreaterThanOrEqual(300);
    const c = purchase("m", 100_000, T + 2 * HOUR); // base 1,000: at the entry cap, over the day's
    const err = refusal(() => p.run([c]));
    expect(err.limit).toBe("member-day");
    expect(err.message).toMatch(
      /points would take m to \d+ on 2024-03-10, over maxPointsPerMemberPerDay 2000/,
    );
    expect(p.bySource.get(c.event.eventId)).toBeUndefined();
    expect(p.usageDelta.get(usageKey("m", PROGRAMME_DAY_USAGE, "day", day))).toBe(used);
    // Another member, and the same member on the next programme day, are not affected.
    const other = purchase("x", 30_000, T + 2 * HOUR);
    const tomorrow = purchase("m", 30_000, T + 12 * HOUR); // 05:00 next day in New York
    p.run([other, tomorrow]);
    expect(earned(p, other)).toBe(400); // 300 + the first-purchase bonus
    expect(earned(p, tomorrow)).toBeGreaterThanOrEqual(300);
  });

  it("starts from the day total loaded from the store", () => {
    const state = emptyState();
    const day = programmeDay(T, "America/New_York");
    state.usage.set(usageKey("m", PROGRAMME_DAY_USAGE, "day", day), 1_950);
    const p = processor(SMALL, "1", state);
    const e = purchase("m", 5_000, T); // 50 + 100 first-purchase bonus
    expect(refusal(() => p.run([e])).limit).toBe("member-day");
    const p2 = processor(
      SMALL,
      "1",
      (() => {
        const s = emptyState();
        s.usage.set(usageKey("m", PROGRAMME_DAY_USAGE, "day", day), 1_850);
        return s;
      })(),
    );
    p2.run([e]);
    expect(earned(p2, e)).toBe(150);
  });

  it("the referrer's day counts the referrer's awards", () => {
    const p = processor({
      ...SMALL,
      maxPointsPerEntry: 500,
      maxPointsPerMemberPerDay: 500,
      maxOrderAmountMinor: 25_000,
    });
    const enrol = (id: string, memberId: string): EngineEvent => {
      const event: MemberChanged = {
        eventId: id,
        type: "ENROLLED",
        memberId,
        eventTime: T,
        referrerMemberId: "ref",
        birthday: null,
      } as unknown as MemberChanged;
      return { kind: "member", event };
    };
    p.run([enrol("r1", "new1")]);
    expect(p.entries.filter((e) => e.memberId === "ref").map((e) => e.points)).toEqual([500]);
    expect(refusal(() => p.run([enrol("r2", "new2")])).message).toMatch(/would take ref to 1000/);
  });
});

describe("the safe-integer range", () => {
  it("an award past Number.MAX_SAFE_INTEGER is refused as AMOUNT_LIMIT, not written rounded", () => {
    const wide: ProgrammeConfig = {
      ...PROGRAMME,
      maxPointsPerEntry: Number.MAX_SAFE_INTEGER,
      maxPointsPerMemberPerDay: Number.MAX_SAFE_INTEGER,
      maxOrderAmountMinor: 100,
    };
    // Valid for orders up to 1.00 USD; the engine meets a far larger one.
    const p = processor(wide, "999999999999");
    const err = refusal(() => p.run([purchase("m", Number.MAX_SAFE_INTEGER, T)]));
    expect(err.limit).toBe("range");
    expect(err.code).toBe("AMOUNT_LIMIT");
    expect(err.message).toMatch(/outside ±9007199254740991/);
  });
});
