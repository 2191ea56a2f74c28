// Co-partitioned assignment (ADR 16) on the runtime's client: two members of one group, reading
// two topics of 3 partitions each with the runners' consumer settings (streamConsumer),
// each hold partition p of both topics or of neither: the task. librdkafka's range assignor does
// this; the compatibility layer's default (round-robin) deals topic-partitions out one by one and
// would give partition p of the two topics to different members.
import { setTimeout as sleep } from "node:timers/promises";
import { type TestStack, createTopic, requireStack, testKafka, uniqueName } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StreamConsumer, streamConsumer } from "../src/index.ts";
import { testStreamKafka } from "./stream-kafka.ts";

let stack: TestStack;
const consumers: StreamConsumer[] = [];

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  for (const c of consumers) await c.disconnect().catch(() => undefined);
});

describe("co-partitioned assignment", () => {
  it("gives partition p of every input topic to the same member", async () => {
    const a = uniqueName("test.assign-a");
    const b = uniqueName("test.assign-b");
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    await createTopic(admin, a, 3);
    await createTopic(admin, b, 3);
    await admin.disconnect();
    const groupId = uniqueName("test.assign");
    const owned = [new Map<string, readonly number[]>(), new Map<string, readonly number[]>()];
    for (const i of [0, 1]) {
      const consumer = streamConsumer(testStreamKafka(stack.kafkaBrokers), {
        groupId,
        sessionTimeoutMs: 10_000,
        maxBytesPerPartition: 1024 * 1024,
        fromBeginning: true,
        onAssign: (assignment) => {
          owned[i] = new Map(assignment);
        },
        onRevoke: () => {
          owned[i] = new Map();
        },
      });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [a, b] });
      await consumer.run({ eachBatch: async () => undefined });
    }
    const count = (m: Map<string, readonly number[]>) => [...m.values()].reduce((s, l) => s + l.length, 0);
    const deadline = Date.now() + 60_000;
    while (!(count(owned[0] ?? new Map()) > 0 && count(owned[1] ?? new Map()) > 0)) {
      if (Date.now() > deadline)
        throw new Error(`the group did not settle: ${JSON.stringify(owned.map((m) => [...m]))}`);
      await sleep(100);
    }
    // Every topic-partition once, and each member holds the same partitions of both topics.
    const [first, second] = owned as [Map<string, readonly number[]>, Map<string, readonly number[]>];
    expect(count(first) + count(second)).toBe(6);
    for (const m of [first, second]) {
      const pa = [...(m.get(a) ?? [])].sort();
      const pb = [...(m.get(b) ?? [])].sort();
      expect(pa.length).toBeGreaterThan(0);
      expect(pa).toEqual(pb);
    }
  });
});
