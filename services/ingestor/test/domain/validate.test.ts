import { TOPICS, avroTypeOf, schemaErrors } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { decodeJson, parseIsoTimestamp, validateMember, validateOrder } from "../../src/domain/index.ts";
import { orderJson, unwrap } from "./helpers.ts";

const orderType = avroTypeOf(TOPICS.orders);
const memberType = avroTypeOf(TOPICS.members);

const orderCode = (over: Record<string, unknown>) => {
  const r = validateOrder(orderJson(over));
  return r.ok ? "OK" : r.code;
};

describe("validateOrder", () => {
  it("turns upstream JSON into an orders.v1 value", () => {
    const value = unwrap(validateOrder(orderJson()));
    expect(value).toEqual({
      source: "shop-eu",
      type: "ORDER_PLACED",
      orderId: "o-1",
      revision: 0,
      customerId: "c-1",
      occurredAt: Date.UTC(2024, 5, 1, 10),
      currency: "EUR",
      totalMinor: 3000,
      lines: [
        {
          lineId: "L1",
          sku: "A",
          category: "books",
          quantity: 2,
          unitPriceMinor: 1000,
          lineTotalMinor: 2000,
        },
        { lineId: "L2", sku: "B", category: null, quantity: 1, unitPriceMinor: 1000, lineTotalMinor: 1000 },
      ],
      channel: null,
      storeId: null,
      refundId: null,
      refundedLineIds: [],
    });
    expect(schemaErrors(orderType, value)).toEqual([]);
  });

  it("fills Avro defaults for absent optional fields", () => {
    const { revision: _r, lines: _l, ...minimal } = orderJson({ totalMinor: 5 });
    const value = unwrap(validateOrder(minimal));
    expect(value).toMatchObject({ revision: 0, lines: [], channel: null, refundedLineIds: [] });
    expect(schemaErrors(orderType, value)).toEqual([]);
  });

  it("ignores unknown fields and never copies them", () => {
    const value = unwrap(validateOrder(orderJson({ "x-debug": { a: 1 }, internalNote: "hi" })));
    expect(Object.keys(value)).not.toContain("x-debug");
    expect(Object.keys(value)).not.toContain("internalNote");
    const line = unwrap(
      validateOrder(
        orderJson({ lines: [{ ...(orderJson().lines as object[])[0], extra: 1 }], totalMinor: 2000 }),
      ),
    ).lines[0];
    expect(Object.keys(line ?? {})).not.toContain("extra");
  });

  it("accepts an Avro-decoded value (class instance with prototype methods)", () => {
    const encoded = orderType.toBuffer(unwrap(validateOrder(orderJson())));
    const decoded: unknown = orderType.fromBuffer(encoded);
    expect(unwrap(validateOrder(decoded))).toEqual(unwrap(validateOrder(orderJson())));
  });

  it("never reads inherited properties", () => {
    // customerId inherited through the prototype chain is not the message's customerId
    const proto = { customerId: "c-evil" };
    const { customerId: _own, ...rest } = orderJson();
    const input = Object.assign(Object.create(proto) as Record<string, unknown>, rest);
    expect(validateOrder(input)).toMatchObject({ ok: false, code: "MISSING_CUSTOMER_ID" });
  });

  it("reports MISSING_CUSTOMER_ID for absent, null and blank ids", () => {
    for (const customerId of [undefined, null, "", "  "])
      expect(orderCode({ customerId })).toBe("MISSING_CUSTOMER_ID");
    expect(orderCode({ customerId: 42 })).toBe("SCHEMA_VIOLATION");
  });

  it("reports SCHEMA_VIOLATION naming the field", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ source: undefined }, "source is required"],
      [
        { type: "ORDER_SHIPPED" },
        'type must be one of ORDER_PLACED, ORDER_REFUNDED, ORDER_CANCELLED, got "ORDER_SHIPPED"',
      ],
      [{ orderId: 7 }, "orderId must be a string, got 7"],
      [{ orderId: "a\u0000b" }, "orderId contains a control character"],
      [{ orderId: "x".repeat(257) }, "orderId is 257 characters, over 256"],
      [{ revision: 1.5 }, "revision must be an integer from 0 to 2147483647, got 1.5"],
      [{ currency: 978 }, "currency must be a string, got 978"],
      [{ totalMinor: "3000" }, 'totalMinor must be a number, got "3000"'],
      [{ lines: "none" }, 'lines must be an array, got "none"'],
      [{ lines: [null] }, "lines[0] must be an object, got null"],
      [
        { lines: [{ lineId: "L1", sku: "A", quantity: "1", unitPriceMinor: 1, lineTotalMinor: 1 }] },
        'lines[0].quantity must be a number, got "1"',
      ],
      [
        { lines: [{ lineId: "L1", quantity: 1, unitPriceMinor: 1, lineTotalMinor: 1 }] },
        "lines[0].sku is required",
      ],
      [{ channel: 3 }, "channel must be a string or null, got 3"],
      [{ type: "ORDER_REFUNDED" }, "refundId is required on ORDER_REFUNDED"],
      [
        { type: "ORDER_REFUNDED", refundId: "r1", refundedLineIds: ["L1", "L1"] },
        "refundedLineIds names a line twice",
      ],
      [
        { type: "ORDER_REFUNDED", refundId: "r1", refundedLineIds: "L1" },
        'refundedLineIds must be an array, got "L1"',
      ],
    ];
    for (const [over, reason] of cases) {
      expect(validateOrder(orderJson(over)), reason).toEqual({ ok: false, code: "SCHEMA_VIOLATION", reason });
    }
    const dup = orderJson().lines as Array<Record<string, unknown>>;
    expect(validateOrder(orderJson({ lines: [dup[0], dup[0]], totalMinor: 4000 }))).toMatchObject({
      code: "SCHEMA_VIOLATION",
      reason: 'lines[1].lineId "L1" is used by an earlier line',
    });
    for (const root of [null, [], "order", 5, true]) {
      expect(validateOrder(root)).toMatchObject({ ok: false, code: "SCHEMA_VIOLATION" });
    }
  });

  it("reports UNKNOWN_CURRENCY for codes not in ISO 4217", () => {
    for (const currency of ["XYZ", "usd", "EURO", "", "HRK", "XAU"])
      expect(orderCode({ currency }), currency).toBe("UNKNOWN_CURRENCY");
    for (const currency of ["USD", "JPY", "KWD", "CLF", "XOF"])
      expect(orderCode({ currency, lines: [] }), currency).toBe("OK");
  });

  it("reports INVALID_AMOUNT for negative, fractional and unsafe amounts", () => {
    for (const totalMinor of [-1, 0.5, Number.MAX_SAFE_INTEGER + 2, Number.POSITIVE_INFINITY]) {
      expect(orderCode({ totalMinor, lines: [] }), String(totalMinor)).toBe("INVALID_AMOUNT");
    }
    expect(orderCode({ totalMinor: Number.MAX_SAFE_INTEGER, lines: [] })).toBe("OK");
    expect(orderCode({ totalMinor: 0, lines: [] })).toBe("OK");
    const line = { lineId: "L1", sku: "A", quantity: 1, unitPriceMinor: 5, lineTotalMinor: 5 };
    expect(orderCode({ totalMinor: 5, lines: [{ ...line, quantity: -1 }] })).toBe("INVALID_AMOUNT");
    expect(orderCode({ totalMinor: 5, lines: [{ ...line, unitPriceMinor: 1.25 }] })).toBe("INVALID_AMOUNT");
    expect(orderCode({ totalMinor: 5, lines: [{ ...line, lineTotalMinor: -5 }] })).toBe("INVALID_AMOUNT");
    // from text: 9007199254740993 cannot be represented and is refused
    const text = JSON.stringify(orderJson({ lines: [] })).replace(
      '"totalMinor":3000',
      '"totalMinor":9007199254740993',
    );
    expect(validateOrder(unwrap(decodeJson(text)))).toMatchObject({ code: "INVALID_AMOUNT" });
  });

  it("reports LINES_MISMATCH only for placements with lines", () => {
    expect(validateOrder(orderJson({ totalMinor: 3001 }))).toEqual({
      ok: false,
      code: "LINES_MISMATCH",
      reason: "lines add up to 3000 but totalMinor is 3001 (2 lines)",
    });
    expect(orderCode({ totalMinor: 3001, lines: [] })).toBe("OK");
    expect(orderCode({ totalMinor: 1000, type: "ORDER_REFUNDED", refundId: "r1" })).toBe("OK");
    // sums beyond 2^53 are compared exactly
    const big = Number.MAX_SAFE_INTEGER;
    const line = (id: string, v: number) => ({
      lineId: id,
      sku: "A",
      quantity: 1,
      unitPriceMinor: v,
      lineTotalMinor: v,
    });
    expect(orderCode({ totalMinor: big, lines: [line("a", big), line("b", 1)] })).toBe("LINES_MISMATCH");
  });

  it("accepts epoch millis and ISO-8601 with offset; refuses the rest with INVALID_TIMESTAMP", () => {
    const at = (occurredAt: unknown) => validateOrder(orderJson({ occurredAt }));
    expect(unwrap(at(1717236000000)).occurredAt).toBe(1717236000000);
    expect(unwrap(at("2024-06-01T12:00:00+02:00")).occurredAt).toBe(Date.UTC(2024, 5, 1, 10));
    expect(unwrap(at("2024-06-01T05:30:00.123-0430")).occurredAt).toBe(Date.UTC(2024, 5, 1, 10, 0, 0, 123));
    expect(unwrap(at("2024-06-01T10:00Z")).occurredAt).toBe(Date.UTC(2024, 5, 1, 10));
    expect(unwrap(at("2024-06-01T10:00:00.123456789Z")).occurredAt).toBe(Date.UTC(2024, 5, 1, 10, 0, 0, 123));
    expect(unwrap(at("2024-02-29T00:00:00Z")).occurredAt).toBe(Date.UTC(2024, 1, 29));
    expect(unwrap(at(0)).occurredAt).toBe(0);
    expect(unwrap(at(new Date(Date.UTC(2024, 0, 1)))).occurredAt).toBe(Date.UTC(2024, 0, 1));
    for (const bad of [
      undefined,
      null,
      -1,
      Date.UTC(2100, 0, 1),
      1.5,
      "2024-06-01T10:00:00",
      "2024-06-01",
      "2023-02-29T00:00:00Z",
      "2024-06-01T24:00:00Z",
      "2024-06-01T10:00:60Z",
      "2024-06-01T10:00:00+19:00",
      "1969-12-31T23:59:59Z",
      "2100-01-01T00:00:00Z",
      "June 1st",
      true,
      {},
    ]) {
      expect(at(bad), String(bad)).toMatchObject({ ok: false, code: "INVALID_TIMESTAMP" });
    }
    // the offset decides the range: 1970-01-01T00:30+01:00 is 1969 in UTC
    expect(parseIsoTimestamp("1970-01-01T00:30:00+01:00")).toBe(-1_800_000);
    expect(at("1970-01-01T00:30:00+01:00")).toMatchObject({ code: "INVALID_TIMESTAMP" });
  });

  it("normalises empty optional strings to null and drops refund fields outside refunds", () => {
    const v = unwrap(
      validateOrder(orderJson({ channel: "", storeId: null, refundId: "r-9", refundedLineIds: ["L1"] })),
    );
    expect(v).toMatchObject({ channel: null, storeId: null, refundId: null, refundedLineIds: [] });
    const refund = unwrap(
      validateOrder(orderJson({ type: "ORDER_REFUNDED", refundId: "r-9", refundedLineIds: ["L1"] })),
    );
    expect(refund).toMatchObject({ refundId: "r-9", refundedLineIds: ["L1"] });
  });
});

