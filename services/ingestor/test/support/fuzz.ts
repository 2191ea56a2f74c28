// Seeded generator of hostile upstream order messages interleaved with valid ones, for the
// ingestion tests (test support, not production code). Deterministic: the same seed gives the same bytes (no Math.random).
// Each hostile message is a valid order with exactly one defect, so its expected rejection
// code is unambiguous.

import type { DlqReasonCode } from "@loyalty/contracts";
import { minorUnits } from "../../src/domain/currencies.ts";
import { DEFAULT_DECODE_LIMITS } from "../../src/domain/decode.ts";
import { MAX_EVENT_TIME } from "../../src/domain/timestamps.ts";

export type FuzzExpectation =
  | { readonly valid: true; readonly orderId: string }
  | { readonly valid: false; readonly code: DlqReasonCode };

export interface FuzzMessage {
  readonly bytes: Buffer;
  readonly expect: FuzzExpectation;
  /** What was done to the message, for test failure output. */
  readonly label: string;
}

export interface FuzzOptions {
  /** The decode size limit the messages are aimed at. */
  readonly maxBytes?: number;
  /** The decode depth limit the messages are aimed at. */
  readonly maxDepth?: number;
  /** Share of valid messages, 0..1. */
  readonly validShare?: number;
}

/** Currencies valid fuzz orders use; the test's FX table needs a rate for each. */
export const FUZZ_CURRENCIES = ["USD", "EUR", "JPY", "KWD", "GBP"] as const;
/** Valid fuzz orders occur in [2020-01-01, 2030-01-01) UTC. */
export const FUZZ_TIME_RANGE = { from: Date.UTC(2020, 0, 1), to: Date.UTC(2030, 0, 1) } as const;

/** mulberry32: tiny, fast, good enough to shuffle test inputs; never for anything secret. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

type Json = Record<string, unknown>;

// Raw JSON text that JSON.stringify cannot produce (1e400, 10,000 brackets) goes in as a
// placeholder, swapped for the text after stringifying.
class RawJson {
  constructor(readonly text: string) {}
}
function raw(text: string): RawJson {
  return new RawJson(text);
}
function encode(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) =>
    v instanceof RawJson ? `\u0001RAW${raws.push(v.text) - 1}` : v,
  );
  return text.replace(/"\\u0001RAW(\d+)"/g, (_m, i: string) => raws[Number(i)]!);
}

function isoWithOffset(millis: number, offsetMinutes: number): string {
  const wall = new Date(millis + offsetMinutes * 60_000).toISOString().slice(0, -1);
  if (offsetMinutes === 0) return `${wall}Z`;
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${wall}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function validOrder(rng: Rng, orderId: string, withLines: boolean | null = null): Json {
  const currency = rng.pick(FUZZ_CURRENCIES);
  const exp = minorUnits(currency)!;
  const roll = rng.next();
  const type = roll < 0.8 ? "ORDER_PLACED" : roll < 0.9 ? "ORDER_REFUNDED" : "ORDER_CANCELLED";
  const lineCount = withLines === true ? rng.int(1, 4) : withLines === false ? 0 : rng.int(0, 4);
  const lines: Json[] = [];
  let total = 0;
  for (let i = 0; i < lineCount; i++) {
    const quantity = rng.int(0, 5);
    const unit = rng.int(0, 10 ** (exp + 3));
    const discount = rng.chance(0.2) ? rng.int(0, Math.floor((quantity * unit) / 10)) : 0;
    const lineTotal = quantity * unit - discount;
    total += lineTotal;
    const line: Json = {
      lineId: `L${i + 1}`,
      sku: `SKU-${rng.int(1, 999)}`,
      quantity,
      unitPriceMinor: unit,
      lineTotalMinor: lineTotal,
    };
    if (rng.chance(0.7)) line.category = rng.pick(["music", "books", "grocery", null, "électronique 🎧"]);
    lines.push(line);
  }
  if (lineCount === 0) total = rng.int(0, 10 ** (exp + 4));
  const millis = rng.int(FUZZ_TIME_RANGE.from, FUZZ_TIME_RANGE.to - 1);
  const occurredAt = rng.chance(0.5)
    ? millis
    : isoWithOffset(millis, rng.pick([0, 60, -300, 330, 840, -720]));
  const order: Json = {
    source: rng.pick(["shop-eu", "pos-17", "app"]),
    type,
    orderId,
    customerId: `c-${rng.int(1, 5000)}`,
    occurredAt,
    currency,
    totalMinor: total,
  };
  if (lineCount > 0 || rng.chance(0.5)) order.lines = lines;
  if (rng.chance(0.5)) order.revision = rng.int(0, 3);
  if (rng.chance(0.5)) order.channel = rng.pick(["web", "store", null, ""]);
  if (rng.chance(0.3)) order.storeId = `store-${rng.int(1, 40)}`;
  if (type === "ORDER_REFUNDED") {
    order.refundId = `r-${rng.int(1, 1_000_000)}`;
    if (lineCount > 0 && rng.chance(0.5)) order.refundedLineIds = ["L1"];
  }
  return order;
}

/** Unknown fields a valid message may carry: ignored by validation, never copied. */
function addNoise(rng: Rng, order: Json, maxDepth: number): void {
  if (rng.chance(0.3)) order["x-debug"] = { trace: `t-${rng.int(1, 1e6)}`, flags: [1, 2, 3] };
  // Brackets inside strings must not count towards depth.
  if (rng.chance(0.1)) order.note = "[[[{{{".repeat(200);
  // Nesting exactly at the limit (root object is level 1) is allowed.
  if (rng.chance(0.05)) order.meta = JSON.parse(`${"[".repeat(maxDepth - 1)}${"]".repeat(maxDepth - 1)}`);
}

