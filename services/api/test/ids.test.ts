import { describe, expect, it } from "vitest";
import { canonicalJson, expirySourceOf, redemptionIdOf, requestHash } from "../src/domain/ids.ts";

describe("ids", () => {
  it("are stable and distinct", () => {
    expect(redemptionIdOf("k", "x")).toBe(redemptionIdOf("k", "x"));
    expect(redemptionIdOf("k", "x")).not.toBe(redemptionIdOf("k2", "x"));
    expect(redemptionIdOf("k", "x")).toMatch(/^rdm-[0-9a-f]{32}$/);
    expect(expirySourceOf("lot", 0)).toBe("expiry:lot");
    expect(expirySourceOf("lot", 2)).toBe("expiry:lot:2");
  });
  it("hash requests independently of key order", () => {
    expect(canonicalJson({ b: 1, a: [1, { d: null, c: "x" }] })).toBe('{"a":[1,{"c":"x","d":null}],"b":1}');
    expect(requestHash({ a: 1, b: 2 })).toBe(requestHash({ b: 2, a: 1 }));
    expect(requestHash({ a: 1 })).not.toBe(requestHash({ a: 2 }));
  });
});
