import { fileURLToPath } from "node:url";
import { AvroCodec, type PurchaseEvent, namespacedTopics, sourceOf } from "@loyalty/contracts";
import {
  type RunningService,
  type TestStack,
  readTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
  waitForGroup,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayFile } from "../src/index.ts";
import { datasetFile } from "./domain/datasets.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  await svc?.stop();
});

describe("replaying CDNOW_master.txt through the ingestor", () => {
  it("yields exactly 69,659 canonical purchases for 23,570 members, and a second replay adds none", async () => {
    const ns = testNamespace();
    const topics = namespacedTopics(ns);
    svc = await spawnService(MAIN, serviceEnv(stack, ns, { SERVICE_NAME: "ingestor" }));
    const kafka = testKafka(stack.kafkaBrokers);
    const file = datasetFile("cdnow", "CDNOW_master.txt");

    const t0 = Date.now();
    const first = await replayFile({ kafka, topic: topics.orders.name, file });
    expect(first.sent).toBe(69_659);
    let purchases = await readTopic(kafka, topics.purchases.name, (ms) => ms.length >= 69_659, 600_000);
    console.log(
      `first replay: published in ${first.elapsedMs} ms, all purchases out after ${Date.now() - t0} ms`,
    );
    expect(purchases.length).toBe(69_659);

    const second = await replayFile({ kafka, topic: topics.orders.name, file });
    expect(second.sent).toBe(69_659);
    // Everything the ingestor has committed, it has finished: nothing of the second copy may come out.
    await waitForGroup(kafka, `${ns}.ingestor`, [topics.orders.name], 600_000);
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    purchases = await readTopic(kafka, topics.purchases.name, (ms) => ms.length >= 69_659, 30_000);
    expect(purchases.length).toBe(69_659);

    const decoded = await Promise.all(purchases.map((m) => codec.decode<PurchaseEvent>(m.value!)));
    expect(new Set(decoded.map((p) => p.eventId)).size).toBe(69_659);
    expect(new Set(decoded.map((p) => p.memberId)).size).toBe(23_570);
    expect(
      decoded.every(
        (p) => p.type === "PURCHASE" && p.currency === "USD" && p.baseAmountMinor === p.amountMinor,
      ),
    ).toBe(true);
    // Dollars in the file add up to $2,500,315.63; the canonical events carry it to the cent.
    expect(decoded.reduce((s, p) => s + p.baseAmountMinor, 0)).toBe(250_031_563);
    // Keyed by member id, timestamped with the event time (what downstream watermarks run on).
    const m0 = purchases[0]!;
    const d0 = decoded[0]!;
    expect(m0.key?.toString()).toBe(d0.memberId);
    expect(Number(m0.timestamp)).toBe(d0.eventTime);
    // Each record names the orders partition it came from, and within one (purchases partition,
    // orders partition) pair event time never goes back: what churn-alert's watermark relies on.
    const lastTime = new Map<string, number>();
    let backwards = 0;
    purchases.forEach((m, i) => {
      const source = sourceOf(
        Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
      );
      expect(source?.topic).toBe(topics.orders.name);
      const pair = `${m.partition} ${source?.partition}`;
      const t = decoded[i]!.eventTime;
      if (t < (lastTime.get(pair) ?? Number.NEGATIVE_INFINITY)) backwards++;
      lastTime.set(pair, Math.max(t, lastTime.get(pair) ?? t));
    });
    expect(backwards).toBe(0);
    // Every orders partition is named (LOYALTY_PARTITIONS is 3 in the test environment).
    expect(new Set([...lastTime.keys()].map((k) => k.split(" ")[1])).size).toBe(3);
  }, 900_000);
});
