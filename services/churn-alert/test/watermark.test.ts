import { describe, expect, it } from "vitest";
import { type SourceClock, sourceWatermark } from "../src/watermark.ts";

const clock = (partition: number, source: string, time: number): SourceClock => ({ partition, source, time });

describe("sourceWatermark", () => {
  it("is the minimum over every (input partition, source partition) pair heard from", () => {
    const clocks = [
      clock(0, "orders/0", 500),
      clock(0, "orders/1", 200),
      clock(1, "orders/0", 400),
      clock(1, "orders/1", 300),
    ];
    expect(sourceWatermark(2, clocks)).toBe(200);
  });

  it("is not the per-partition maximum when one source runs ahead", () => {
    // The per-partition watermark (min over partitions of the max seen) would say 900 here.
    const clocks = [
      clock(0, "orders/0", 900),
      clock(0, "orders/1", 100),
      clock(1, "orders/0", 950),
      clock(1, "orders/1", 120),
    ];
    expect(sourceWatermark(2, clocks)).toBe(100);
  });

  it("does not wait for a pair that has never delivered", () => {
    // One source per partition (member ids are the upstream keys): orders/1 never feeds partition 0.
    expect(sourceWatermark(2, [clock(0, "orders/0", 500), clock(1, "orders/1", 300)])).toBe(300);
  });

  it("waits for an input partition nothing has been consumed from", () => {
    expect(sourceWatermark(3, [clock(0, "orders/0", 500), clock(1, "orders/1", 300)])).toBeNull();
    expect(sourceWatermark(3, [])).toBeNull();
  });

  it("counts records that name no source as a source of their own", () => {
    expect(sourceWatermark(2, [clock(0, "", 300), clock(1, "", 700)])).toBe(300);
    expect(
      sourceWatermark(2, [clock(0, "", 150), clock(0, "orders/0", 500), clock(1, "orders/0", 600)]),
    ).toBe(150);
  });

  it("ignores partitions outside the input topic", () => {
    expect(sourceWatermark(1, [clock(0, "orders/0", 500), clock(3, "orders/0", 1)])).toBe(500);
  });
});
