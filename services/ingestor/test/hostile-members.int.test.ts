import { fileURLToPath } from "node:url";
// Issue 21, "Done when": 10,000 hostile Kafka messages to members.v1 (the ingestor's other input
// topic; orders.v1 is fuzz.int.test.ts). Every rejected one is dead-lettered once with its reason
// code, its original bytes and every header value byte-for-byte; every valid one reaches the
// ingestor's output (loyalty.members.v1, the rules engine's input) exactly once and nothing else
// does; its state rows hold exactly the valid members; the service never restarts.
import {
  AvroCodec,
  type DeadLetter,
  type MemberChanged,
  avroTypeOf,
  namespacedTopics,
} from "@loyalty/contracts";
import { createPool } from "@loyalty/db";
import {
  type RunningService,
  type TestStack,
  principalSasl,
  readTopic,
  registryHeaders,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateMemberFuzz } from "./support/fuzz-members.ts";
import { Rng } from "./support/fuzz.ts";
import {
  FUZZ_INDEX_HEADER,
  type GeneratedHeaders,
  headerDiff,
  hostileHeaders,
} from "./support/hostile-headers.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const HOSTILE = 10_000;
let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  await svc?.stop();
});

/** Schema ids the registry answers 404 for (checked, not assumed). */
async function unknownSchemaIds(url: string): Promise<number[]> {
  const ids: number[] = [];
  for (const id of [2_147_483_647, 987_654_321, -1, -2_147_483_648]) {
    const res = await fetch(`${url}/schemas/ids/${id}`, { headers: registryHeaders() });
    if (res.status === 404) ids.push(id);
  }
  return ids;
}

