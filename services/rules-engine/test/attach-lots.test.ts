// attachLots (engine/model.ts): each entry of a decided batch carries, for its loyalty.points.v1
// record, the lot it opened (with its expiry) and the lot movements it made, in order.
import { describe, expect, it } from "vitest";
import { type EntryRow, type LotRow, attachLots, toMovement } from "../src/engine/model.ts";

const T = Date.UTC(1997, 2, 5);
const entry = (entryId: string, kind: EntryRow["kind"], points: number): EntryRow => ({
  entryId,
  memberId: "m1",
  kind,
  points,
  balanceAfter: 0,
  ruleId: null,
  ruleVersion: null,
  ruleSetId: kind === "earn" ? "standard" : null,
  ruleSetVersion: kind === "earn" ? 4 : null,
  sourceEventId: `src-${entryId}`,
  orderId: null,
  reason: null,
  eventTime: T,
  detail: null,
  lotExpiresAt: null,
});
const lot = (lotId: string, points: number, expiresAt: number): LotRow => ({
  lotId,
  memberId: "m1",
  points,
  remaining: 0,
  earnedAt: T,
  expiresAt,
});

describe("attachLots", () => {
  it("an earn opens its lot, a redemption names the lots it took, an entry without lots gets []", () => {
    const earn = entry("e1", "earn", 100);
    const redeem = entry("r1", "redeem", -120);
    const clawback = entry("c1", "reverse", -5);
    attachLots(
      [earn, redeem, clawback],
      [lot("e1", 100, T + 1000)],
      [
        { entryId: "r1", lotId: "e0", points: -20 },
        { entryId: "r1", lotId: "e1", points: -100 },
      ],
    );
    expect(toMovement(earn)).toMatchObject({
      ruleSetId: "standard",
      lots: [{ lotId: "e1", points: 100, expiresAt: T + 1000 }],
    });
    expect(toMovement(redeem).lots).toEqual([
      { lotId: "e0", points: -20, expiresAt: null },
      { lotId: "e1", points: -100, expiresAt: null },
    ]);
    expect(toMovement(clawback).lots).toEqual([]);
  });

  it("an entry not through attachLots (a simulation) has no lots on its record", () => {
    expect(toMovement(entry("x", "expire", -3)).lots).toEqual([]);
  });
});
