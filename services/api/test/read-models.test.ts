// The tiers and churn-alerts read models' pure steps: decoded record → row (or why not), frontier
// markers skipped, and members per tier per week from the per-week deltas.
import type { ChurnAlert, TierChanged } from "@loyalty/contracts";
import { TransientError } from "@loyalty/stream-runtime";
import { describe, expect, it } from "vitest";
import { churnAlertRow, decodeValue, epochMs, tierChangeRow } from "../src/read-models.ts";
import { tiersByWeekFrom, weekStart } from "../src/store/read-models.ts";

const at = { partition: 2, offset: "41" };
const change = (over: Partial<TierChanged> = {}): TierChanged => ({
  eventId: "tier-1",
  memberId: "m1",
  fromTier: "base",
  toTier: "silver",
  direction: "UP",
  reason: "QUALIFIED",
  metric: "spend",
  metricValue: 50_000,
  threshold: 40_000,
  effectiveAt: Date.UTC(1997, 2, 5),
  evaluationDate: null,
  ...over,
});
const alert = (over: Partial<ChurnAlert> = {}): ChurnAlert => ({
  eventId: "alert-1",
  memberId: "m1",
  eventTime: Date.UTC(1997, 5, 1),
  pAlive: 0.31,
  expectedPurchases: 0.4,
  horizonDays: 90,
  expectedValueMinor: 12_345,
  currency: "USD",
  segment: "at-risk",
  actionLevel: "high-value-at-risk",
  reason: "pAlive below 0.4",
  modelVersion: "fit-7",
  bgnbd: null,
  ...over,
});

describe("tierChangeRow", () => {
  it("keeps member, tiers, why, effective time and position", () => {
    expect(tierChangeRow(at, change())).toEqual({
      ok: true,
      row: {
        eventId: "tier-1",
        memberId: "m1",
        fromTier: "base",
        toTier: "silver",
        direction: "UP",
        reason: "QUALIFIED",
        effectiveAt: Date.UTC(1997, 2, 5),
        partition: 2,
        offset: "41",
      },
    });
  });
  it("refuses a change without member or tier, or with a bad time", () => {
    expect(tierChangeRow(at, change({ memberId: "" })).ok).toBe(false);
    expect(tierChangeRow(at, change({ toTier: "" })).ok).toBe(false);
    expect(tierChangeRow(at, change({ effectiveAt: Number.NaN }))).toEqual({
      ok: false,
      reason: "tier change tier-1: effectiveAt is not a timestamp",
    });
  });
});

describe("churnAlertRow", () => {
  it("keeps what the card and the chart show", () => {
    const out = churnAlertRow(at, alert({ expectedValueMinor: 99n as unknown as number }));
    expect(out).toEqual({
      ok: true,
      row: {
        eventId: "alert-1",
        memberId: "m1",
        eventTime: Date.UTC(1997, 5, 1),
        pAlive: 0.31,
        expectedValueMinor: 99,
        currency: "USD",
        segment: "at-risk",
        actionLevel: "high-value-at-risk",
        modelVersion: "fit-7",
        partition: 2,
        offset: "41",
      },
    });
  });
  it("refuses a bad pAlive or time", () => {
    expect(churnAlertRow(at, alert({ pAlive: Number.NaN })).ok).toBe(false);
    expect(churnAlertRow(at, alert({ eventTime: 1.5 })).ok).toBe(false);
  });
  it("reads timestamps given as Date, bigint or number", () => {
    expect(epochMs(new Date(5))).toBe(5);
    expect(epochMs(5n)).toBe(5);
    expect(epochMs("5")).toBeNull();
  });
});

describe("decodeValue", () => {
  const codec = (f: () => Promise<unknown>) => ({ decode: f as <T>() => Promise<T> });
  it("a value-less record (frontier marker) is null, not a problem", async () => {
    expect(
      await decodeValue(
        codec(async () => ({})),
        null,
      ),
    ).toBeNull();
    expect(
      await decodeValue(
        codec(async () => ({})),
        Buffer.alloc(0),
      ),
    ).toBeNull();
  });
  it("bytes that are not registry-framed are a reason to skip", async () => {
    expect(
      await decodeValue(
        codec(async () => ({})),
        Buffer.from("{}"),
      ),
    ).toEqual({
      ok: false,
      reason: "not registry-framed Avro",
    });
  });
  it("a registry that does not answer is retried, an unknown schema is skipped", async () => {
    const framed = Buffer.from([0, 0, 0, 0, 1, 2]);
    await expect(
      decodeValue(
        codec(async () => {
          throw new Error("fetch failed: ECONNREFUSED");
        }),
        framed,
      ),
    ).rejects.toBeInstanceOf(TransientError);
    expect(
      await decodeValue(
        codec(async () => {
          throw Object.assign(new Error("schema 1 not found"), { status: 404 });
        }),
        framed,
      ),
    ).toEqual({ ok: false, reason: "schema 1 not found" });
  });
});

describe("tiersByWeekFrom", () => {
  const W = 7 * 86_400_000;
  const w0 = weekStart(Date.UTC(1997, 0, 8));
  it("weekStart is Monday 00:00 UTC", () => {
    expect(new Date(w0).toISOString()).toBe("1997-01-06T00:00:00.000Z");
    expect(new Date(weekStart(Date.UTC(1997, 0, 6))).getUTCDay()).toBe(1);
  });
  it("accumulates entries and exits, fills quiet weeks, keeps the last N", () => {
    const deltas = [
      { week: w0, tier: "silver", n: 2 },
      { week: w0 + 2 * W, tier: "gold", n: 1 },
      { week: w0 + 2 * W, tier: "silver", n: -1 },
    ];
    expect(tiersByWeekFrom(deltas, 53)).toEqual({
      to: "1997-01-20",
      tiers: ["gold", "silver"],
      weeks: [
        {
          week: "1997-01-06",
          tiers: [
            { tier: "gold", members: 0 },
            { tier: "silver", members: 2 },
          ],
        },
        {
          week: "1997-01-13",
          tiers: [
            { tier: "gold", members: 0 },
            { tier: "silver", members: 2 },
          ],
        },
        {
          week: "1997-01-20",
          tiers: [
            { tier: "gold", members: 1 },
            { tier: "silver", members: 1 },
          ],
        },
      ],
    });
    const last = tiersByWeekFrom(deltas, 1);
    expect(last.weeks).toEqual([
      {
        week: "1997-01-20",
        tiers: [
          { tier: "gold", members: 1 },
          { tier: "silver", members: 1 },
        ],
      },
    ]);
  });
  it("no changes, no weeks", () => {
    expect(tiersByWeekFrom([], 10)).toEqual({ to: null, tiers: [], weeks: [] });
  });
});
