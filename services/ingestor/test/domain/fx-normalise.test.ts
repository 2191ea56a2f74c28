import { TOPICS, avroTypeOf, schemaErrors } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import {
  allocateConverted,
  autoEnrolment,
  compileFx,
  convertMinor,
  divRound,
  formatDecimal,
  memberIdFor,
  normaliseMember,
  normaliseOrder,
  parseDecimal,
  parseMemberIdPolicy,
  rateAt,
  validateMember,
} from "../../src/domain/index.ts";
import { Rng } from "../support/fuzz.ts";
import { order, unwrap } from "./helpers.ts";

const purchaseType = avroTypeOf(TOPICS.purchases);
const memberChangeType = avroTypeOf(TOPICS.memberChanges);

const fx = compileFx({
  baseCurrency: "USD",
  rates: [
    { currency: "EUR", effectiveFrom: "2024-01-01", rate: "1.0832" },
    { currency: "EUR", effectiveFrom: "2024-07-01", rate: "1.0700" },
    { currency: "JPY", effectiveFrom: "2024-01-01", rate: "0.0066917" },
    { currency: "KWD", effectiveFrom: "2024-01-01", rate: "3.2547" },
    { currency: "GBP", effectiveFrom: "2024-01-01T00:00:00+01:00", rate: "1.5" },
  ],
});
const dec = (s: string) => parseDecimal(s)!;

describe("money", () => {
  it("rounds half-even, half-up and down exactly", () => {
    const r = (n: bigint, d: bigint, m?: "half-even" | "half-up" | "down") => divRound(n, d, m);
    expect([r(5n, 2n), r(7n, 2n), r(9n, 2n), r(11n, 4n)]).toEqual([2n, 4n, 4n, 3n]);
    expect([r(-5n, 2n), r(-7n, 2n)]).toEqual([-2n, -4n]);
    expect([r(5n, 2n, "half-up"), r(7n, 2n, "half-up"), r(-5n, 2n, "half-up")]).toEqual([3n, 4n, -3n]);
    expect([r(19n, 10n, "down"), r(-19n, 10n, "down")]).toEqual([1n, -1n]);
  });

  it("parses and prints decimals canonically", () => {
    expect(parseDecimal("1.0832")).toEqual({ units: 10832n, scale: 4 });
    for (const bad of ["", "1.", ".5", "-1", "1e3", " 1", "1,5", "0x10"])
      expect(parseDecimal(bad), bad).toBeNull();
    expect(["1.0700", "1.0", "0.00", "007.50", "0.0066917"].map((s) => formatDecimal(dec(s)))).toEqual([
      "1.07",
      "1",
      "0",
      "7.5",
      "0.0066917",
    ]);
  });
});

