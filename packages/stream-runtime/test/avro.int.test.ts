import {
  AvroCodec,
  type PurchaseEvent,
  SchemaViolationError,
  type Topics,
  namespacedTopics,
  schemaOf,
  valueSubject,
} from "@loyalty/contracts";
import {
  type TestStack,
  readTopic,
  registryHeaders,
  requireStack,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureTopics } from "../src/index.ts";

let stack: TestStack;
let codec: AvroCodec;
// A namespace of its own: a record on the engine's own purchases topic would move a running
// engine's event clock to today.
let TOPICS: Topics;

beforeAll(async () => {
  stack = await requireStack();
  TOPICS = namespacedTopics(testNamespace());
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  await ensureTopics(admin, { partitions: 3, replication: 1, topics: Object.values(TOPICS) });
  await admin.disconnect();
  codec = new AvroCodec(stack.schemaRegistryUrl);
  await codec.registerAll(Object.values(TOPICS));
});

const purchase = (orderId: string): PurchaseEvent => ({
  eventId: `test-${orderId}`,
  type: "PURCHASE",
  memberId: "m-avro-1",
  source: "test",
  orderId,
  eventTime: Date.UTC(1997, 0, 1),
  amountMinor: 2999,
  currency: "EUR",
  baseAmountMinor: 3249,
  baseCurrency: "USD",
  fxRate: "1.0832",
  lines: [
    {
      lineId: "1",
      sku: "CD-1",
      category: "music",
      quantity: 1,
      unitPriceMinor: 2999,
      baseLineTotalMinor: 3249,
    },
  ],
  channel: "web",
  storeId: null,
  refundId: null,
  refundedLineIds: [],
});

describe("Avro through the real broker and registry", () => {
  it("registers every topic's schema under its TopicNameStrategy subject with BACKWARD compatibility", async () => {
    for (const t of Object.values(TOPICS)) {
      const res = await fetch(`${stack.schemaRegistryUrl}/config/${valueSubject(t.name)}`, {
        headers: registryHeaders(),
      });
      expect(res.ok).toBe(true);
      const body = (await res.json()) as { compatibilityLevel: string };
      expect(body.compatibilityLevel).toBe("BACKWARD");
    }
  });

  it("round-trips a canonical purchase as registry-framed Avro", async () => {
    const orderId = `o-${Date.now()}`;
    const kafka = testKafka(stack.kafkaBrokers);
    const producer = kafka.producer();
    await producer.connect();
    const value = await codec.encode(TOPICS.purchases, purchase(orderId));
    expect(value[0]).toBe(0); // Confluent wire format magic byte
    await producer.send({ topic: TOPICS.purchases.name, messages: [{ key: "m-avro-1", value }] });
    await producer.disconnect();

    const msgs = await readTopic(kafka, TOPICS.purchases.name, (ms) =>
      ms.some((m) => m.value?.equals(value)),
    );
    const got = msgs.find((m) => m.value?.equals(value));
    expect(await codec.decode<PurchaseEvent>(got!.value!)).toEqual(purchase(orderId));
  });

  it("refuses to encode an event that breaks its schema, naming the field", async () => {
    const bad = { ...purchase("o-bad"), amountMinor: "12.50" } as unknown;
    await expect(codec.encode(TOPICS.purchases, bad)).rejects.toThrow(SchemaViolationError);
    await expect(codec.encode(TOPICS.purchases, bad)).rejects.toThrow(/amountMinor/);
  });

  it("has the registry reject an incompatible change to a subject", async () => {
    const subject = `test-compat-${Date.now()}-value`;
    await codec.setCompatibility(subject, "BACKWARD");
    const v1 = { type: "record", name: "T", fields: [{ name: "a", type: "int" }] };
    const v2 = {
      type: "record",
      name: "T",
      fields: [
        { name: "a", type: "int" },
        { name: "b", type: "string" },
      ],
    };
    const post = (schema: unknown) =>
      fetch(`${stack.schemaRegistryUrl}/subjects/${subject}/versions`, {
        method: "POST",
        headers: { "content-type": "application/vnd.schemaregistry.v1+json", ...registryHeaders() },
        body: JSON.stringify({ schema: JSON.stringify(schema) }),
      });
    expect((await post(v1)).status).toBe(200);
    // A new required field without a default cannot read old data: not BACKWARD compatible.
    expect((await post(v2)).status).toBe(409);
  });

  it("accepts loyalty.dlq.v1 with `headers` over the schema before it (BACKWARD)", async () => {
    const subject = `test-dlq-compat-${Date.now()}-value`;
    await codec.setCompatibility(subject, "BACKWARD");
    const now = schemaOf(TOPICS.dlq) as { fields: Array<{ name: string }> };
    const before = { ...now, fields: now.fields.filter((f) => f.name !== "headers") };
    const post = (schema: unknown) =>
      fetch(`${stack.schemaRegistryUrl}/subjects/${subject}/versions`, {
        method: "POST",
        headers: { "content-type": "application/vnd.schemaregistry.v1+json", ...registryHeaders() },
        body: JSON.stringify({ schema: JSON.stringify(schema) }),
      });
    expect((await post(before)).status).toBe(200);
    const res = await post(now);
    expect({ status: res.status, body: res.ok ? "" : await res.text() }).toEqual({ status: 200, body: "" });
  });
});
