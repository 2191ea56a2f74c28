import { describe, expect, it } from "vitest";
import {
  type IngestRules,
  type IngestState,
  type Output,
  type Parsed,
  SHARED_MEMBER_IDS,
  type SourceRecord,
  compileFx,
  expireHolds,
  ingestRecord,
  ingestState,
  memberEventId,
  orderEventId,
  validateMember,
} from "../../src/domain/index.ts";
import { order, unwrap } from "./helpers.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 5, 1);
const rules = (over: Partial<IngestRules> = {}): IngestRules => ({
  fx: compileFx({ baseCurrency: "EUR", rates: [] }),
  memberIds: SHARED_MEMBER_IDS,
  autoEnrol: true,
  holdMs: 7 * DAY,
  ...over,
});

let offset = 0;
function rec(timestamp: number, value = "{}"): SourceRecord {
  return {
    topic: "orders.v1",
    partition: 0,
    offset: String(offset++),
    timestamp,
    key: Buffer.from("c-1"),
    value: Buffer.from(value),
    headers: {},
  };
}

const parsedOrder = (over: Record<string, unknown>): Parsed => {
  const event = order(over);
  return { kind: "order", event, eventId: orderEventId(event) };
};
const placed = (over: Record<string, unknown> = {}) => parsedOrder({ occurredAt: T0, ...over });
const refund = (refundId: string, at: number, over: Record<string, unknown> = {}) =>
  parsedOrder({ type: "ORDER_REFUNDED", refundId, totalMinor: 500, lines: [], occurredAt: at, ...over });

const summary = (outs: Output[]) =>
  outs.map((o) =>
    o.kind === "dlq"
      ? `dlq ${o.code} @${o.record.offset}`
      : o.kind === "member"
        ? `member ${o.record.type}`
        : `${o.record.type} ${o.record.orderId} ${o.record.amountMinor}`,
  );

function run(state: IngestState, steps: Array<[number, Parsed]>, r = rules()): string[] {
  return steps.flatMap(([t, p]) => summary(ingestRecord(state, rec(t), p, r)));
}