describe("FX", () => {
  it("picks the latest rate effective at the event time", () => {
    expect(rateAt(fx, "EUR", Date.UTC(2024, 5, 30, 23, 59, 59, 999))?.text).toBe("1.0832");
    expect(rateAt(fx, "EUR", Date.UTC(2024, 6, 1))?.text).toBe("1.07");
    expect(rateAt(fx, "EUR", Date.UTC(2030, 0, 1))?.text).toBe("1.07");
    expect(rateAt(fx, "EUR", Date.UTC(2023, 11, 31, 23, 59, 59, 999))).toBeNull();
    expect(rateAt(fx, "GBP", Date.UTC(2023, 11, 31, 23))?.text).toBe("1.5"); // 00:00+01:00 is 23:00Z
    expect(rateAt(fx, "USD", 0)?.text).toBe("1");
    expect(rateAt(fx, "CHF", Date.UTC(2024, 5, 1))).toBeNull();
  });

  it("converts JPY (0 decimals) to USD exactly", () => {
    // 12,345 JPY * 0.0066917 = 82.6090365 USD = 8260.90365 cents -> 8261
    expect(convertMinor(12345n, "JPY", "USD", dec("0.0066917"))).toBe(8261n);
    // 1 JPY = 0.66917 cents -> 1 cent; 0 stays 0
    expect(convertMinor(1n, "JPY", "USD", dec("0.0066917"))).toBe(1n);
    expect(convertMinor(0n, "JPY", "USD", dec("0.0066917"))).toBe(0n);
  });

  it("converts KWD (3 decimals) to USD exactly", () => {
    // 1.234 KWD * 3.2547 = 4.0162998 USD = 401.62998 cents -> 402
    expect(convertMinor(1234n, "KWD", "USD", dec("3.2547"))).toBe(402n);
    // 0.005 KWD * 3.2547 = 1.62735 cents -> 2
    expect(convertMinor(5n, "KWD", "USD", dec("3.2547"))).toBe(2n);
  });

  it("converts towards a currency with fewer decimals, and rounds ties to even", () => {
    // 1.99 USD * 151.25 JPY = 300.9875 JPY -> 301
    expect(convertMinor(199n, "USD", "JPY", dec("151.25"))).toBe(301n);
    // 0.02 USD * 150.25 = 3.005 JPY -> 3 ; ties: 1.5 -> 2, 4.5 -> 4, 7.5 -> 8
    expect(convertMinor(2n, "USD", "JPY", dec("150.25"))).toBe(3n);
    expect([1n, 3n, 5n].map((c) => convertMinor(c, "EUR", "USD", dec("1.5")))).toEqual([2n, 4n, 8n]);
    expect(convertMinor(3n, "EUR", "USD", dec("1.5"), "half-up")).toBe(5n);
    // exact beyond 2^53 in the intermediate product: 9007199254740991 * 32547 / 10^5
    // = 2931573141440550.34077 (a float says 2931573141440550.5 and would round the wrong way)
    expect(convertMinor(9_007_199_254_740_991n, "KWD", "USD", dec("3.2547"), "half-up")).toBe(
      2_931_573_141_440_550n,
    );
    // a real tie at that size: 9007199254740991 * 0.5 = 4503599627370495.5 -> even neighbour
    expect(convertMinor(9_007_199_254_740_991n, "USD", "EUR", dec("0.5"))).toBe(4_503_599_627_370_496n);
  });

  it("allocates the rounding remainder so converted lines sum exactly (largest remainder, ties to the earlier line)", () => {
    // 333, 333, 334 EUR cents * 1.0832 = 360.7056, 360.7056, 361.7888 ; total 1083.2 -> 1083
    const r = allocateConverted([333n, 333n, 334n], "EUR", "USD", dec("1.0832"));
    expect(r).toEqual({ total: 1083n, parts: [361n, 360n, 362n] });
    expect(allocateConverted([], "EUR", "USD", dec("1.0832"))).toEqual({ total: 0n, parts: [] });
  });

  it("keeps the allocation exact and within one unit of each exact share, for random orders", () => {
    const rng = new Rng(7);
    const currencies = ["USD", "EUR", "JPY", "KWD", "CLF", "BHD", "XOF"];
    for (let n = 0; n < 2000; n++) {
      const from = rng.pick(currencies);
      const to = rng.pick(currencies);
      const rate = dec(`${rng.int(0, 300)}.${String(rng.int(0, 9_999_999)).padStart(7, "0")}`);
      if (rate.units === 0n) continue;
      const parts = Array.from({ length: rng.int(1, 8) }, () => BigInt(rng.int(0, 10_000_000)));
      const mode = rng.pick(["half-even", "half-up", "down"] as const);
      const r = allocateConverted(parts, from, to, rate, mode);
      expect(r.parts.reduce((a, b) => a + b, 0n)).toBe(r.total);
      expect(r.total).toBe(
        convertMinor(
          parts.reduce((a, b) => a + b, 0n),
          from,
          to,
          rate,
          mode,
        ),
      );
      parts.forEach((p, i) => {
        const exactFloor = convertMinor(p, from, to, rate, "down");
        expect(r.parts[i]! - exactFloor >= 0n && r.parts[i]! - exactFloor <= 1n).toBe(true);
      });
    }
  });

  it("refuses bad configuration with the offending path", () => {
    const bad =
      (rates: unknown[], baseCurrency = "USD") =>
      () =>
        compileFx({ baseCurrency, rates });
    expect(bad([{ currency: "EUR", effectiveFrom: "2024-01-01", rate: "abc" }])).toThrow(/rates\.0\.rate/);
    expect(bad([{ currency: "EUR", effectiveFrom: "2024-01-01", rate: "0" }])).toThrow(/positive/);
    expect(bad([{ currency: "EUR", effectiveFrom: "2024-02-30", rate: "1" }])).toThrow(/effectiveFrom/);
    expect(bad([{ currency: "ECU", effectiveFrom: "2024-01-01", rate: "1" }])).toThrow(/ISO 4217/);
    expect(bad([{ currency: "USD", effectiveFrom: "2024-01-01", rate: "1" }])).toThrow(/base currency/);
    expect(bad([], "usd")).toThrow(/baseCurrency/);
    expect(
      bad([
        { currency: "EUR", effectiveFrom: "2024-01-01", rate: "1" },
        { currency: "EUR", effectiveFrom: "2024-01-01T00:00:00Z", rate: "2" },
      ]),
    ).toThrow(/two EUR rates/);
  });
});

