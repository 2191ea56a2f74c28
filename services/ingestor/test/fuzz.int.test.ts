import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AvroCodec,
  type DeadLetter,
  type MemberChanged,
  type PurchaseEvent,
  namespacedTopics,
} from "@loyalty/contracts";
import { createPool } from "@loyalty/db";
import {
  type RunningService,
  type TestStack,
  principalSasl,
  readTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { autoEnrolmentEventId, decodeJson, memberIdFor, validateOrder } from "../src/domain/index.ts";
import { FUZZ_CURRENCIES, Rng, generateFuzz } from "./support/fuzz.ts";
import {
  FUZZ_INDEX_HEADER,
  type GeneratedHeaders,
  headerDiff,
  hostileHeaders,
} from "./support/hostile-headers.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  await svc?.stop();
});

function fxFile(): string {
  const rates: Record<string, string> = { EUR: "1.0832", JPY: "0.0067", KWD: "3.2570", GBP: "1.2650" };
  const file = join(mkdtempSync(join(tmpdir(), "fx-")), "fx.json");
  const list = FUZZ_CURRENCIES.filter((c) => c !== "USD").map((c) => ({
    currency: c,
    effectiveFrom: "2019-01-01",
    rate: rates[c],
  }));
  writeFileSync(file, JSON.stringify({ baseCurrency: "USD", rates: list }));
  return file;
}

