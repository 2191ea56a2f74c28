// A running service's dead-letter path (the counting-consumer fixture, booted by bootService and
// run by runService, as every consumer service is): a message with a binary header and a
// repeated header comes out of the namespace's loyalty.dlq.v1 with every header value
// byte-identical, each value separately.
import { AvroCodec, type DeadLetter, namespacedTopics } from "@loyalty/contracts";
import {
  type RunningService,
  type TestStack,
  createTopic,
  readTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
  uniqueName,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTopics } from "../src/index.ts";

let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  await svc?.stop();
});

describe("a running service's dead letter", () => {
  it("keeps binary and repeated headers byte for byte, each value separately", async () => {
    const ns = testNamespace();
    const topics = namespacedTopics(ns);
    const topic = uniqueName("test.dlq-svc");
    const kafka = testKafka(stack.kafkaBrokers);
    const admin = kafka.admin();
    await admin.connect();
    await createTopic(admin, topic, 1);
    // Created here, before the service does it at boot, so that it can be read from the start.
    await ensureTopics(admin, { partitions: 3, replication: 1, topics: [topics.dlq] });
    await admin.disconnect();

    const binary = Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80]); // not UTF-8
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        {
          key: "poison",
          value: Buffer.from([0x7b, 0xff]), // not JSON: the fixture's handler throws
          headers: { trace: binary, tag: [Buffer.from("a,b"), Buffer.from([0xe2, 0x82]), "c"] },
        },
      ],
    });
    await producer.disconnect();

    const service = uniqueName("dlq-svc");
    svc = await spawnService(
      new URL("./fixtures/counting-consumer.ts", import.meta.url).pathname,
      serviceEnv(stack, ns, { SERVICE_NAME: service, TEST_TOPIC: topic }),
    );
    const key = `${topic}/0/0`;
    const dead = await readTopic(kafka, topics.dlq.name, (ms) => ms.some((m) => m.key?.toString() === key));
    const value = dead.find((m) => m.key?.toString() === key)?.value;
    if (!value) throw new Error(`no dead letter keyed ${key} on ${topics.dlq.name}`);
    const record = await new AvroCodec(stack.schemaRegistryUrl).decode<DeadLetter>(value);
    expect(record.reasonCode).toBe("PROCESSING_FAILED");
    expect(record.service).toBe(service);
    expect(record.headers.map((h) => [h.key, h.value?.toString("hex") ?? null])).toEqual([
      ["trace", binary.toString("hex")],
      ["tag", Buffer.from("a,b").toString("hex")],
      ["tag", "e282"],
      ["tag", Buffer.from("c").toString("hex")],
    ]);
    expect(record.originalValue?.equals(Buffer.from([0x7b, 0xff]))).toBe(true);
    expect(await svc.stop()).toBe(0);
    svc = undefined;
  });
});
