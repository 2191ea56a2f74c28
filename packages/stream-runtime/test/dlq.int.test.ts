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

// Bytes that are not UTF-8, a repeated header (one value not UTF-8, one with a comma) and text.
const BINARY = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0xc3]);
const POISON_HEADERS = {
  bin: BINARY,
  multi: [Buffer.from("a,b"), Buffer.from([0xc0, 0xaf])],
  text: "plain",
};

beforeAll(async () => {
  stack = await requireStack();
});

describe("a poison message", () => {
  it("lands in loyalty.dlq.v1 with its reason and original bytes while the next good message is processed", async () => {
    const kafka = testKafka(stack.kafkaBrokers);
    const stream = testStreamKafka(stack.kafkaBrokers);
    const admin = kafka.admin();
    await admin.connect();
    // Its own dead-letter topic: the engine's own would count this test's poison as the demo's.
    const TOPICS = namespacedTopics(testNamespace());
    await ensureTopics(admin, { partitions: 3, replication: 1, topics: [TOPICS.dlq] });
    const input = uniqueName("test.dlq-in");
    const output = uniqueName("test.dlq-out");
    await createTopic(admin, input, 1);
    await createTopic(admin, output, 1);
    await admin.disconnect();

    const poison = Buffer.from([0x7b, 0x22, 0x69, 0x64, 0xff, 0xfe, 0x00]); // '{"id' then garbage
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: input,
      messages: [
        { value: JSON.stringify({ id: "good-1" }) },
        { key: "k", value: poison, headers: POISON_HEADERS },
        { value: JSON.stringify({ id: "good-2" }) },
      ],
    });
    await producer.disconnect();

    const codec = new AvroCodec(stack.schemaRegistryUrl);
    await codec.registerAll([TOPICS.dlq]);
    const out = new BatchingProducer(stream);
    const logger = createLogger("dlq-test", "silent");
    const calls: Array<{ first: bigint; committedBefore: bigint }> = [];
    const runner = new ConsumerRunner({
      service: "dlq-test",
      kafka: stream,
      groupId: uniqueName("dlq-test"),
      topics: [input],
      producer: out,
      dlq: new DeadLetterPublisher("dlq-test", codec, out, TOPICS.dlq),
      logger,
      metrics: new RuntimeMetrics("dlq-test"),
      clock: new ManualClock(),
      handler: async (messages, ctx) => {
        calls.push({ first: BigInt(messages[0]!.offset), committedBefore: BigInt(ctx.committedBefore) });
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
      const processed = await readTopic(kafka, output, (ms) =>
        ms.some((m) => m.value?.toString() === "good-2"),
      );
      expect(processed.map((m) => m.value?.toString())).toEqual(["good-1", "good-2"]);

      const dead = await readTopic(kafka, TOPICS.dlq.name, (ms) =>
        ms.some((m) => m.key?.toString() === `${input}/0/1`),
      );
      const record = await codec.decode<DeadLetter>(
        dead.find((m) => m.key?.toString() === `${input}/0/1`)!.value!,
      );
      expect(record.reasonCode).toBe("MALFORMED_JSON");
      expect(record.reason).toMatch(/offset 1/);
      expect(record.sourceTopic).toBe(input);
      expect(record.sourcePartition).toBe(0);
      expect(record.sourceOffset).toBe(1);
      expect(Buffer.compare(record.originalValue!, poison)).toBe(0);
      expect(record.originalKey?.toString()).toBe("k");
      // Every header value separately, byte for byte, in the order they were sent.
      expect(record.headers.map((h) => [h.key, h.value?.toString("hex") ?? null])).toEqual([
        ["bin", BINARY.toString("hex")],
        ["multi", "612c62"],
        ["multi", "c0af"],
        ["text", Buffer.from("plain").toString("hex")],
      ]);
      // The deprecated text form is still filled as before.
      expect(record.originalHeaders.text).toBe("plain");
      expect(Object.keys(record.originalHeaders)).toEqual(["bin", "multi", "text"]);

      // Narrowing the poison down re-runs the handler on parts of the chunk; none of them may
      // take its own start for the committed position (the chunk commits only as a whole).
      expect(calls.some((c) => c.committedBefore < c.first)).toBe(true);
      expect(calls.every((c) => c.committedBefore <= c.first)).toBe(true);
    } finally {
      await runner.stop();
      await out.disconnect();
    }
  });
});
