import { describe, expect, it } from "vitest";
import { copyField, copyText } from "../src/copy.ts";

describe("COPY text format", () => {
  it("writes NULL as \\N and escapes backslash, newline, carriage return and tab", () => {
    expect(copyField(null)).toBe("\\N");
    expect(copyField(undefined)).toBe("\\N");
    expect(copyField("a\\b\nc\rd\te")).toBe("a\\\\b\\nc\\rd\\te");
    // The literal text \N is data, not NULL, once its backslash is escaped.
    expect(copyField("\\N")).toBe("\\\\N");
    expect(copyField("plain ünïcode ✓")).toBe("plain ünïcode ✓");
  });

  it("escapes every field, not only the first of a row (a global regex keeps state)", () => {
    expect(
      copyText([
        ["x\ty", "p\tq"],
        ["a", "b\\c"],
      ]),
    ).toBe("x\\ty\tp\\tq\na\tb\\\\c\n");
  });

  it("writes numbers, bigints, booleans, dates and JSON", () => {
    expect(copyField(-42)).toBe("-42");
    expect(copyField(9007199254740993n)).toBe("9007199254740993");
    expect(copyField(true)).toBe("t");
    expect(copyField(new Date(Date.UTC(1997, 0, 1, 0, 0, 0, 1)))).toBe("1997-01-01T00:00:00.001Z");
    expect(copyField({ a: "tab\there", b: [1, null] })).toBe('{"a":"tab\\\\there","b":[1,null]}');
    expect(() => copyField(Number.NaN)).toThrow(RangeError);
  });
});