interface Limits {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

type Mutation = (
  rng: Rng,
  order: Json,
  limits: Limits,
) => { text?: string; bytes?: Buffer; code: DlqReasonCode; label: string };

function firstLine(order: Json): Json {
  return (order.lines as Json[])[0]!;
}

const MUTATIONS: ReadonlyArray<{ needsLines: boolean; placed?: boolean; apply: Mutation }> = [
  // Empty
  { needsLines: false, apply: () => ({ bytes: Buffer.alloc(0), code: "EMPTY_PAYLOAD", label: "empty" }) },
  { needsLines: false, apply: () => ({ text: " \r\n\t ", code: "EMPTY_PAYLOAD", label: "whitespace only" }) },
  // Truncated JSON: a proper prefix of an object's text is never valid JSON.
  {
    needsLines: false,
    apply: (rng, o) => {
      const text = encode(o);
      return { text: text.slice(0, rng.int(1, text.length - 1)), code: "MALFORMED_JSON", label: "truncated" };
    },
  },
  // Random binary: 0xFF never occurs in UTF-8, so the decoder must refuse it.
  {
    needsLines: false,
    apply: (rng) => {
      const bytes = Buffer.alloc(rng.int(1, 512));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
      bytes[rng.int(0, bytes.length - 1)] = 0xff;
      return { bytes, code: "MALFORMED_JSON", label: "random binary" };
    },
  },
  {
    needsLines: false,
    apply: (rng) => ({
      text: rng.pick([
        "{'orderId': 1}",
        "NaN",
        '{"a":}',
        "[1,2",
        "tru",
        "<order/>",
        '{"a":1}}',
        "undefined",
        "{,}",
      ]),
      code: "MALFORMED_JSON",
      label: "not JSON",
    }),
  },
  // Oversize
  {
    needsLines: false,
    apply: (rng, o, { maxBytes }) => ({
      text: encode({ ...o, padding: "x".repeat(maxBytes + rng.int(0, 4096)) }),
      code: "OVERSIZE_PAYLOAD",
      label: "huge",
    }),
  },
  // Deep nesting: 10,000 levels, and one level over the limit.
  {
    needsLines: false,
    apply: (rng, o) => {
      const open = rng.chance(0.5) ? "[" : '{"a":';
      const close = open === "[" ? "]" : "}";
      const inner = open === "[" ? "" : "1";
      const text = encode({ ...o, meta: raw(`${open.repeat(10_000)}${inner}${close.repeat(10_000)}`) });
      return { text, code: "TOO_DEEP", label: `nested 10k ${open}` };
    },
  },
  {
    needsLines: false,
    // The root object is level 1, so maxDepth brackets inside it make maxDepth + 1 levels.
    apply: (_rng, o, { maxDepth }) => ({
      text: encode({ ...o, meta: raw(`${"[".repeat(maxDepth)}${"]".repeat(maxDepth)}`) }),
      code: "TOO_DEEP",
      label: "depth limit + 1",
    }),
  },
  // Prototype keys, inserted as text (an object literal cannot hold an own __proto__).
  {
    needsLines: false,
    apply: (rng, o) => {
      const key = rng.pick([
        '"__proto__"',
        '"constructor"',
        '"prototype"',
        '"\\u005f_proto__"',
        '"construct\\u006fr"',
      ]);
      return {
        text: `{${key}:{"isAdmin":true},${encode(o).slice(1)}`,
        code: "FORBIDDEN_KEY",
        label: `root ${key}`,
      };
    },
  },
  {
    needsLines: true,
    apply: (rng, o) => {
      const key = rng.pick(["__proto__", "constructor", "prototype"]);
      const text = encode(o).replace('"lines":[{', `"lines":[{"${key}":{"polluted":1},`);
      return { text, code: "FORBIDDEN_KEY", label: `lines[0].${key}` };
    },
  },
  {
    needsLines: false,
    apply: (_rng, o) => ({
      text: encode({ ...o, meta: raw('{"x":[{"y":{"__proto__":{"polluted":1}}}]}') }),
      code: "FORBIDDEN_KEY",
      label: "deep __proto__",
    }),
  },
  // Wrong types
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, totalMinor: String(o.totalMinor) }),
      code: "SCHEMA_VIOLATION",
      label: "totalMinor string",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, orderId: 12345 }),
      code: "SCHEMA_VIOLATION",
      label: "orderId number",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, type: "ORDER_SHIPPED" }),
      code: "SCHEMA_VIOLATION",
      label: "unknown type",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, lines: { lineId: "L1" } }),
      code: "SCHEMA_VIOLATION",
      label: "lines object",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, source: undefined }),
      code: "SCHEMA_VIOLATION",
      label: "no source",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, revision: "1" }),
      code: "SCHEMA_VIOLATION",
      label: "revision string",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, revision: -1 }),
      code: "SCHEMA_VIOLATION",
      label: "revision negative",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, currency: 840 }),
      code: "SCHEMA_VIOLATION",
      label: "currency number",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, customerId: 4711 }),
      code: "SCHEMA_VIOLATION",
      label: "customerId number",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, channel: 5 }),
      code: "SCHEMA_VIOLATION",
      label: "channel number",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, orderId: "o\u0000x" }),
      code: "SCHEMA_VIOLATION",
      label: "NUL in orderId",
    }),
  },
  {
    needsLines: false,
    apply: (rng, o) => ({
      text: encode(rng.pick([[o], "order", 42, null, true])),
      code: "SCHEMA_VIOLATION",
      label: "root not object",
    }),
  },
  {
    needsLines: true,
    apply: (_r, o) => {
      const line = firstLine(o);
      return {
        text: encode({
          ...o,
          lines: [{ ...line, quantity: String(line.quantity) }, ...(o.lines as Json[]).slice(1)],
        }),
        code: "SCHEMA_VIOLATION",
        label: "quantity string",
      };
    },
  },
  {
    needsLines: true,
    apply: (_r, o) => ({
      text: encode({ ...o, lines: [...(o.lines as Json[]), "L9"] }),
      code: "SCHEMA_VIOLATION",
      label: "line not object",
    }),
  },
  {
    needsLines: true,
    apply: (_r, o) => {
      const line = firstLine(o);
      return {
        text: encode({ ...o, lines: [...(o.lines as Json[]), { ...line, lineTotalMinor: 0 }] }),
        code: "SCHEMA_VIOLATION",
        label: "duplicate lineId",
      };
    },
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, type: "ORDER_REFUNDED", refundId: null }),
      code: "SCHEMA_VIOLATION",
      label: "refund without refundId",
    }),
  },
  // Amounts
  {
    needsLines: false,
    apply: (rng, o) => ({
      text: encode({ ...o, totalMinor: -rng.int(1, 10_000) }),
      code: "INVALID_AMOUNT",
      label: "negative total",
    }),
  },
  {
    needsLines: false,
    apply: (_r, o) => ({
      text: encode({ ...o, totalMinor: (o.totalMinor as number) + 0.5 }),
      code: "INVALID_AMOUNT",
      label: "fractional total",
    }),
  },
  {
    needsLines: false,
    apply: (rng, o) => ({
      text: encode({ ...o, totalMinor: raw(rng.pick(["9007199254740993", "1e400", "-0.01", "1e21"])) }),
      code: "INVALID_AMOUNT",
      label: "total out of range",
    }),
  },
  {
    needsLines: true,
    apply: (rng, o) => {
      const field = rng.pick(["lineTotalMinor", "unitPriceMinor", "quantity"]);
      const value = rng.pick([-1, 1.5]);
      const line = { ...firstLine(o), [field]: value };
      return {
        text: encode({ ...o, lines: [line, ...(o.lines as Json[]).slice(1)] }),
        code: "INVALID_AMOUNT",
        label: `line ${field} ${value}`,
      };
    },
  },
  // Currency
  {
    needsLines: false,
    apply: (rng, o) => ({
      text: encode({ ...o, currency: rng.pick(["XYZ", "usd", "EURO", "", "HRK", "XAU", "€"]) }),
      code: "UNKNOWN_CURRENCY",
      label: "unknown currency",
    }),
  },
  // Lines that do not add up
  {
    needsLines: true,
    placed: true,
    apply: (rng, o) => ({
      text: encode({ ...o, totalMinor: (o.totalMinor as number) + rng.int(1, 99) }),
      code: "LINES_MISMATCH",
      label: "lines mismatch",
    }),
  },
  // Customer id
  {
    needsLines: false,
    apply: (rng, o) => ({
      text: encode({ ...o, customerId: rng.pick([undefined, null, "", "   "]) }),
      code: "MISSING_CUSTOMER_ID",
      label: "no customer id",
    }),
  },
  // Timestamps
  {
    needsLines: false,
    apply: (rng, o) => {
      const bad = rng.pick<unknown>([
        -1,
        MAX_EVENT_TIME,
        1e15,
        1.5,
        "2024-13-01T00:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01",
        "yesterday",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:00+25:00",
        true,
        undefined,
        { seconds: 1 },
      ]);
      return {
        text: encode({ ...o, occurredAt: bad }),
        code: "INVALID_TIMESTAMP",
        label: `occurredAt ${JSON.stringify(bad)}`,
      };
    },
  },
];