describe("10,000 malformed and hostile messages, with hostile headers, interleaved with valid orders", () => {
  it("dead-letters every bad one with its reason code, original bytes and headers, emits every valid one exactly once and nothing else, and keeps running", async () => {
    const ns = testNamespace();
    const topics = namespacedTopics(ns);
    // A zero hold: a refund of an order never seen is dead-lettered at its partition's next message.
    svc = await spawnService(
      MAIN,
      serviceEnv(stack, ns, {
        SERVICE_NAME: "ingestor",
        FX_RATES_FILE: fxFile(),
        INGEST_REFUND_HOLD_MS: "0",
      }),
    );
    let exits = 0;
    svc.child.on("exit", () => exits++);

    const messages = generateFuzz(20261123, 17_000);
    // Binary, empty, repeated and prototype-named headers: a dead letter keeps each value's bytes.
    const headerRng = new Rng(11);
    const headers: GeneratedHeaders[] = messages.map((_, i) => hostileHeaders(headerRng, i));
    // The service's own decoder: valid payloads may carry a BOM or surrounding whitespace.
    const typeOf = (b: Buffer) => {
      const d = decodeJson(b);
      return d.ok ? (d.value as { type?: string }).type : undefined;
    };
    const isOrphan = (i: number) =>
      messages[i]!.expect.valid && typeOf(messages[i]!.bytes) !== "ORDER_PLACED";
    const bad = messages.filter((m) => !m.expect.valid).length;
    // Valid refunds and cancellations here name orders that never come: held, then dead-lettered.
    const orphans = messages.filter((_, i) => isOrphan(i)).length;
    const valid = messages.flatMap((m, i) => (m.expect.valid && !isOrphan(i) ? [m.expect.orderId] : []));
    expect(bad).toBeGreaterThanOrEqual(10_000);
    expect(orphans).toBeGreaterThan(0);

    const kafka = testKafka(stack.kafkaBrokers);
    // A long request timeout makes a slow broker be waited for rather than retried; retries still
    // happen (kafkajs's idempotent producer fails here with OUT_OF_ORDER_SEQUENCE_NUMBER), so
    // the expectations below are taken from the input topic as written.
    // As an upstream system: the principal that may write orders.v1 and members.v1.
    const sasl = principalSasl("upstream");
    const producer = new Kafka({
      clientId: "fuzz-upstream",
      brokers: stack.kafkaBrokers,
      logLevel: logLevel.NOTHING,
      requestTimeout: 120_000,
      ...(sasl === undefined ? {} : { sasl }),
    }).producer();
    await producer.connect();
    // Batches stay under the broker's 1 MiB record-batch limit: some payloads are huge on purpose.
    // Keyed as orders.v1's contract says (customer id; a bad message by its index): kafkajs
    // re-partitions keyless messages when it retries a send, so a keyless copy could land in
    // another partition, whose task has not seen it (deduplication is per task, ADR 16).
    const upstreamKey = (i: number) => {
      const d = messages[i]!.expect.valid ? decodeJson(messages[i]!.bytes) : undefined;
      const customerId = d?.ok ? (d.value as { customerId?: unknown }).customerId : undefined;
      return typeof customerId === "string" ? customerId : `fuzz-${i}`;
    };
    let chunk: Array<{ key: string; value: Buffer; headers: GeneratedHeaders["headers"] }> = [];
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (bytes + m.bytes.length > 600_000 && chunk.length) {
        await producer.send({ topic: topics.orders.name, messages: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push({ key: upstreamKey(i), value: m.bytes, headers: headers[i]!.headers });
      bytes += m.bytes.length;
    }
    await producer.send({ topic: topics.orders.name, messages: chunk });
    // One last valid order per partition moves each partition's clock past its last hold.
    for (const partition of [0, 1, 2]) {
      const orderId = `sentinel-${partition}`;
      valid.push(orderId);
      const order = {
        source: "test",
        type: "ORDER_PLACED",
        orderId,
        // One customer per sentinel: a customer's records share a partition (the topic's keying).
        customerId: `c-sentinel-${partition}`,
        occurredAt: Date.now(),
        currency: "USD",
        totalMinor: 100,
        lines: [],
      };
      await producer.send({
        topic: topics.orders.name,
        messages: [{ partition, value: JSON.stringify(order) }],
      });
    }
    await producer.disconnect();

    // The upstream is at-least-once: a retry after a lost acknowledgement writes a batch twice
    // (seen on a loaded machine). Each copy of a bad message is its own input record and gets its
    // own dead letter; a valid copy is a duplicate event and is dropped. So the expectation is
    // taken from what the input topic holds.
    const input = await readTopic(kafka, topics.orders.name, (ms) => ms.length >= messages.length + 3);
    const copies = input.flatMap((m) => {
      const h = m.headers?.[FUZZ_INDEX_HEADER];
      return h === undefined ? [] : [Number(String(h))];
    });
    expect(new Set(copies).size).toBe(messages.length);
    const badCopies = copies.filter((i) => !messages[i]!.expect.valid).length;
    expect(badCopies).toBeGreaterThanOrEqual(bad);

    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const expectedDead = badCopies + orphans;
    const dead = await readTopic(kafka, topics.dlq.name, (ms) => ms.length >= expectedDead, 600_000);
    // Exactly once per source position, and nothing else.
    expect(new Set(dead.map((d) => String(d.key))).size).toBe(dead.length);
    expect(dead.length).toBe(expectedDead);
    const wrong: string[] = [];
    const perReason = new Map<string, number>();
    for (const d of dead) {
      const rec = await codec.decode<DeadLetter>(d.value!);
      perReason.set(rec.reasonCode, (perReason.get(rec.reasonCode) ?? 0) + 1);
      const i = Number(rec.originalHeaders[FUZZ_INDEX_HEADER]);
      const m = messages[i]!;
      const expected = isOrphan(i)
        ? "ORPHAN_REFUND_TIMEOUT"
        : m.expect.valid
          ? "(not dead-lettered)"
          : m.expect.code;
      if (rec.reasonCode !== expected)
        wrong.push(`#${i} (${m.label}): expected ${expected}, got ${rec.reasonCode} (${rec.reason})`);
      else if (!rec.originalValue?.equals(m.bytes)) wrong.push(`#${i} (${m.label}): original bytes differ`);
      else {
        const problem = headerDiff(rec.headers, headers[i]!.entries);
        if (problem) wrong.push(`#${i} (${m.label}): ${problem}`);
      }
    }
    expect(wrong.slice(0, 20)).toEqual([]);

    const out = await readTopic(kafka, topics.purchases.name, (ms) => ms.length >= valid.length, 300_000);
    const orderIds = await Promise.all(
      out.map(async (m) => (await codec.decode<PurchaseEvent>(m.value!)).orderId),
    );
    expect(orderIds.length).toBe(valid.length);
    expect(new Set(orderIds)).toEqual(new Set(valid));

    // Its other output: one enrolment per member of an accepted order, and none for a member
    // whose only orders were rejected (nothing derived from rejected input reaches the engine).
    const acceptedMembers = new Set(["c-sentinel-0", "c-sentinel-1", "c-sentinel-2"]);
    messages.forEach((m, i) => {
      if (!m.expect.valid || isOrphan(i)) return;
      const d = decodeJson(m.bytes);
      const o = d.ok ? validateOrder(d.value) : null;
      if (o?.ok) acceptedMembers.add(memberIdFor(o.value.customerId, o.value.source));
    });
    const changes = await readTopic(
      kafka,
      topics.memberChanges.name,
      (ms) => ms.length >= acceptedMembers.size,
    );
    const enrolled = await Promise.all(
      changes.map(async (m) => (await codec.decode<MemberChanged>(m.value!)).eventId),
    );
    expect(enrolled.length).toBe(acceptedMembers.size);
    expect(new Set(enrolled)).toEqual(new Set([...acceptedMembers].map((id) => autoEnrolmentEventId(id))));
    const pool = createPool(stack.databaseUrl, { max: 1, namespace: ns });
    try {
      const rows = await pool.query<{ member_id: string }>("select member_id from ingest_members");
      expect(new Set(rows.rows.map((r) => r.member_id))).toEqual(acceptedMembers);
    } finally {
      await pool.end();
    }

    const running = svc.child.exitCode === null;
    console.log(
      [
        "orders.v1 hostile run:",
        `  sent ${messages.length + 3} (${input.length} records on the topic), valid ${messages.length - bad + 3} (${orphans} of them refunds of orders never seen), hostile ${bad}`,
        `  dead-lettered ${dead.length}: ${[...perReason]
          .sort()
          .map(([k, n]) => `${k} ${n}`)
          .join(", ")}`,
        `  emitted: ${orderIds.length} purchases, ${enrolled.length} enrolments; crashes/restarts: ${exits}; running: ${running}`,
      ].join("\n"),
    );
    expect(exits).toBe(0);

    // It never crashed: still running, and it stops cleanly.
    expect(svc.child.exitCode).toBeNull();
    expect(await svc.stop()).toBe(0);
    svc = undefined;
  }, 900_000);
});