describe("10,000 hostile messages to members.v1, with hostile headers, valid events interleaved", () => {
  it("dead-letters each with its reason, bytes and headers; applies each valid event once; never restarts", async () => {
    const ns = testNamespace();
    const topics = namespacedTopics(ns);
    svc = await spawnService(MAIN, serviceEnv(stack, ns, { SERVICE_NAME: "ingestor" }));
    let exits = 0;
    const child = svc.child;
    child.on("exit", () => exits++);
    // A crash fails the test at once instead of at a read's timeout.
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code, signal) => reject(new Error(`the ingestor exited (${code ?? signal})`))),
    );
    exited.catch(() => {});
    const unlessExited = <T>(p: Promise<T>): Promise<T> => Promise.race([p, exited]);

    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const unknownIds = await unknownSchemaIds(stack.schemaRegistryUrl);
    expect(unknownIds.length).toBeGreaterThan(0);
    const avro = {
      membersId: await codec.register(topics.members),
      membersType: avroTypeOf(topics.members),
      ordersId: await codec.register(topics.orders),
      ordersType: avroTypeOf(topics.orders),
      unknownIds,
    };
    // About 20 % valid: 12,700 messages hold at least 10,000 hostile ones.
    const messages = generateMemberFuzz(20261206, 12_700, avro);
    const headerRng = new Rng(7);
    const headers: GeneratedHeaders[] = messages.map((_, i) => hostileHeaders(headerRng, i));
    const hostile = messages.filter((m) => !m.expect.valid).length;
    expect(hostile).toBeGreaterThanOrEqual(HOSTILE);

    // A long request timeout: a slow broker is waited for rather than retried. Retries can still
    // write a batch twice (at-least-once upstream), so expectations come from the topic as written.
    // As an upstream system: the principal that may write orders.v1 and members.v1.
    const sasl = principalSasl("upstream");
    const producer = new Kafka({
      clientId: "hostile-upstream",
      brokers: stack.kafkaBrokers,
      logLevel: logLevel.NOTHING,
      requestTimeout: 120_000,
      ...(sasl === undefined ? {} : { sasl }),
    }).producer();
    await producer.connect();
    let chunk: Array<{ key: string | Buffer; value: Buffer; headers: GeneratedHeaders["headers"] }> = [];
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (bytes + m.bytes.length > 600_000 && chunk.length) {
        await producer.send({ topic: topics.members.name, messages: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push({ key: m.key, value: m.bytes, headers: headers[i]!.headers });
      bytes += m.bytes.length;
    }
    await producer.send({ topic: topics.members.name, messages: chunk });
    await producer.disconnect();

    const kafka = testKafka(stack.kafkaBrokers);
    const input = await readTopic(kafka, topics.members.name, (ms) => ms.length >= messages.length, 120_000);
    const copies = input.map((m) => Number(String(m.headers?.[FUZZ_INDEX_HEADER])));
    expect(new Set(copies).size).toBe(messages.length);
    // Each copy of a hostile message is its own input record and gets its own dead letter.
    const hostileCopies = copies.filter((i) => !messages[i]!.expect.valid).length;

    const dead = await unlessExited(
      readTopic(kafka, topics.dlq.name, (ms) => ms.length >= hostileCopies, 300_000),
    );
    const perReason = new Map<string, number>();
    const wrong: string[] = [];
    for (const d of dead) {
      const rec = await codec.decode<DeadLetter>(d.value ?? Buffer.alloc(0));
      perReason.set(rec.reasonCode, (perReason.get(rec.reasonCode) ?? 0) + 1);
      const i = Number(rec.originalHeaders[FUZZ_INDEX_HEADER]);
      const m = messages[i];
      if (!m) {
        wrong.push(`dead letter without a known ${FUZZ_INDEX_HEADER}: ${rec.reasonCode} ${rec.reason}`);
        continue;
      }
      const expected = m.expect.valid ? "(not dead-lettered)" : m.expect.code;
      const headerProblem = headerDiff(rec.headers, headers[i]!.entries);
      if (rec.reasonCode !== expected)
        wrong.push(`#${i} (${m.label}): expected ${expected}, got ${rec.reasonCode} (${rec.reason})`);
      else if (!rec.reason) wrong.push(`#${i} (${m.label}): no reason`);
      else if (!rec.originalValue?.equals(m.bytes)) wrong.push(`#${i} (${m.label}): original bytes differ`);
      else if (!rec.originalKey?.equals(Buffer.from(m.key)))
        wrong.push(`#${i} (${m.label}): original key differs`);
      else if (rec.sourceTopic !== topics.members.name) wrong.push(`#${i}: source topic ${rec.sourceTopic}`);
      else if (headerProblem) wrong.push(`#${i} (${m.label}): ${headerProblem}`);
    }
    expect(wrong.slice(0, 20)).toEqual([]);
    // One dead letter per hostile input record, and nothing else.
    expect(new Set(dead.map((d) => String(d.key))).size).toBe(dead.length);
    expect(dead.length).toBe(hostileCopies);

    // The ingestor's output is exactly the valid events, once each (re-sent copies are dropped).
    const valid = new Map(
      messages.flatMap((m) => (m.expect.valid ? [[m.expect.eventId, m.expect] as const] : [])),
    );
    const out = await unlessExited(
      readTopic(kafka, topics.memberChanges.name, (ms) => ms.length >= valid.size, 120_000),
    );
    const emitted = await Promise.all(
      out.map((m) => codec.decode<MemberChanged>(m.value ?? Buffer.alloc(0))),
    );
    expect(emitted.length).toBe(valid.size);
    expect(new Set(emitted.map((e) => e.eventId))).toEqual(new Set(valid.keys()));

    // Its state rows: exactly the valid members (no orders here, so no auto-enrolment).
    const pool = createPool(stack.databaseUrl, { max: 1, namespace: ns });
    try {
      const rows = await pool.query<{ member_id: string; registered: boolean }>(
        "select member_id, registered from ingest_members",
      );
      expect(new Set(rows.rows.map((r) => r.member_id))).toEqual(
        new Set([...valid.values()].map((v) => (v.valid ? v.customerId : ""))),
      );
      expect(rows.rows.every((r) => r.registered)).toBe(true);
    } finally {
      await pool.end();
    }

    const running = svc.child.exitCode === null;
    console.log(
      [
        "members.v1 hostile run:",
        `  sent ${messages.length} (${input.length} records on the topic), valid ${messages.length - hostile} (${valid.size} distinct events), hostile ${hostile}`,
        `  dead-lettered ${dead.length}: ${[...perReason]
          .sort()
          .map(([k, n]) => `${k} ${n}`)
          .join(", ")}`,
        `  emitted to ${topics.memberChanges.name}: ${emitted.length}; crashes/restarts: ${exits}; running: ${running}`,
      ].join("\n"),
    );
    // It never crashed: still running, and it stops cleanly.
    expect(exits).toBe(0);
    expect(running).toBe(true);
    expect(await svc.stop()).toBe(0);
    svc = undefined;
  }, 600_000);
});
