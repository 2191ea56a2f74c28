// Ledger commands (ADR 16 step 3) against a running engine on the real stack: redemptions,
// cancellations and adjustments are applied by the member's task in partition order with its
// purchases, answered on loyalty.ledger-replies.v1 in the batch's Kafka transaction, deduplicated
// by command id; 50 concurrent redemptions never overspend; malformed commands go to the DLQ with
// their bytes and a reason; a command for an unknown member is answered MEMBER_NOT_FOUND.
import type {
  DeadLetter,
  LedgerCommand,
  LedgerReply,
  PointsMovement,
  PurchaseEvent,
} from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, readTopic, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../src/index.ts";
import { Inputs, startService, stopService, waitFor } from "./harness.ts";

let stack: TestStack;
let pool: Pool;
const ns = testNamespace();

function purchase(memberId: string, orderId: string, cents: number, at: number): PurchaseEvent {
  return {
    eventId: `pur-${ns}-${orderId}`,
    type: "PURCHASE",
    memberId,
    source: "web",
    orderId,
    eventTime: at,
    amountMinor: cents,
    currency: "USD",
    baseAmountMinor: cents,
    baseCurrency: "USD",
    fxRate: "1",
    lines: [],
    channel: "web",
    storeId: null,
    refundId: null,
    refundedLineIds: [],
  };
}

const command = (
  c: Partial<LedgerCommand> & Pick<LedgerCommand, "commandId" | "memberId" | "type">,
): LedgerCommand => ({
  points: 0,
  redemptionId: null,
  orderId: null,
  reason: null,
  expiresAt: null,
  requestedBy: "key-test",
  requestedAt: Date.now(),
  ...c,
});

async function send(inputs: Inputs, messages: Array<{ key: string; value: Buffer }>): Promise<void> {
  const producer = inputs.kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic: inputs.topics.ledgerCommands.name, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}
const encoded = async (inputs: Inputs, cs: LedgerCommand[]) =>
  Promise.all(
    cs.map(async (c) => ({
      key: c.memberId,
      value: await inputs.codec.encode(inputs.topics.ledgerCommands, c),
    })),
  );

async function replies(inputs: Inputs, n: number): Promise<LedgerReply[]> {
  const msgs = await readTopic(
    inputs.kafka,
    inputs.topics.ledgerReplies.name,
    (m) => m.length >= n,
    60_000,
    1_000,
  );
  return Promise.all(msgs.map((m) => inputs.codec.decode<LedgerReply>(m.value as Buffer)));
}

const balance = async (member: string) =>
  Number(
    (await pool.query("select balance from ledger_balances where member_id = $1", [member])).rows[0]
      ?.balance ?? 0,
  );
const recorded = async () =>
  (await pool.query("select count(*)::int as n from rules_ledger_commands")).rows[0].n as number;

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
});
afterAll(async () => {
  await pool?.end();
});

