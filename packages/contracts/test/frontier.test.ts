import { describe, expect, it } from "vitest";
import { FRONTIER_HEADER, frontierHeaders, frontierOf } from "../src/frontier.ts";

describe("frontier marker", () => {
  it("round-trips an event time on a value-less record", () => {
    expect(frontierOf(null, frontierHeaders(899_251_200_000))).toBe(899_251_200_000);
    expect(frontierOf(Buffer.alloc(0), frontierHeaders(-5))).toBe(-5);
  });

  it("is not a marker with a value, without the header, or with a malformed one", () => {
    expect(frontierOf(Buffer.from([0, 1]), frontierHeaders(1))).toBeNull();
    expect(frontierOf(null, {})).toBeNull();
    for (const bad of ["", "1.5", "x", "1e3", "99999999999999999", " 1"])
      expect(frontierOf(null, { [FRONTIER_HEADER]: bad }), bad).toBeNull();
  });
});
