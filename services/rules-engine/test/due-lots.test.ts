// The engine's open lots by expiry (src/engine/due-lots.ts), without I/O.
import { describe, expect, it } from "vitest";
import { DueLots } from "../src/engine/due-lots.ts";
import type { LotRow } from "../src/engine/model.ts";

const lot = (lotId: string, memberId: string, expiresAt: number, remaining = 10): LotRow => ({
  lotId,
  memberId,
  points: 10,
  remaining,
  earnedAt: 0,
  expiresAt,
});

describe("due lots", () => {
  it("gives the owner's lots due by a time, soonest first, each once; empty lots never", () => {
    const due = new DueLots([
      lot("c", "m1", 30),
      lot("a", "m1", 10),
      lot("e", "m1", 5, 0),
      lot("b", "m2", 20),
    ]);
    expect(due.size).toBe(3);
    const all = () => true;
    expect(due.takeDue(25, all).map((l) => l.lotId)).toEqual(["a", "b"]);
    expect(due.takeDue(25, all)).toEqual([]);
    due.add(lot("d", "m1", 12));
    expect(due.takeDue(40, all).map((l) => l.lotId)).toEqual(["d", "c"]);
  });

  it("parks other owners' due lots while one owner takes, and gives them back to their owner", () => {
    const due = new DueLots([lot("a", "m1", 10), lot("b", "m2", 11), lot("c", "m2", 50)]);
    const ownsM1 = (m: string) => m === "m1";
    const ownsM2 = (m: string) => m === "m2";
    expect(due.takeDue(20, ownsM1).map((l) => l.lotId)).toEqual(["a"]);
    expect(due.takeDue(30, ownsM1)).toEqual([]);
    expect(due.size).toBe(2);
    expect(due.takeDue(60, ownsM2).map((l) => l.lotId)).toEqual(["b", "c"]);
  });
});
