// Seeded generator of hostile upstream member events (members.v1) interleaved with valid ones, as
// JSON and as registry-framed Avro (test support, not production code). Deterministic: the same
// seed and schema ids give the same bytes. Each hostile message is a valid event with exactly one
// defect, so its expected rejection code is unambiguous; valid ones may be sent twice (an
// at-least-once upstream) and must still be applied once.

import type { DlqReasonCode, MemberEvent } from "@loyalty/contracts";
import type avro from "avsc";
import { DEFAULT_DECODE_LIMITS } from "../../src/domain/decode.ts";
import { memberEventId } from "../../src/domain/event-id.ts";
import { FUZZ_TIME_RANGE, Rng } from "./fuzz.ts";

export type MemberFuzzExpectation =
  | { readonly valid: true; readonly eventId: string; readonly customerId: string; readonly source: string }
  | { readonly valid: false; readonly code: DlqReasonCode };

export interface MemberFuzzMessage {
  readonly bytes: Buffer;
  readonly expect: MemberFuzzExpectation;
  /** What was done to the message, for test failure output and the printed counts. */
  readonly label: string;
  /** Kafka key: the customer id of a valid event; for a hostile one its index, or binary garbage. */
  readonly key: string | Buffer;
}

/** Registry-framed Avro: the upstream schema's id and type, and another topic's (orders.v1). */
export interface MemberAvro {
  readonly membersId: number;
  readonly membersType: avro.Type;
  readonly ordersId: number;
  readonly ordersType: avro.Type;
  /** Ids the registry does not know. */
  readonly unknownIds: readonly number[];
}

type Json = Record<string, unknown>;

function frame(id: number, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeInt32BE(id, 1);
  body.copy(out, 5);
  return out;
}

function validMember(rng: Rng, customerId: string): MemberEvent {
  return {
    source: rng.pick(["shop-eu", "pos-17", "app"]),
    type: rng.chance(0.7) ? "MEMBER_REGISTERED" : "MEMBER_PROFILE_UPDATED",
    customerId,
    revision: rng.int(0, 5),
    occurredAt: rng.int(FUZZ_TIME_RANGE.from, FUZZ_TIME_RANGE.to - 1),
    birthday: rng.pick([null, "1990-04-01", "--02-29", "2000-02-29", "1985-12-31"]),
    referrerCustomerId: rng.chance(0.2) ? `ref-${rng.int(1, 100)}` : null,
  };
}

type Defect = (
  rng: Rng,
  e: MemberEvent,
  ctx: { maxBytes: number; maxDepth: number; avro: MemberAvro },
) => { text?: string; bytes?: Buffer; code: DlqReasonCode; label: string };

const json = (e: unknown) => JSON.stringify(e);
const withField = (e: MemberEvent, field: string, v: unknown): string =>
  json({ ...(e as unknown as Json), [field]: v });