describe("a task's ingest decision", () => {
  it("enrols a customer once, drops an upstream duplicate by event id, dead-letters every copy of a reject", () => {
    const s = ingestState({});
    offset = 0;
    const bad: Parsed = { kind: "reject", code: "MALFORMED_JSON", reason: "x" };
    expect(
      run(s, [
        [T0, placed()],
        [T0, placed()],
        [T0, bad],
        [T0, bad],
        [T0, placed({ orderId: "o-2" })],
      ]),
    ).toEqual([
      "member ENROLLED",
      "PURCHASE o-1 3000",
      "dlq MALFORMED_JSON @2",
      "dlq MALFORMED_JSON @3",
      "PURCHASE o-2 3000",
    ]);
    expect(s.changes.counts).toEqual({ accepted: 2, duplicates: 1, rejected: 2, held: 0 });
    expect(s.changes.events.map((e) => e.record.offset)).toEqual(["0", "4"]);
    expect([...s.changes.members]).toEqual(["c-1"]);
    expect(s.changes.slots.size).toBe(2);
  });

  it("a registration enrols; without auto-enrolment an unknown customer's order is rejected", () => {
    const s = ingestState({});
    const reg = unwrap(
      validateMember({ source: "shop-eu", type: "MEMBER_REGISTERED", customerId: "c-1", occurredAt: T0 }),
    );
    const noAuto = rules({ autoEnrol: false });
    expect(run(s, [[T0, placed({ customerId: "c-2", orderId: "o-c2" })]], noAuto)).toEqual([
      expect.stringMatching(/^dlq UNKNOWN_CUSTOMER/),
    ]);
    expect(
      run(
        s,
        [
          [T0, { kind: "member", event: reg, eventId: memberEventId(reg) }],
          [T0, placed()],
        ],
        noAuto,
      ),
    ).toEqual(["member ENROLLED", "PURCHASE o-1 3000"]);
    expect(s.members.get("c-1")?.registered).toBe(true);
  });

  it("holds a refund until its order, and releases it with the order", () => {
    const s = ingestState({});
    // Nobody is enrolled by a held refund: only by the first purchase that is emitted.
    expect(run(s, [[T0, refund("r1", T0)]])).toEqual([]);
    expect(s.holding.size).toBe(1);
    expect(s.held.size).toBe(1);
    expect(run(s, [[T0 + DAY, placed()]])).toEqual([
      "member ENROLLED",
      "PURCHASE o-1 3000",
      "REFUND o-1 500",
    ]);
    expect(s.holding.size).toBe(0);
    expect(s.held.size).toBe(0);
    expect(s.changes.held.size).toBe(1); // written, then deleted
  });

  it("expires a hold on event time before the record that passes its due time, with the refund's own record", () => {
    const s = ingestState({});
    offset = 100;
    run(s, [[T0, refund("r1", T0)]]);
    // Not yet due: nothing at the task's stream time.
    expect(summary(expireHolds(s, T0 + DAY, rules()))).toEqual([]);
    // The placement comes too late: the refund is rejected first, then the order is placed alone.
    expect(run(s, [[T0 + 8 * DAY, placed()]])).toEqual([
      "dlq ORPHAN_REFUND_TIMEOUT @100",
      "member ENROLLED",
      "PURCHASE o-1 3000",
    ]);
    expect(s.held.size).toBe(0);
  });

  it("punctuation expires what is due at the task's stream time, as the next record would have", () => {
    const a = ingestState({});
    const b = ingestState({});
    offset = 200;
    const refundRec = rec(T0);
    const r = refund("r1", T0);
    ingestRecord(a, refundRec, r, rules({ holdMs: 0 }));
    ingestRecord(b, refundRec, r, rules({ holdMs: 0 }));
    const byPunctuation = summary(expireHolds(a, T0, rules({ holdMs: 0 })));
    const next = rec(T0);
    const p = placed({ orderId: "o-9" });
    const afterA = summary(ingestRecord(a, next, p, rules({ holdMs: 0 })));
    const afterB = summary(ingestRecord(b, next, p, rules({ holdMs: 0 })));
    expect([...byPunctuation, ...afterA]).toEqual(afterB);
    expect(afterB).toEqual(["dlq ORPHAN_REFUND_TIMEOUT @200", "member ENROLLED", "PURCHASE o-9 3000"]);
  });

  it("a refund of an order never seen, dead-lettered, enrols no one (issue 21)", () => {
    const s = ingestState({});
    offset = 300;
    run(s, [[T0, refund("r1", T0, { customerId: "c-orphan" })]]);
    // Its hold expires: the dead letter is the only output, and the member is unknown.
    expect(summary(expireHolds(s, T0 + 8 * DAY, rules()))).toEqual(["dlq ORPHAN_REFUND_TIMEOUT @300"]);
    expect(s.members.has("c-orphan")).toBe(false);
    expect(s.changes.members.size).toBe(0);
  });

  it("the same records give the same outputs whether or not the state was restored in between", () => {
    const steps: Array<[number, Parsed]> = [
      [T0, refund("r1", T0)],
      [T0 + DAY, placed({ orderId: "o-2" })],
      [T0 + 9 * DAY, refund("r2", T0 + 9 * DAY, { orderId: "o-3" })],
      [T0 + 9 * DAY, placed({ orderId: "o-3" })],
      [T0 + 20 * DAY, placed({ orderId: "o-4" })],
    ];
    offset = 300;
    const whole = run(ingestState({}), steps);
    offset = 300;
    const s1 = ingestState({});
    const first = run(s1, steps.slice(0, 2));
    // What restore would build from the stored rows.
    const s2 = ingestState({ slots: s1.slots, held: s1.held, members: s1.members, seen: s1.seen });
    const second = run(s2, steps.slice(2));
    expect([...first, ...second]).toEqual(whole);
    expect(whole).toContain("dlq ORPHAN_REFUND_TIMEOUT @300");
    expect(whole).toContain("REFUND o-3 500");
  });
});