describe("validateMember", () => {
  const member = (over: Record<string, unknown> = {}) => ({
    source: "crm",
    type: "MEMBER_REGISTERED",
    customerId: "c-1",
    occurredAt: 1717236000000,
    birthday: "1990-02-28",
    referrerCustomerId: "c-2",
    unknown: 1,
    ...over,
  });

  it("turns upstream JSON into a members.v1 value", () => {
    const v = unwrap(validateMember(member()));
    expect(v).toEqual({
      source: "crm",
      type: "MEMBER_REGISTERED",
      customerId: "c-1",
      revision: 0,
      occurredAt: 1717236000000,
      birthday: "1990-02-28",
      referrerCustomerId: "c-2",
    });
    expect(schemaErrors(memberType, v)).toEqual([]);
  });

  it("checks birthdays, referrers and the usual fields", () => {
    const code = (over: Record<string, unknown>) => {
      const r = validateMember(member(over));
      return r.ok ? "OK" : r.code;
    };
    expect(code({ birthday: "--02-29" })).toBe("OK");
    expect(code({ birthday: null, referrerCustomerId: "" })).toBe("OK");
    expect(code({ birthday: "1990-02-29" })).toBe("SCHEMA_VIOLATION");
    expect(code({ birthday: "1990-13-01" })).toBe("SCHEMA_VIOLATION");
    expect(code({ birthday: "02-28" })).toBe("SCHEMA_VIOLATION");
    expect(code({ referrerCustomerId: "c-1" })).toBe("SCHEMA_VIOLATION");
    expect(code({ type: "MEMBER_DELETED" })).toBe("SCHEMA_VIOLATION");
    expect(code({ customerId: null })).toBe("MISSING_CUSTOMER_ID");
    expect(code({ occurredAt: "2024-01-01T00:00:00" })).toBe("INVALID_TIMESTAMP");
    expect(code({ revision: -2 })).toBe("SCHEMA_VIOLATION");
  });
});