const DEFECTS: readonly Defect[] = [
  () => ({ bytes: Buffer.alloc(0), code: "EMPTY_PAYLOAD", label: "empty" }),
  () => ({ text: "\t \r\n", code: "EMPTY_PAYLOAD", label: "whitespace only" }),
  (rng, e) => {
    const t = json(e);
    return { text: t.slice(0, rng.int(1, t.length - 1)), code: "MALFORMED_JSON", label: "truncated JSON" };
  },
  (rng) => {
    const b = Buffer.alloc(rng.int(1, 512));
    for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255);
    b[rng.int(0, b.length - 1)] = 0xff; // never UTF-8
    b[0] = rng.int(1, 255); // a leading 0 would make it registry-framed Avro
    return { bytes: b, code: "MALFORMED_JSON", label: "binary garbage" };
  },
  (rng) => ({
    text: rng.pick(["{'customerId':'c'}", "NaN", '{"a":}', "[1,2", "nul", "<member/>", '{"a":1}}', "{,}"]),
    code: "MALFORMED_JSON",
    label: "not JSON",
  }),
  (rng, e, { maxBytes }) => ({
    text: withField(e, "padding", "x".repeat(maxBytes + rng.int(0, 4096))),
    code: "OVERSIZE_PAYLOAD",
    label: "huge JSON",
  }),
  (rng, e) => {
    const arr = rng.chance(0.5);
    const nest = arr
      ? `${"[".repeat(5000)}${"]".repeat(5000)}`
      : `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`;
    return { text: `${json(e).slice(0, -1)},"meta":${nest}}`, code: "TOO_DEEP", label: "nested 5k" };
  },
  (_r, e, { maxDepth }) => ({
    text: `${json(e).slice(0, -1)},"meta":${"[".repeat(maxDepth)}${"]".repeat(maxDepth)}}`,
    code: "TOO_DEEP",
    label: "depth limit + 1",
  }),
  (rng, e) => {
    const key = rng.pick(['"__proto__"', '"constructor"', '"prototype"', '"\\u005f_proto__"']);
    return {
      text: `{${key}:{"isAdmin":true},${json(e).slice(1)}`,
      code: "FORBIDDEN_KEY",
      label: "root proto key",
    };
  },
  (_r, e) => ({
    text: `${json(e).slice(0, -1)},"x":[{"y":{"__proto__":{"polluted":1}}}]}`,
    code: "FORBIDDEN_KEY",
    label: "deep __proto__",
  }),
  (rng, e) => ({
    text: withField(e, "customerId", rng.pick([null, "", "   "])),
    code: "MISSING_CUSTOMER_ID",
    label: "no customer id",
  }),
  (rng, e) => ({
    text: withField(e, "customerId", rng.pick<unknown>([4711, true, ["c-1"], { id: "c-1" }])),
    code: "SCHEMA_VIOLATION",
    label: "customerId wrong type",
  }),
  (rng, e) => ({
    text: withField(e, "customerId", "c".repeat(rng.int(257, 20_000))),
    code: "SCHEMA_VIOLATION",
    label: "customerId huge",
  }),
  (rng, e) => ({
    text: withField(e, "customerId", `c${rng.pick(["\u0000", "\n", "\u001b[31m", "\u007f"])}x`),
    code: "SCHEMA_VIOLATION",
    label: "customerId control char",
  }),
  (rng, e) => ({
    text: withField(e, "source", rng.pick<unknown>([undefined, 17, "", "s\u0000"])),
    code: "SCHEMA_VIOLATION",
    label: "bad source",
  }),
  (rng, e) => ({
    text: withField(e, "type", rng.pick<unknown>(["MEMBER_DELETED", "member_registered", "", 1, null])),
    code: "SCHEMA_VIOLATION",
    label: "bad type",
  }),
  (rng, e) => ({
    text: withField(e, "revision", rng.pick<unknown>(["1", -1, 1.5, 2 ** 31, true])),
    code: "SCHEMA_VIOLATION",
    label: "bad revision",
  }),
  (rng, e) => {
    const bad = rng.pick<unknown>([
      undefined,
      -1,
      1.5,
      1e15,
      "yesterday",
      "2024-02-30T00:00:00Z",
      "2024-01-01",
      "2100-01-01T00:00:00Z",
      { seconds: 1 },
      false,
    ]);
    return {
      text: withField(e, "occurredAt", bad),
      code: "INVALID_TIMESTAMP",
      label: `occurredAt ${JSON.stringify(bad)}`,
    };
  },
  (rng, e) => ({
    text: withField(
      e,
      "birthday",
      rng.pick<unknown>(["2023-02-29", "1990-13-01", "01/02/1990", 19900101, "--13-01"]),
    ),
    code: "SCHEMA_VIOLATION",
    label: "bad birthday",
  }),
  (rng, e) => ({
    text: withField(e, "referrerCustomerId", rng.pick<unknown>([e.customerId, 42, "r\u0000"])),
    code: "SCHEMA_VIOLATION",
    label: "bad referrer",
  }),
  (rng, e) => ({
    text: json(rng.pick<unknown>([[e], "member", 42, null, true])),
    code: "SCHEMA_VIOLATION",
    label: "root not object",
  }),
  // Registry-framed Avro.
  (rng, e, { avro }) => ({
    bytes: frame(rng.pick(avro.unknownIds), avro.membersType.toBuffer(e)),
    code: "UNKNOWN_SCHEMA_ID",
    label: "Avro, unknown schema id",
  }),
  (rng, e, { avro }) => {
    const body = avro.membersType.toBuffer(e);
    const kind = rng.int(0, 3);
    const bad =
      kind === 0
        ? body.subarray(0, rng.int(0, body.length - 1))
        : kind === 1
          ? Buffer.concat([body, Buffer.from([rng.int(0, 255), rng.int(0, 255)])])
          : kind === 2
            ? Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]) // a string "length" of 2^31
            : Buffer.concat([body.subarray(0, 1 + e.source.length), Buffer.from([0x7e])]); // enum index 63
    return {
      bytes: frame(avro.membersId, bad),
      code: "MALFORMED_AVRO",
      label: `Avro, broken body ${kind}`,
    };
  },
  (rng, e, { avro }) => {
    // A well-formed record of another topic's schema: decodes, and is not a member event.
    const order = {
      source: e.source,
      type: "ORDER_PLACED",
      orderId: `o-${rng.int(1, 1e6)}`,
      customerId: e.customerId,
      revision: 0,
      occurredAt: e.occurredAt,
      currency: "USD",
      totalMinor: 100,
      lines: [],
      channel: null,
      storeId: null,
      refundId: null,
      refundedLineIds: [],
    };
    return {
      bytes: frame(avro.ordersId, avro.ordersType.toBuffer(order)),
      code: "SCHEMA_VIOLATION",
      label: "Avro, orders.v1 schema",
    };
  },
  (rng, e, { avro }) => {
    const pick = rng.int(0, 2);
    const bad: MemberEvent =
      pick === 0
        ? { ...e, customerId: "" }
        : pick === 1
          ? { ...e, birthday: "1990-02-30" }
          : { ...e, occurredAt: -rng.int(1, 1e12) };
    const code: DlqReasonCode =
      pick === 0 ? "MISSING_CUSTOMER_ID" : pick === 1 ? "SCHEMA_VIOLATION" : "INVALID_TIMESTAMP";
    return {
      bytes: frame(avro.membersId, avro.membersType.toBuffer(bad)),
      code,
      label: `Avro, bad field ${pick}`,
    };
  },
  (rng, e, { avro, maxBytes }) => ({
    bytes: frame(
      avro.membersId,
      avro.membersType.toBuffer({ ...e, birthday: "9".repeat(maxBytes + rng.int(0, 99)) }),
    ),
    code: "OVERSIZE_PAYLOAD",
    label: "Avro, huge",
  }),
];

