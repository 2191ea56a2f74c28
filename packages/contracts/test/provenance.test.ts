import { describe, expect, it } from "vitest";
import { SOURCE_HEADER, sourceHeaders, sourceOf } from "../src/provenance.ts";

describe("source header", () => {
  it("round-trips a topic and partition", () => {
    expect(sourceOf(sourceHeaders("demo.orders.v1", 5))).toEqual({ topic: "demo.orders.v1", partition: 5 });
  });

  it("names no source when absent or malformed", () => {
    expect(sourceOf({})).toBeNull();
    for (const bad of ["orders", "/3", "orders/", "orders/-1", "orders/1.5", "orders/01", "orders/x"])
      expect(sourceOf({ [SOURCE_HEADER]: bad }), bad).toBeNull();
  });
});