/** `count` messages for `seed`; about validShare of them valid (default 0.4). */
export function generateFuzz(seed: number, count: number, options: FuzzOptions = {}): FuzzMessage[] {
  const rng = new Rng(seed);
  const maxDepth = options.maxDepth ?? DEFAULT_DECODE_LIMITS.maxDepth;
  const maxBytes = options.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes;
  const validShare = options.validShare ?? 0.4;
  const out: FuzzMessage[] = [];
  for (let i = 0; i < count; i++) {
    const orderId = `fuzz-${seed}-${i}`;
    if (rng.chance(validShare)) {
      const order = validOrder(rng, orderId);
      addNoise(rng, order, maxDepth);
      const text = encode(order);
      // Some upstreams prefix a UTF-8 byte-order mark; it is not an error.
      const bytes = rng.chance(0.05)
        ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])
        : Buffer.from(text);
      out.push({ bytes, expect: { valid: true, orderId }, label: "valid" });
      continue;
    }
    const mutation = rng.pick(MUTATIONS);
    let order = validOrder(rng, orderId, mutation.needsLines ? true : null);
    if (mutation.placed)
      order = { ...order, type: "ORDER_PLACED", refundId: undefined, refundedLineIds: undefined };
    const result = mutation.apply(rng, order, { maxBytes, maxDepth });
    const bytes = result.bytes ?? Buffer.from(result.text ?? "", "utf8");
    out.push({ bytes, expect: { valid: false, code: result.code }, label: result.label });
  }
  return out;
}