describe("ledger commands", () => {
  it("redeem, duplicate, cancel twice, adjust, unknown member, DLQ; 50 concurrent never overspend", async () => {
    const inputs = new Inputs(stack, ns);
    await inputs.prepare();
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const svc = await startService(stack, ns, { HTTP_PORT: String(port) });
    try {
      const t0 = Date.now();
      await inputs.produce(inputs.topics.purchases, [
        purchase("m1", "A", 20_000, t0),
        purchase("m2", "B", 10_000, t0 + 1),
      ]);
      await waitFor(
        "purchases",
        () => balance("m2"),
        (b) => b > 0,
      );
      await waitFor(
        "purchases",
        () => balance("m1"),
        (b) => b > 0,
      );
      const b1 = await balance("m1");
      const b2 = await balance("m2");

      const garbage = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0xfe]);
      const invalid = command({ commandId: "bad-1", memberId: "m1", type: "REDEEM", points: 0 });
      await send(inputs, [
        ...(await encoded(inputs, [
          command({ commandId: "r1", memberId: "m1", type: "REDEEM", points: 50, orderId: "o-1" }),
          command({ commandId: "r1", memberId: "m1", type: "REDEEM", points: 50, orderId: "o-1" }),
          command({ commandId: "r2", memberId: "m1", type: "REDEEM", points: b1 }),
          command({ commandId: "x1", memberId: "m1", type: "CANCEL_REDEMPTION", redemptionId: "r1" }),
          command({ commandId: "x2", memberId: "m1", type: "CANCEL_REDEMPTION", redemptionId: "r1" }),
          command({ commandId: "x3", memberId: "m1", type: "CANCEL_REDEMPTION", redemptionId: "nope" }),
          command({ commandId: "a1", memberId: "m1", type: "ADJUST", points: -10, reason: "fix" }),
          command({ commandId: "u1", memberId: `ghost-${ns}`, type: "REDEEM", points: 1 }),
        ])),
        { key: "m1", value: garbage },
        { key: "m1", value: await inputs.codec.encode(inputs.topics.ledgerCommands, invalid) },
      ]);
      // 50 concurrent redemptions of a third of m2's balance each: at most three are accepted.
      const each = Math.floor(b2 / 3) + 1;
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) =>
          send(
            inputs,
            await encoded(inputs, [
              command({ commandId: `c${i}`, memberId: "m2", type: "REDEEM", points: each }),
            ]),
          ),
        ),
      );
      await waitFor("commands recorded", recorded, (n) => n >= 7 + 50);
      const all = await replies(inputs, 8 + 50);
      const byId = (id: string) => all.filter((r) => r.commandId === id);

      // m1: the redemption once, its duplicate answered the same; over the balance refused.
      const [r1, r1again] = byId("r1");
      expect(r1).toMatchObject({ status: "ACCEPTED", points: -50, balanceAfter: b1 - 50 });
      expect(r1again).toEqual(r1);
      expect(byId("r2")[0]).toMatchObject({
        status: "REJECTED",
        reasonCode: "INSUFFICIENT_BALANCE",
        balanceAfter: b1 - 50,
      });
      // The cancellation restores the lots; again (another command id): the recorded answer.
      const x1 = byId("x1")[0];
      expect(x1).toMatchObject({ status: "ACCEPTED", points: 50, balanceAfter: b1 });
      expect(JSON.parse(x1?.lotsJson ?? "[]")).toEqual(JSON.parse(r1?.lotsJson ?? "[]"));
      expect(byId("x2")[0]).toEqual({ ...x1, commandId: "x2" });
      expect(byId("x3")[0]).toMatchObject({ status: "REJECTED", reasonCode: "REDEMPTION_NOT_FOUND" });
      expect(byId("a1")[0]).toMatchObject({ status: "ACCEPTED", points: -10, balanceAfter: b1 - 10 });
      expect(byId("u1")[0]).toMatchObject({
        status: "REJECTED",
        reasonCode: "MEMBER_NOT_FOUND",
        message: `member ghost-${ns} is not known`,
      });
      expect(await balance("m1")).toBe(b1 - 10);
      const m1Entries = (
        await pool.query(
          "select kind, points from ledger_entries where member_id = 'm1' and kind in ('redeem', 'adjust') order by seq",
        )
      ).rows;
      expect(m1Entries.map((e) => [e.kind, Number(e.points)])).toEqual([
        ["redeem", -50],
        ["adjust", 50],
        ["adjust", -10],
      ]);
      // Nothing of the unknown member was created.
      const ghost = await pool.query(
        "select (select count(*) from rules_members where member_id = $1)::int + (select count(*) from ledger_balances where member_id = $1)::int as n",
        [`ghost-${ns}`],
      );
      expect(ghost.rows[0].n).toBe(0);

      // m2: never overspent.
      const m2 = all.filter((r) => r.memberId === "m2");
      expect(m2.length).toBe(50);
      const accepted = m2.filter((r) => r.status === "ACCEPTED");
      expect(accepted.length).toBe(2);
      expect(accepted.reduce((s, r) => s - (r.points ?? 0), 0)).toBeLessThanOrEqual(b2);
      expect(
        m2.filter((r) => r.status === "REJECTED").every((r) => r.reasonCode === "INSUFFICIENT_BALANCE"),
      ).toBe(true);
      expect(await balance("m2")).toBe(b2 - 2 * each);
      expect(await balance("m2")).toBeGreaterThanOrEqual(0);

      // The ledger equals the points topic, in ledger order per member.
      const ledger = (
        await pool.query("select entry_id, member_id, points, balance_after from ledger_entries order by seq")
      ).rows;
      const out = await readTopic(
        inputs.kafka,
        inputs.topics.points.name,
        (m) => m.length >= ledger.length,
        60_000,
        1_000,
      );
      const movements = await Promise.all(
        out.map((m) => inputs.codec.decode<PointsMovement>(m.value as Buffer)),
      );
      expect(movements.map((m) => m.eventId).sort()).toEqual(ledger.map((e) => e.entry_id).sort());
      for (const member of ["m1", "m2"]) {
        const mine = movements.filter((m) => m.memberId === member);
        let last = 0;
        for (const m of mine) {
          expect(m.balanceAfter).toBe(last + m.points);
          last = m.balanceAfter;
        }
        expect(last).toBe(await balance(member));
      }
      expect((await verifyLedger(pool)).differences).toEqual([]);

      // The DLQ: the undecodable record with its bytes, the invalid one with its reason.
      const dead = await readTopic(inputs.kafka, inputs.topics.dlq.name, (m) => m.length >= 2, 30_000, 1_000);
      const letters = (
        await Promise.all(dead.map((m) => inputs.codec.decode<DeadLetter>(m.value as Buffer)))
      ).filter((d) => d.sourceTopic === inputs.topics.ledgerCommands.name);
      expect(letters.map((d) => d.reasonCode).sort()).toEqual(["MALFORMED_AVRO", "SCHEMA_VIOLATION"]);
      const malformed = letters.find((d) => d.reasonCode === "MALFORMED_AVRO");
      expect(Buffer.from(malformed?.originalValue as Buffer).equals(garbage)).toBe(true);
      const violation = letters.find((d) => d.reasonCode === "SCHEMA_VIOLATION");
      expect(violation?.reason).toMatch(/REDEEM needs points > 0/);
      expect((await inputs.codec.decode<LedgerCommand>(violation?.originalValue as Buffer)).commandId).toBe(
        "bad-1",
      );
      expect(all.some((r) => r.commandId === "bad-1")).toBe(false);

      // The replies sent, by status and reason, in the engine's metrics (the duplicate's included).
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const sent = (status: string, reason: string) => {
        const line = metrics
          .split("\n")
          .find(
            (l) =>
              l.startsWith("loyalty_ledger_commands_total{") &&
              l.includes(`status="${status}"`) &&
              l.includes(`reason="${reason}"`),
          );
        return Number(line?.split(" ").pop() ?? 0);
      };
      expect(sent("ACCEPTED", "")).toBe(7);
      expect(sent("REJECTED", "INSUFFICIENT_BALANCE")).toBe(49);
      expect(sent("REJECTED", "REDEMPTION_NOT_FOUND")).toBe(1);
      expect(sent("REJECTED", "MEMBER_NOT_FOUND")).toBe(1);

      // A duplicate after a restart re-sends the stored reply and writes nothing.
      expect(await stopService(svc)).toBe(0);
      const again = await startService(stack, ns);
      try {
        const n = (await pool.query("select count(*)::int as n from ledger_entries")).rows[0].n;
        await send(
          inputs,
          await encoded(inputs, [
            command({ commandId: "r1", memberId: "m1", type: "REDEEM", points: 50, orderId: "o-1" }),
          ]),
        );
        const later = await replies(inputs, all.length + 1);
        expect(later.filter((r) => r.commandId === "r1")).toEqual([r1, r1, r1]);
        expect((await pool.query("select count(*)::int as n from ledger_entries")).rows[0].n).toBe(n);
      } finally {
        expect(await stopService(again)).toBe(0);
      }
    } finally {
      await stopService(svc);
    }
  }, 240_000);
});
