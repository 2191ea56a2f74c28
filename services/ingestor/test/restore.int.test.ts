import { fileURLToPath } from "node:url";
import { AvroCodec, type DeadLetter, type PurchaseEvent, namespacedTopics } from "@loyalty/contracts";
import { createPool } from "@loyalty/db";
import {
  type RunningService,
  type TestStack,
  readTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const DAY = 86_400_000;
let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  await svc?.stop();
});

const event = (over: Record<string, unknown>) => ({
  source: "shop",
  type: "ORDER_PLACED",
  customerId: "c-1",
  currency: "USD",
  totalMinor: 1000,
  lines: [],
  ...over,
});

describe("a task restored after a restart", () => {
  it("keeps its held refunds (headers as bytes), members and seen ids: the order releases its refund, a late one expires, a re-send is dropped", async () => {
    const ns = testNamespace();
    const topics = namespacedTopics(ns);
    const env = serviceEnv(stack, ns, { SERVICE_NAME: "ingestor", INGEST_REFUND_HOLD_MS: String(7 * DAY) });
    const kafka = testKafka(stack.kafkaBrokers);
    const t0 = Date.UTC(2026, 0, 1);
    // Refund C's headers: binary, repeated, empty and prototype-named. It is dead-lettered after
    // the restart, from the stored copy, and must keep each value byte for byte.
    const bin = Buffer.from([0x00, 0xff, 0xfe, 0x2c]);
    const cHeaders = { bin, multi: ["a,b", Buffer.alloc(0)], toString: "t" };
    const send = async (values: Array<Record<string, unknown>>) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: topics.orders.name,
        messages: values.map((v) => ({
          key: String(v.customerId),
          value: JSON.stringify(v),
          timestamp: String(v.occurredAt),
          ...(v.orderId === "C" ? { headers: cHeaders } : {}),
        })),
      });
      await producer.disconnect();
    };
    const pool = createPool(stack.databaseUrl, { max: 1, namespace: ns });
    const held = async () => {
      const r = await pool
        .query<{ n: number }>("select count(*)::int as n from ingest_held_messages")
        .catch(() => ({ rows: [{ n: 0 }] }));
      return r.rows[0]?.n ?? 0;
    };
    try {
      svc = await spawnService(MAIN, env);
      // Two refunds of orders not seen yet, and one order placed.
      await send([
        event({ orderId: "A", occurredAt: t0 }),
        event({ type: "ORDER_REFUNDED", orderId: "B", refundId: "r1", totalMinor: 300, occurredAt: t0 + 1 }),
        event({ type: "ORDER_REFUNDED", orderId: "C", refundId: "r2", totalMinor: 200, occurredAt: t0 + 2 }),
      ]);
      const deadline = Date.now() + 60_000;
      while ((await held()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(await held()).toBe(2);
      expect(await svc.stop()).toBe(0);

      svc = await spawnService(MAIN, env);
      await send([
        // Order B a day later releases its refund; A again is an upstream re-send.
        event({ orderId: "B", occurredAt: t0 + DAY }),
        event({ orderId: "A", occurredAt: t0 }),
        // Eight days on: C's refund has waited past its hold and is dead-lettered with its bytes.
        event({ orderId: "D", occurredAt: t0 + 8 * DAY }),
      ]);
      const codec = new AvroCodec(stack.schemaRegistryUrl);
      const out = await readTopic(kafka, topics.purchases.name, (ms) => ms.length >= 4, 60_000);
      const purchases = await Promise.all(out.map((m) => codec.decode<PurchaseEvent>(m.value!)));
      expect(purchases.map((p) => `${p.type} ${p.orderId} ${p.amountMinor}`)).toEqual([
        "PURCHASE A 1000",
        "PURCHASE B 1000",
        "REFUND B 300",
        "PURCHASE D 1000",
      ]);
      const members = await readTopic(kafka, topics.memberChanges.name, (ms) => ms.length >= 1, 30_000);
      expect(members.length).toBe(1);
      const dead = await readTopic(kafka, topics.dlq.name, (ms) => ms.length >= 1, 30_000);
      expect(dead.length).toBe(1);
      const d = await codec.decode<DeadLetter>(dead[0]!.value!);
      expect(d.reasonCode).toBe("ORPHAN_REFUND_TIMEOUT");
      expect(JSON.parse(d.originalValue!.toString()).orderId).toBe("C");
      expect(d.headers).toEqual([
        { key: "bin", value: bin },
        { key: "multi", value: Buffer.from("a,b") },
        { key: "multi", value: Buffer.alloc(0) },
        { key: "toString", value: Buffer.from("t") },
      ]);
      expect(await held()).toBe(0);
      expect(await svc.stop()).toBe(0);
      svc = undefined;
    } finally {
      await pool.end();
    }
  }, 180_000);
});
