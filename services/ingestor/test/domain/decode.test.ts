import { describe, expect, it } from "vitest";
import { decodeJson, findForbiddenKey, scanDepth } from "../../src/domain/index.ts";

const codeOf = (input: Parameters<typeof decodeJson>[0], limits = {}) => {
  const r = decodeJson(input, limits);
  return r.ok ? "OK" : r.code;
};

describe("decodeJson", () => {
  it("decodes a plain object from bytes or text", () => {
    expect(decodeJson(Buffer.from('{"a":[1,{"b":"c"}]}'))).toEqual({
      ok: true,
      value: { a: [1, { b: "c" }] },
    });
    expect(decodeJson('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it("refuses empty and blank payloads", () => {
    expect(codeOf(null)).toBe("EMPTY_PAYLOAD");
    expect(codeOf(undefined)).toBe("EMPTY_PAYLOAD");
    expect(codeOf(Buffer.alloc(0))).toBe("EMPTY_PAYLOAD");
    expect(codeOf(" \r\n\t")).toBe("EMPTY_PAYLOAD");
  });

  it("refuses payloads over the size limit before parsing them", () => {
    const big = JSON.stringify({ pad: "x".repeat(64 * 1024) });
    const r = decodeJson(big);
    expect(r).toMatchObject({ ok: false, code: "OVERSIZE_PAYLOAD" });
    expect(!r.ok && r.reason).toContain("65536-byte limit");
    expect(codeOf("x".repeat(64 * 1024 + 1))).toBe("OVERSIZE_PAYLOAD");
    // exactly at the limit is allowed
    const exact = `"${"x".repeat(64 * 1024 - 2)}"`;
    expect(codeOf(exact)).toBe("OK");
    expect(codeOf('{"a":1}', { maxBytes: 3 })).toBe("OVERSIZE_PAYLOAD");
  });

  it("counts bytes, not characters", () => {
    expect(codeOf(`"${"é".repeat(10)}"`, { maxBytes: 21 })).toBe("OVERSIZE_PAYLOAD");
    expect(codeOf(`"${"é".repeat(10)}"`, { maxBytes: 22 })).toBe("OK");
  });

  it("refuses invalid UTF-8 and invalid JSON as MALFORMED_JSON", () => {
    expect(codeOf(Buffer.from([0x7b, 0xff, 0x7d]))).toBe("MALFORMED_JSON");
    expect(codeOf(Buffer.from([0x22, 0xc3, 0x22]))).toBe("MALFORMED_JSON"); // truncated 2-byte sequence
    expect(codeOf(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).toBe("MALFORMED_JSON"); // UTF-8 encoded surrogate
    for (const bad of ['{"a":', "{'a':1}", "NaN", "[1,]", '{"a":1}x', "undefined"]) {
      expect(codeOf(bad), bad).toBe("MALFORMED_JSON");
    }
    const r = decodeJson('{"a":');
    expect(!r.ok && r.reason).toMatch(/^payload is not valid JSON: /);
  });

  it("accepts a UTF-8 byte-order mark", () => {
    expect(decodeJson(Buffer.from([0xef, 0xbb, 0xbf, 0x31]))).toEqual({ ok: true, value: 1 });
  });

  it("enforces the nesting limit (root object is level 1)", () => {
    const nest = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    expect(codeOf(nest(32))).toBe("OK");
    expect(codeOf(nest(33))).toBe("TOO_DEEP");
    expect(codeOf(`{"a":${nest(31)}}`)).toBe("OK");
    expect(codeOf(`{"a":${nest(32)}}`)).toBe("TOO_DEEP");
    expect(codeOf(nest(5), { maxDepth: 4 })).toBe("TOO_DEEP");
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const s = JSON.stringify({ note: `${"[{".repeat(1000)}\\"[[[[` });
    expect(codeOf(s)).toBe("OK");
  });

  it("survives a 100,000-deep payload without touching the stack", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const r = decodeJson(deep, { maxBytes: 1024 * 1024 });
    expect(r).toMatchObject({ ok: false, code: "TOO_DEEP" });
    expect(!r.ok && r.reason).toBe("nesting deeper than 32 levels at character 32");
    const objects = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    expect(codeOf(objects, { maxBytes: 1024 * 1024 })).toBe("TOO_DEEP");
    // and unclosed: still TOO_DEEP, found before parsing
    expect(codeOf("[".repeat(100_000), { maxBytes: 1024 * 1024 })).toBe("TOO_DEEP");
  });

  it("refuses prototype keys anywhere, however they are spelled", () => {
    const cases: Array<[string, string]> = [
      ['{"__proto__":{"admin":true}}', '"__proto__" at (root)'],
      ['{"a":{"constructor":{"prototype":{}}}}', '"constructor" at a'],
      ['{"lines":[{"sku":"x"},{"prototype":1}]}', '"prototype" at lines[1]'],
      ['{"\\u005f_proto__":1}', '"__proto__" at (root)'],
      ['[{"x":[[{"construct\\u006fr":1}]]}]', '"constructor" at (root)[0].x[0][0]'],
    ];
    for (const [text, where] of cases) {
      const r = decodeJson(text);
      expect(r, text).toMatchObject({ ok: false, code: "FORBIDDEN_KEY" });
      expect(!r.ok && r.reason, text).toBe(`forbidden key ${where}`);
    }
    // as values they are harmless
    expect(codeOf('{"name":"__proto__","k":["constructor"]}')).toBe("OK");
    // and nothing was polluted
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it("scanDepth and findForbiddenKey are usable on their own", () => {
    expect(scanDepth("[[]]", 2)).toBeNull();
    expect(scanDepth("[[[]]]", 2)).toBe(2);
    expect(findForbiddenKey(JSON.parse('{"a":[{"b":1}]}'))).toBeNull();
  });
});
