import { readFileSync } from "node:fs";
import { TOPICS, avroTypeOf, schemaErrors } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import {
  type ReplayRecord,
  type UpstreamOrderJson,
  compileFx,
  createReplayState,
  decodeJson,
  detectFormat,
  memberIdFor,
  normaliseOrder,
  parseLine,
  parseText,
  validateOrder,
} from "../../src/domain/index.ts";
import { datasetFile } from "./datasets.ts";

const fx = compileFx({ baseCurrency: "USD", rates: [] });
const purchaseType = avroTypeOf(TOPICS.purchases);
const orderType = avroTypeOf(TOPICS.orders);
const master = readFileSync(datasetFile("cdnow", "CDNOW_master.txt"), "utf8");
const sample = readFileSync(datasetFile("cdnow", "CDNOW_sample.txt"), "utf8");

function orders(records: ReplayRecord[]): UpstreamOrderJson[] {
  const errors = records.filter((r) => r.kind === "error");
  expect(errors).toEqual([]);
  return records.flatMap((r) => (r.kind === "order" ? [r.order] : []));
}

// Parsed once for the tests that only read it; the determinism test parses again.
let masterCache: UpstreamOrderJson[] | undefined;
const masterOrders = (): UpstreamOrderJson[] => {
  masterCache ??= orders(parseText(master));
  return masterCache;
};

