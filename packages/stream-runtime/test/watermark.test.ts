// The whole-group watermark and ADR 8's idle rule, without Kafka or PostgreSQL.
import { describe, expect, it } from "vitest";
import { IdleRule, type InputPosition, LaneClocks, consumedToEnd, punctuationTime } from "../src/index.ts";

function clocks(partitions: number, lanes: Array<[number, string, number]>): LaneClocks {
  const c = new LaneClocks(partitions);
  for (const [p, lane, t] of lanes) c.observe(p, lane, t);
  return c;
}

const at = (partition: number, next: number, high: number): InputPosition => ({
  topic: "in",
  partition,
  next: BigInt(next),
  high: BigInt(high),
});

describe("LaneClocks", () => {
  it("is the minimum over every (partition, lane) heard from", () => {
    const c = clocks(2, [
      [0, "orders/0", 500],
      [0, "orders/1", 200],
      [1, "orders/0", 400],
      [1, "orders/1", 300],
    ]);
    expect(c.watermark()).toBe(200);
    expect(c.latest()).toBe(500);
    expect(c.streamTime(0)).toBe(500);
  });

  it("is not the per-partition maximum when one lane runs ahead", () => {
    // The minimum over partitions of their stream times would say 900 here.
    const c = clocks(2, [
      [0, "orders/0", 900],
      [0, "orders/1", 100],
      [1, "orders/0", 950],
      [1, "orders/1", 120],
    ]);
    expect(c.watermark()).toBe(100);
  });

  it("with one lane per partition is the minimum of the partitions' stream times", () => {
    expect(
      clocks(3, [
        [0, "", 700],
        [1, "", 300],
        [2, "", 900],
      ]).watermark(),
    ).toBe(300);
  });

  it("does not wait for a lane that has never delivered", () => {
    expect(
      clocks(2, [
        [0, "orders/0", 500],
        [1, "orders/1", 300],
      ]).watermark(),
    ).toBe(300);
  });

  it("waits for a partition nothing has been heard from", () => {
    const c = clocks(3, [
      [0, "orders/0", 500],
      [1, "orders/1", 300],
    ]);
    expect(c.watermark()).toBeNull();
    expect(c.latest()).toBe(500);
    expect(new LaneClocks(3).watermark()).toBeNull();
    expect(new LaneClocks(0).watermark()).toBeNull();
  });

  it("never moves a lane back, ignores non-finite times and partitions outside the input", () => {
    const c = clocks(1, [
      [0, "", 500],
      [0, "", 100],
      [0, "", Number.NaN],
      [3, "", 1],
    ]);
    expect(c.watermark()).toBe(500);
    expect(c.latest()).toBe(500);
  });

  it("restores what lanesOf gave", () => {
    const a = clocks(2, [
      [0, "x", 5],
      [0, "y", 7],
      [1, "x", 6],
    ]);
    const b = new LaneClocks(2);
    b.restore(0, a.lanesOf(0));
    b.restore(1, a.lanesOf(1));
    expect(b.watermark()).toBe(5);
    expect([...b.lanesOf(0)]).toEqual([
      ["x", 5],
      ["y", 7],
    ]);
  });
});

describe("IdleRule", () => {
  it("counts a gap of one (a transaction's commit marker) as consumed to the end", () => {
    expect(consumedToEnd([at(0, 9, 10), at(1, 0, 0)])).toBe(true);
    expect(consumedToEnd([at(0, 8, 10)])).toBe(false);
  });

  it("releases once the input has stood consumed to the same ends for idleMs", () => {
    const rule = new IdleRule(1000);
    const ends = [at(0, 10, 10), at(1, 5, 6)];
    expect(rule.idle(ends, 0)).toBe(false);
    expect(rule.idle(ends, 999)).toBe(false);
    expect(rule.idle(ends, 1000)).toBe(true);
  });

  it("starts over when an end moves or a partition is behind", () => {
    const rule = new IdleRule(1000);
    expect(rule.idle([at(0, 10, 10)], 0)).toBe(false);
    // New records arrived and were consumed: the same quiet does not count across them.
    expect(rule.idle([at(0, 12, 12)], 900)).toBe(false);
    expect(rule.idle([at(0, 12, 12)], 1800)).toBe(false);
    expect(rule.idle([at(0, 12, 12)], 1900)).toBe(true);
    // Behind the end: the quiet is forgotten, even if the same ends come back.
    expect(rule.idle([at(0, 12, 14)], 2000)).toBe(false);
    expect(rule.idle([at(0, 14, 14)], 2100)).toBe(false);
    expect(rule.idle([at(0, 14, 14)], 3099)).toBe(false);
    expect(rule.idle([at(0, 14, 14)], 3100)).toBe(true);
    rule.reset();
    expect(rule.idle([at(0, 14, 14)], 3200)).toBe(false);
  });
});

describe("punctuationTime", () => {
  const never = async (): Promise<InputPosition[]> => {
    throw new Error("positions asked for");
  };

  it("is the watermark while the tail is held back, the latest time once idle", async () => {
    const c = clocks(2, [
      [0, "", 100],
      [1, "", 300],
    ]);
    const rule = new IdleRule(500);
    const positions = async () => [at(0, 4, 5), at(1, 7, 7)];
    expect(await punctuationTime(c, rule, positions, () => 0)).toBe(100);
    expect(await punctuationTime(c, rule, positions, () => 499)).toBe(100);
    expect(await punctuationTime(c, rule, positions, () => 500)).toBe(300);
  });

  it("asks nothing of the broker when there is no tail", async () => {
    const rule = new IdleRule(500);
    expect(await punctuationTime(new LaneClocks(2), rule, never, () => 0)).toBeNull();
    const even = clocks(2, [
      [0, "", 300],
      [1, "", 300],
    ]);
    expect(await punctuationTime(even, rule, never, () => 0)).toBe(300);
  });

  it("releases a partition nothing was heard from once the input is idle", async () => {
    const c = clocks(2, [[0, "", 100]]);
    const rule = new IdleRule(10);
    const positions = async () => [at(0, 1, 1), at(1, 0, 0)];
    expect(await punctuationTime(c, rule, positions, () => 0)).toBeNull();
    expect(await punctuationTime(c, rule, positions, () => 10)).toBe(100);
  });
});