export interface MemberFuzzOptions {
  /** Share of valid messages, 0..1 (default 0.2). */
  readonly validShare?: number;
  /** Share of valid messages sent again later (default 0.05). */
  readonly resendShare?: number;
}

/**
 * `count` messages for `seed`. Valid events have unique identities (a customer id per index),
 * half of them Avro-framed; a re-sent one is the same bytes again.
 */
export function generateMemberFuzz(
  seed: number,
  count: number,
  avro: MemberAvro,
  options: MemberFuzzOptions = {},
): MemberFuzzMessage[] {
  const rng = new Rng(seed);
  const { maxBytes, maxDepth } = DEFAULT_DECODE_LIMITS;
  const validShare = options.validShare ?? 0.2;
  const resendShare = options.resendShare ?? 0.05;
  const out: MemberFuzzMessage[] = [];
  const sentValid: MemberFuzzMessage[] = [];
  for (let i = 0; i < count; i++) {
    const customerId = `m-${seed}-${i}`;
    const e = validMember(rng, customerId);
    if (sentValid.length > 0 && rng.chance(resendShare * validShare)) {
      const again = rng.pick(sentValid);
      out.push({ ...again, label: "valid, sent again" });
      continue;
    }
    if (rng.chance(validShare)) {
      const avroFramed = rng.chance(0.5);
      // Unknown fields are ignored (JSON only: Avro has no room for them).
      const text = rng.chance(0.2)
        ? json({ ...e, "x-debug": { trace: "t", pad: "y".repeat(rng.int(0, 2000)) } })
        : json(e);
      const m: MemberFuzzMessage = {
        bytes: avroFramed ? frame(avro.membersId, avro.membersType.toBuffer(e)) : Buffer.from(text, "utf8"),
        expect: { valid: true, eventId: memberEventId(e), customerId, source: e.source },
        label: avroFramed ? "valid Avro" : "valid JSON",
        key: customerId,
      };
      out.push(m);
      sentValid.push(m);
      continue;
    }
    const r = rng.pick(DEFECTS)(rng, e, { maxBytes, maxDepth, avro });
    out.push({
      bytes: r.bytes ?? Buffer.from(r.text ?? "", "utf8"),
      expect: { valid: false, code: r.code },
      label: r.label,
      key: rng.chance(0.3) ? Buffer.from([0x00, 0xff, ...Buffer.from(`hostile-${i}`)]) : `hostile-${i}`,
    });
  }
  return out;
}