describe("CDNOW files", () => {
  it("have CRLF line endings, both of them", () => {
    expect(master.split("\n")[0]).toMatch(/\r$/);
    expect(sample.split("\n")[0]).toMatch(/\r$/);
    expect(detectFormat(master.split("\n")[0]!)).toBe("cdnow-master");
    expect(detectFormat(sample.split("\n")[0]!)).toBe("cdnow-sample");
  });

  it("master: all 69,659 rows become orders that validate and normalise, for 23,570 customers", () => {
    const all = masterOrders();
    expect(all).toHaveLength(69_659);
    expect(new Set(all.map((o) => o.customerId)).size).toBe(23_570);
    expect(new Set(all.map((o) => o.orderId)).size).toBe(69_659);
    let zero = 0;
    let cents = 0;
    const problems: string[] = [];
    for (const upstream of all) {
      // through the same path as a real message: bytes -> decode -> validate -> normalise
      const decoded = decodeJson(Buffer.from(JSON.stringify(upstream)));
      if (!decoded.ok) throw new Error(`${upstream.orderId}: ${decoded.reason}`);
      const v = validateOrder(decoded.value);
      if (!v.ok) throw new Error(`${upstream.orderId}: ${v.code} ${v.reason}`);
      const p = normaliseOrder(v.value, { memberId: memberIdFor(v.value.customerId, v.value.source), fx });
      if (!p.ok) throw new Error(`${upstream.orderId}: ${p.code} ${p.reason}`);
      if (p.value.amountMinor === 0) zero++;
      cents += p.value.baseAmountMinor;
      if (p.value.baseAmountMinor !== upstream.totalMinor) problems.push(`${upstream.orderId}: USD changed`);
      // both sides of the contract: what upstream sends fits orders.v1, what we emit fits purchases.v1
      const errs = [...schemaErrors(orderType, v.value), ...schemaErrors(purchaseType, p.value)];
      if (errs.length > 0) problems.push(`${upstream.orderId}: ${errs.join(", ")}`);
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(zero).toBe(80);
    // the file's dollar column, summed with awk over the exact strings: 2,500,315.63
    expect(cents).toBe(250_031_563);
  });

  it("master: rows map exactly (first row, same-day repeats, date range)", () => {
    const all = masterOrders();
    expect(all[0]).toEqual({
      source: "cdnow",
      type: "ORDER_PLACED",
      orderId: "cdnow-00001-19970101-0",
      revision: 0,
      customerId: "00001",
      occurredAt: Date.UTC(1997, 0, 1),
      currency: "USD",
      totalMinor: 1177,
      lines: [
        {
          lineId: "1",
          sku: "CD",
          category: "music",
          quantity: 1,
          unitPriceMinor: 1177,
          lineTotalMinor: 1177,
        },
      ],
    });
    // same customer, same day: k counts up, occurredAt keeps them distinct and ordered
    const repeats = all.filter((o) => !o.orderId.endsWith("-0"));
    // 67,591 distinct customer-days; 1,774 of them have 2..16 rows (checked with sort | uniq -c)
    expect(repeats).toHaveLength(69_659 - 67_591);
    expect(new Set(repeats.map((o) => o.orderId.replace(/-\d+$/, ""))).size).toBe(1774);
    for (const r of repeats) {
      const k = Number(r.orderId.split("-").at(-1));
      expect(r.occurredAt % 86_400_000).toBe(k);
    }
    const dates = all.map((o) => o.occurredAt);
    const first = dates.reduce((a, b) => Math.min(a, b));
    const last = dates.reduce((a, b) => Math.max(a, b));
    expect(first).toBe(Date.UTC(1997, 0, 1));
    expect(last - (last % 86_400_000)).toBe(Date.UTC(1998, 5, 30));
  });

  it("is deterministic: replaying the file twice gives identical orders", () => {
    const a = masterOrders();
    const b = orders(parseText(master));
    // compared as text: one string compare instead of a deep walk of 69,659 objects
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("sample: 6,919 rows for 2,357 customers, the same order ids as their master rows", () => {
    const s = orders(parseText(sample));
    expect(s).toHaveLength(6919);
    expect(new Set(s.map((o) => o.customerId)).size).toBe(2357);
    const byId = new Map(masterOrders().map((o) => [o.orderId, o]));
    for (const o of s) expect(byId.get(o.orderId)).toEqual(o);
    for (const o of s) expect(validateOrder(o).ok).toBe(true);
  });
});

describe("parseLine", () => {
  it("parses a streamed master file line by line, CRLF or LF", () => {
    const state = createReplayState();
    const lines = [
      " customer_id  date number_of_cds  dollar_value\r",
      " 00007 19970105  0    0.00\r",
      " 00007 19970105  3   35.5",
      "",
    ];
    const out = lines.map((l, i) => parseLine(l, i, state));
    expect(out.map((r) => r.kind)).toEqual(["skip", "order", "order", "skip"]);
    expect(state.format).toBe("cdnow-master");
    const [, zero, second] = out;
    expect(zero?.kind === "order" && zero.order.lines[0]).toEqual({
      lineId: "1",
      sku: "CD",
      category: "music",
      quantity: 0,
      unitPriceMinor: 0,
      lineTotalMinor: 0,
    });
    expect(second?.kind === "order" && second.order).toMatchObject({
      orderId: "cdnow-00007-19970105-1",
      occurredAt: Date.UTC(1997, 0, 5) + 1,
      totalMinor: 3550,
      lines: [{ quantity: 3, unitPriceMinor: 1183, lineTotalMinor: 3550 }],
    });
  });

  it("converts dollars to cents through the digits, never a float", () => {
    // 1.005 * 100 = 100.49999999999999 in floating point; 0.29 * 100 = 28.999999999999996
    const [a, b] = parseText(" 1 19970101 1 0.29\n 1 19970101 1 4.35\n");
    expect(a?.kind === "order" && a.order.totalMinor).toBe(29);
    expect(b?.kind === "order" && b.order.totalMinor).toBe(435);
  });

  it("reports bad rows with a code and the line number", () => {
    const out = parseText(
      " 1 19970101 1 11.777\n 1 19970230 1 1.00\n 1 19970101 x 1.00\n 1 19970101 1 -1.00\n",
      "cdnow-master",
    );
    expect(out.map((r) => (r.kind === "error" ? `${r.lineNumber} ${r.code}` : r.kind))).toEqual([
      "1 INVALID_AMOUNT",
      "2 INVALID_TIMESTAMP",
      "3 SCHEMA_VIOLATION",
      "4 INVALID_AMOUNT",
    ]);
    expect(parseText("hello world")).toMatchObject([{ kind: "error", code: "SCHEMA_VIOLATION" }]);
    // a header is only a header on the first line
    expect(parseText(" 1 19970101 1 1.00\ncustomer_id date cds dollars\n")[1]).toMatchObject({
      kind: "error",
    });
  });

  it("parses JSON Lines safely, passing the raw line on", () => {
    const text = '{"orderId":"a"}\r\n\n{"__proto__":{}}\n{"orderId":\n';
    const out = parseText(text);
    expect(out.map((r) => (r.kind === "error" ? r.code : r.kind))).toEqual([
      "json",
      "FORBIDDEN_KEY",
      "MALFORMED_JSON",
    ]);
    expect(out[0]).toMatchObject({
      kind: "json",
      lineNumber: 1,
      value: { orderId: "a" },
      payload: '{"orderId":"a"}',
    });
    expect(out[1]).toMatchObject({ lineNumber: 3, payload: '{"__proto__":{}}' });
  });
});
