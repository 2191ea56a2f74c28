// The ConsumerRunner's `gather` option on a real broker: every partition of a fetch reaches the
// handler in one call, the offsets of all of them commit, a poison record is dead-lettered with
// its bytes while the records of the other partitions in its batch are processed, and a handler
// that holds fails the batch instead of committing past the held record.
import { AvroCodec, type DeadLetter, namespacedTopics } from "@loyalty/contracts";
import {
  type TestStack,
  createTopic,
  readTopic,
  requireStack,
  testKafka,
  testNamespace,
  uniqueName,
} from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchingProducer,
  type ConsumedMessage,
  ConsumerRunner,
  DeadLetterPublisher,
  ManualClock,
  PoisonMessageError,
  RuntimeMetrics,
  createLogger,
  ensureTopics,
} from "../src/index.ts";
import { testStreamKafka } from "./stream-kafka.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await requireStack();
});

const PARTITIONS = 4;
const PER_PARTITION = 50;

describe("a gathering ConsumerRunner", () => {
  it("hands every partition of a fetch to one call, commits them all and dead-letters a poison record", async () => {
    const kafka = testKafka(stack.kafkaBrokers);
    const stream = testStreamKafka(stack.kafkaBrokers);
    const admin = kafka.admin();
    await admin.connect();
    const TOPICS = namespacedTopics(testNamespace());
    await ensureTopics(admin, { partitions: 3, replication: 1, topics: [TOPICS.dlq] });
    const input = uniqueName("test.gather-in");
    const output = uniqueName("test.gather-out");
    await createTopic(admin, input, PARTITIONS);
    await createTopic(admin, output, 1);

    // Written before the runner starts: its first fetch finds every partition with records.
    const poison = Buffer.from([0x7b, 0xff, 0xfe]);
    const producer = kafka.producer();
    await producer.connect();
    for (let p = 0; p < PARTITIONS; p++)
      await producer.send({
        topic: input,
        messages: Array.from({ length: PER_PARTITION }, (_, i) => ({
          partition: p,
          value: p === 2 && i === 7 ? poison : JSON.stringify({ id: `${p}-${i}` }),
        })),
      });
    await producer.disconnect();

    const codec = new AvroCodec(stack.schemaRegistryUrl);
    await codec.registerAll([TOPICS.dlq]);
    const out = new BatchingProducer(stream);
    const groupId = uniqueName("gather-test");
    const calls: ConsumedMessage[][] = [];
    const runner = new ConsumerRunner({
      service: "gather-test",
      kafka: stream,
      groupId,
      topics: [input],
      producer: out,
      dlq: new DeadLetterPublisher("gather-test", codec, out, TOPICS.dlq),
      logger: createLogger("gather-test", "silent"),
      metrics: new RuntimeMetrics("gather-test"),
      clock: new ManualClock(),
      gather: true,
      handler: async (messages, ctx) => {
        calls.push(messages);
        for (const m of messages) {
          let body: { id: string };
          try {
            body = JSON.parse(m.value?.toString("utf8") ?? "") as { id: string };
          } catch (err) {
            throw new PoisonMessageError("MALFORMED_JSON", `offset ${m.offset}: ${(err as Error).message}`);
          }
          ctx.produce({ topic: output, key: null, value: Buffer.from(body.id) });
        }
      },
    });
    await runner.start();
    try {
      const good = PARTITIONS * PER_PARTITION - 1;
      const processed = await readTopic(
        kafka,
        output,
        (ms) => new Set(ms.map((m) => m.value?.toString())).size >= good,
      );
      const ids = new Set(processed.map((m) => m.value?.toString()));
      expect(ids.size).toBe(good);
      expect(ids.has("2-7")).toBe(false);
      expect(ids.has("2-8")).toBe(true);

      const dead = await readTopic(kafka, TOPICS.dlq.name, (ms) =>
        ms.some((m) => m.key?.toString() === `${input}/2/7`),
      );
      const letter = dead.find((m) => m.key?.toString() === `${input}/2/7`);
      if (letter?.value == null) throw new TypeError("no dead letter for partition 2, offset 7");
      const record = await codec.decode<DeadLetter>(letter.value);
      expect(record.reasonCode).toBe("MALFORMED_JSON");
      expect(Buffer.compare(record.originalValue ?? Buffer.alloc(0), poison)).toBe(0);

      // A call mixed partitions (not necessarily the first: the first fetch holds only the
      // partitions whose start offsets were resolved by then).
      expect(Math.max(...calls.map((c) => new Set(c.map((m) => m.partition)).size))).toBeGreaterThan(1);

      // Every partition's offset committed to its end, with no lag left for the group.
      const deadline = Date.now() + 15_000;
      let committed: Array<{ partition: number; offset: string }> = [];
      for (;;) {
        [{ partitions: committed = [] } = { partitions: [] }] = await admin.fetchOffsets({
          groupId,
          topics: [input],
        });
        if (committed.every((c) => Number(c.offset) === PER_PARTITION) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(committed.map((c) => [c.partition, Number(c.offset)]).sort()).toEqual(
        Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION]),
      );
    } finally {
      await runner.stop();
      await out.disconnect();
      await admin.disconnect();
    }
  });

  it("fails a batch whose handler holds, committing nothing of it", async () => {
    const kafka = testKafka(stack.kafkaBrokers);
    const stream = testStreamKafka(stack.kafkaBrokers);
    const admin = kafka.admin();
    await admin.connect();
    const TOPICS = namespacedTopics(testNamespace());
    await ensureTopics(admin, { partitions: 3, replication: 1, topics: [TOPICS.dlq] });
    const input = uniqueName("test.gather-hold");
    await createTopic(admin, input, 2);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: input,
      messages: [0, 1].map((partition) => ({ partition, value: "x" })),
    });
    await producer.disconnect();

    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const out = new BatchingProducer(stream);
    const groupId = uniqueName("gather-hold");
    let calls = 0;
    const runner = new ConsumerRunner({
      service: "gather-hold",
      kafka: stream,
      groupId,
      topics: [input],
      producer: out,
      dlq: new DeadLetterPublisher("gather-hold", codec, out, TOPICS.dlq),
      logger: createLogger("gather-hold", "silent"),
      metrics: new RuntimeMetrics("gather-hold"),
      clock: new ManualClock(),
      gather: true,
      retry: { retries: 0, initialMs: 1, maxMs: 1, factor: 2 },
      handler: async (messages, ctx) => {
        calls++;
        const first = messages[0];
        if (first) ctx.hold(first.offset);
      },
    });
    await runner.start();
    try {
      const deadline = Date.now() + 20_000;
      while (runner.failure === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(calls).toBeGreaterThan(0);
      expect(runner.failure?.message).toMatch(/hold\(\) in a gathering ConsumerRunner/);
      const [{ partitions } = { partitions: [] }] = await admin.fetchOffsets({ groupId, topics: [input] });
      expect(partitions.every((c) => Number(c.offset) <= 0)).toBe(true);
    } finally {
      await runner.stop();
      await out.disconnect();
      await admin.disconnect();
    }
  });
});
