import { TOPICS, avroTypeOf, schemaErrors } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { compileFx, decodeJson, normaliseOrder, validateOrder } from "../../src/domain/index.ts";
import { FUZZ_CURRENCIES, type FuzzMessage, generateFuzz } from "../support/fuzz.ts";

const orderType = avroTypeOf(TOPICS.orders);
const purchaseType = avroTypeOf(TOPICS.purchases);
const fx = compileFx({
  baseCurrency: "USD",
  rates: FUZZ_CURRENCIES.filter((c) => c !== "USD").map((currency, i) => ({
    currency,
    effectiveFrom: "2019-01-01",
    rate: ["1.0832", "0.0066917", "3.2547", "1.2711"][i]!,
  })),
});

function outcome(
  m: FuzzMessage,
): { valid: true; orderId: string } | { valid: false; code: string; reason: string } {
  const decoded = decodeJson(m.bytes);
  if (!decoded.ok) return { valid: false, code: decoded.code, reason: decoded.reason };
  const v = validateOrder(decoded.value);
  if (!v.ok) return { valid: false, code: v.code, reason: v.reason };
  return { valid: true, orderId: v.value.orderId };
}

describe("fuzz", () => {
  const messages = generateFuzz(20240601, 10_000);

  it("every message's decode + validate outcome is exactly its expectation (10,000 messages)", () => {
    const wrong: string[] = [];
    for (const [i, m] of messages.entries()) {
      const got = outcome(m);
      const same =
        got.valid === m.expect.valid &&
        (got.valid
          ? got.orderId === (m.expect as { orderId: string }).orderId
          : got.code === (m.expect as { code: string }).code);
      if (!same)
        wrong.push(`#${i} ${m.label}: expected ${JSON.stringify(m.expect)}, got ${JSON.stringify(got)}`);
    }
    expect(wrong.slice(0, 20)).toEqual([]);
  });

  it("covers every hostile kind and every reason code the gate can give", () => {
    const codes = new Set(messages.flatMap((m) => (m.expect.valid ? [] : [m.expect.code])));
    expect([...codes].sort()).toEqual(
      [
        "EMPTY_PAYLOAD",
        "FORBIDDEN_KEY",
        "INVALID_AMOUNT",
        "INVALID_TIMESTAMP",
        "LINES_MISMATCH",
        "MALFORMED_JSON",
        "MISSING_CUSTOMER_ID",
        "OVERSIZE_PAYLOAD",
        "SCHEMA_VIOLATION",
        "TOO_DEEP",
        "UNKNOWN_CURRENCY",
      ].sort(),
    );
    const valid = messages.filter((m) => m.expect.valid).length;
    expect(valid).toBeGreaterThan(3500);
    expect(valid).toBeLessThan(4500);
    const labels = new Set(messages.map((m) => m.label.split(" ")[0]));
    for (const l of [
      "truncated",
      "random",
      "huge",
      "nested",
      "root",
      "lines[0].__proto__",
      "deep",
      "negative",
      "unknown",
      "lines",
      "no",
    ]) {
      expect(labels, l).toContain(l);
    }
  });

  it("valid messages have unique order ids and normalise into schema-valid purchases", () => {
    const ids = new Set<string>();
    for (const m of messages) {
      if (!m.expect.valid) continue;
      ids.add(m.expect.orderId);
      const v = validateOrder((decodeJson(m.bytes) as { value: unknown }).value);
      if (!v.ok) throw new Error(v.reason);
      expect(schemaErrors(orderType, v.value)).toEqual([]);
      expect(Object.keys(v.value)).not.toContain("x-debug");
      const p = normaliseOrder(v.value, { memberId: v.value.customerId, fx });
      if (!p.ok) throw new Error(`${m.expect.orderId}: ${p.reason}`);
      expect(schemaErrors(purchaseType, p.value)).toEqual([]);
      if (v.value.type === "ORDER_PLACED" && p.value.lines.length > 0) {
        expect(p.value.lines.reduce((a, l) => a + l.baseLineTotalMinor, 0)).toBe(p.value.baseAmountMinor);
      }
    }
    expect(ids.size).toBe(messages.filter((m) => m.expect.valid).length);
  });

  it("is deterministic per seed", () => {
    const again = generateFuzz(20240601, 500);
    expect(again.map((m) => m.bytes.toString("base64"))).toEqual(
      messages.slice(0, 500).map((m) => m.bytes.toString("base64")),
    );
    const other = generateFuzz(7, 500);
    expect(other.map((m) => m.bytes.toString("base64"))).not.toEqual(
      again.map((m) => m.bytes.toString("base64")),
    );
  });

  it("aims at configured limits", () => {
    const small = generateFuzz(3, 2000, { maxBytes: 8192, maxDepth: 8 });
    for (const m of small) {
      const d = decodeJson(m.bytes, { maxBytes: 8192, maxDepth: 8 });
      if (m.label === "huge") expect(d).toMatchObject({ code: "OVERSIZE_PAYLOAD" });
      if (m.label === "depth limit + 1") expect(d).toMatchObject({ code: "TOO_DEEP" });
    }
  });
});
