import { describe, expect, it } from "vitest";
import {
  type RfmInput,
  type RfmSegment,
  quintileScores,
  rfmSegment,
  scoreRfm,
} from "../../src/model/index.ts";

describe("quintileScores", () => {
  it("puts n/5 distinct values in each quintile", () => {
    expect(quintileScores([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect(quintileScores([5, 4, 3, 2, 1])).toEqual([5, 4, 3, 2, 1]);
  });

  it("gives ties one score from their mid-rank, whatever the input order", () => {
    // Sorted: 1 2 3 4 5 5 5 6 7 8; the 5s sit at positions 5..7 → mid-rank percentile 0.55 → 3.
    const values = [5, 5, 5, 1, 2, 3, 4, 6, 7, 8];
    expect(quintileScores(values)).toEqual([3, 3, 3, 1, 1, 2, 2, 4, 5, 5]);
    const reversed = [...values].reverse();
    expect(quintileScores(reversed)).toEqual([3, 3, 3, 1, 1, 2, 2, 4, 5, 5].reverse());
    expect(quintileScores([7, 7, 7])).toEqual([3, 3, 3]);
    expect(quintileScores([])).toEqual([]);
  });
});

describe("rfmSegment", () => {
  it("maps (R, F) as documented", () => {
    const cases: [number, number, RfmSegment][] = [
      [5, 5, "champions"],
      [5, 4, "champions"],
      [4, 5, "loyal"],
      [3, 4, "loyal"],
      [5, 3, "potential-loyalist"],
      [4, 2, "potential-loyalist"],
      [5, 1, "new"],
      [4, 1, "promising"],
      [3, 3, "need-attention"],
      [3, 2, "about-to-sleep"],
      [2, 4, "at-risk"],
      [1, 3, "at-risk"],
      [2, 5, "cannot-lose"],
      [2, 2, "hibernating"],
      [1, 2, "hibernating"],
      [1, 1, "lost"],
    ];
    for (const [r, f, segment] of cases) expect(rfmSegment(r, f), `R${r} F${f}`).toBe(segment);
  });

  it("covers all 25 cells with the 11 segments", () => {
    const seen = new Set<RfmSegment>();
    for (let r = 1; r <= 5; r++) for (let f = 1; f <= 5; f++) seen.add(rfmSegment(r, f));
    expect(seen.size).toBe(11);
    expect(() => rfmSegment(0, 3)).toThrow(RangeError);
    expect(() => rfmSegment(3, 2.5)).toThrow(RangeError);
  });
});

describe("scoreRfm", () => {
  it("scores a small population by hand", () => {
    // Ten members; recency in days since the last purchase (lower is better).
    const pop: RfmInput[] = [
      { id: "a", recency: 1, frequency: 20, monetary: 900 },
      { id: "b", recency: 3, frequency: 15, monetary: 800 },
      { id: "c", recency: 7, frequency: 1, monetary: 10 },
      { id: "d", recency: 14, frequency: 9, monetary: 700 },
      { id: "e", recency: 30, frequency: 4, monetary: 60 },
      { id: "f", recency: 45, frequency: 5, monetary: 50 },
      { id: "g", recency: 90, frequency: 12, monetary: 600 },
      { id: "h", recency: 120, frequency: 2, monetary: 40 },
      { id: "i", recency: 200, frequency: 3, monetary: 30 },
      { id: "j", recency: 365, frequency: 1, monetary: 20 },
    ];
    const byId = Object.fromEntries(scoreRfm(pop).map((s) => [s.id, s]));
    // R: recency ranks 1,3 → 5; 7,14 → 4; 30,45 → 3; 90,120 → 2; 200,365 → 1.
    // F sorted: 1 1 2 3 4 5 9 12 15 20; the two 1s share mid-rank 0.1 → 1.
    expect(byId.a).toEqual({ id: "a", r: 5, f: 5, m: 5, segment: "champions" });
    expect(byId.b).toEqual({ id: "b", r: 5, f: 5, m: 5, segment: "champions" });
    expect(byId.c).toEqual({ id: "c", r: 4, f: 1, m: 1, segment: "promising" });
    expect(byId.d).toEqual({ id: "d", r: 4, f: 4, m: 4, segment: "loyal" });
    expect(byId.e).toEqual({ id: "e", r: 3, f: 3, m: 3, segment: "need-attention" });
    expect(byId.g).toEqual({ id: "g", r: 2, f: 4, m: 4, segment: "at-risk" });
    expect(byId.h).toEqual({ id: "h", r: 2, f: 2, m: 2, segment: "hibernating" });
    expect(byId.j).toEqual({ id: "j", r: 1, f: 1, m: 1, segment: "lost" });
  });
});