describe("normaliseOrder", () => {
  it("maps a placement to a PURCHASE with base amounts and exact lines", () => {
    const o = order({
      currency: "EUR",
      totalMinor: 1000,
      lines: [
        { lineId: "L1", sku: "A", quantity: 1, unitPriceMinor: 333, lineTotalMinor: 333 },
        { lineId: "L2", sku: "B", quantity: 1, unitPriceMinor: 333, lineTotalMinor: 333 },
        { lineId: "L3", sku: "C", quantity: 2, unitPriceMinor: 167, lineTotalMinor: 334 },
      ],
      channel: "web",
    });
    const p = unwrap(normaliseOrder(o, { memberId: "c-1", fx }));
    expect(p).toMatchObject({
      type: "PURCHASE",
      memberId: "c-1",
      source: "shop-eu",
      orderId: "o-1",
      eventTime: o.occurredAt,
      amountMinor: 1000,
      currency: "EUR",
      baseAmountMinor: 1083,
      baseCurrency: "USD",
      fxRate: "1.0832",
      channel: "web",
      refundId: null,
      refundedLineIds: [],
    });
    expect(p.eventId).toMatch(/^pur-[0-9a-f]{32}$/);
    expect(p.lines.map((l) => l.baseLineTotalMinor)).toEqual([361, 360, 362]);
    expect(p.lines[2]).toEqual({
      lineId: "L3",
      sku: "C",
      category: null,
      quantity: 2,
      unitPriceMinor: 167,
      baseLineTotalMinor: 362,
    });
    expect(schemaErrors(purchaseType, p)).toEqual([]);
  });

  it("uses rate 1 for the base currency and maps refunds and cancellations", () => {
    const usd = order({
      currency: "USD",
      type: "ORDER_REFUNDED",
      refundId: "r-1",
      refundedLineIds: ["L2"],
      totalMinor: 500,
      lines: [],
    });
    const p = unwrap(normaliseOrder(usd, { memberId: "m", fx }));
    expect(p).toMatchObject({
      type: "REFUND",
      fxRate: "1",
      baseAmountMinor: 500,
      refundId: "r-1",
      refundedLineIds: ["L2"],
    });
    expect(p.eventId).toMatch(/^ref-/);
    const cancel = order({ currency: "USD", type: "ORDER_CANCELLED", totalMinor: 3000 });
    const c = unwrap(
      normaliseOrder(cancel, { memberId: "m", fx, applied: { amountMinor: 1000, refundedLineIds: ["L2"] } }),
    );
    expect(c).toMatchObject({
      type: "CANCELLATION",
      amountMinor: 1000,
      baseAmountMinor: 1000,
      refundedLineIds: ["L2"],
    });
    expect(c.lines.map((l) => l.lineId)).toEqual(["L2"]);
    expect(c.lines[0]?.baseLineTotalMinor).toBe(1000);
    expect(schemaErrors(purchaseType, c)).toEqual([]);
  });

  it("converts at rateTime when given (a refund at its order's rate)", () => {
    const refund = order({
      currency: "EUR",
      type: "ORDER_REFUNDED",
      refundId: "r",
      totalMinor: 10000,
      lines: [],
      occurredAt: "2024-08-01T00:00:00Z",
    });
    expect(unwrap(normaliseOrder(refund, { memberId: "m", fx })).baseAmountMinor).toBe(10700);
    const atOrder = unwrap(normaliseOrder(refund, { memberId: "m", fx, rateTime: Date.UTC(2024, 2, 1) }));
    expect(atOrder).toMatchObject({
      baseAmountMinor: 10832,
      fxRate: "1.0832",
      eventTime: Date.UTC(2024, 7, 1),
    });
  });

  it("converts lines that do not add up one by one", () => {
    const refund = order({ currency: "EUR", type: "ORDER_REFUNDED", refundId: "r", totalMinor: 100 });
    const p = unwrap(normaliseOrder(refund, { memberId: "m", fx }));
    expect(p.baseAmountMinor).toBe(108);
    expect(p.lines.map((l) => l.baseLineTotalMinor)).toEqual([2166, 1083]);
  });

  it("rejects UNKNOWN_CURRENCY without a rate and INVALID_AMOUNT when the base amount overflows", () => {
    const chf = order({ currency: "CHF", lines: [] });
    expect(normaliseOrder(chf, { memberId: "m", fx })).toEqual({
      ok: false,
      code: "UNKNOWN_CURRENCY",
      reason: "no CHF -> USD rate effective at 2024-06-01T10:00:00.000Z",
    });
    const early = order({ currency: "EUR", lines: [], occurredAt: "2023-06-01T00:00:00Z" });
    expect(normaliseOrder(early, { memberId: "m", fx })).toMatchObject({ code: "UNKNOWN_CURRENCY" });
    const jpyBase = compileFx({
      baseCurrency: "JPY",
      rates: [{ currency: "USD", effectiveFrom: "2000-01-01", rate: "151.25" }],
    });
    const huge = order({ currency: "USD", lines: [], totalMinor: Number.MAX_SAFE_INTEGER });
    expect(normaliseOrder(huge, { memberId: "m", fx: jpyBase })).toMatchObject({ code: "INVALID_AMOUNT" });
  });
});

describe("members", () => {
  it("maps member events and resolves member ids through the policy", () => {
    const reg = unwrap(
      validateMember({
        source: "crm",
        type: "MEMBER_REGISTERED",
        customerId: "42",
        occurredAt: 1,
        referrerCustomerId: "7",
      }),
    );
    const m = normaliseMember(reg);
    expect(m).toMatchObject({
      type: "ENROLLED",
      memberId: "42",
      eventTime: 1,
      enrolledVia: "registration",
      referrerMemberId: "7",
    });
    expect(m.eventId).toMatch(/^mem-[0-9a-f]{32}$/);
    expect(schemaErrors(memberChangeType, m)).toEqual([]);
    const policy = parseMemberIdPolicy({ namespaces: { crm: "acme" } });
    expect(normaliseMember(reg, policy)).toMatchObject({ memberId: "acme:42", referrerMemberId: "acme:7" });
    const upd = unwrap(
      validateMember({
        source: "crm",
        type: "MEMBER_PROFILE_UPDATED",
        customerId: "42",
        occurredAt: 2,
        birthday: "--12-24",
      }),
    );
    expect(normaliseMember(upd)).toMatchObject({
      type: "PROFILE_UPDATED",
      enrolledVia: null,
      birthday: "--12-24",
    });
  });

  it("member id policy: shared by default, namespaced per configured source", () => {
    expect(memberIdFor("123", "shop")).toBe("123");
    expect(memberIdFor("123", "pos")).toBe("123");
    const policy = parseMemberIdPolicy({ namespaces: { "acquired-shop": "acq", constructor: "ctor" } });
    expect(memberIdFor("123", "acquired-shop", policy)).toBe("acq:123");
    expect(memberIdFor("123", "shop", policy)).toBe("123");
    expect(memberIdFor("123", "constructor", policy)).toBe("ctor:123");
    expect(memberIdFor("123", "toString", policy)).toBe("123");
    expect(() => parseMemberIdPolicy({ namespaces: { x: "Bad Namespace" } })).toThrow(/namespaces\.x/);
    expect(() => parseMemberIdPolicy({ namespace: {} })).toThrow();
  });

  it("auto-enrolment derives one id per member", () => {
    const a = autoEnrolment(order({ orderId: "o-1" }));
    const b = autoEnrolment(order({ orderId: "o-2", source: "pos" }));
    expect(a.eventId).toBe(b.eventId);
    expect(a).toMatchObject({ type: "ENROLLED", memberId: "c-1", enrolledVia: "auto-enrolment" });
    expect(schemaErrors(memberChangeType, a)).toEqual([]);
  });
});
