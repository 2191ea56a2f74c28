// ADR 13: the API's expiry must not pass a time the rules engine has not reached. While the
// engine's consumer group has records left (real Kafka offsets), a quiet points partition holds
// the API's clock at its last time, however long it has been quiet; once the group has caught
// up, the latest time counts. Real Kafka and PostgreSQL, no engine process: the group's offsets
// are set as an engine stopped mid-stream would leave them (admin.setOffsets joins the group:
// about 5 s each).
import type { Pool } from "@loyalty/db";
import { verifyLedger } from "@loyalty/rules-engine";
import { WatermarkClock } from "@loyalty/stream-runtime";
import { type TestStack, createTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import type { Admin } from "kafkajs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EngineProgress } from "../../src/engine-progress.ts";
import { ApiClock, expiryTick } from "../../src/expiry.ts";
import { DAY, balanceOf, namespacePool, seedLots } from "./helpers.ts";

let stack: TestStack;
let pool: Pool;
let admin: Admin;
let ns: string;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
  await pool?.end();
});

/** A topic with the given number of records in each partition (what they say does not matter). */
async function topicWith(name: string, records: number[]): Promise<string> {
  const topic = `${ns}.engine-lag.${name}`;
  await createTopic(admin, topic, records.length);
  const producer = testKafka(stack.kafkaBrokers).producer();
  await producer.connect();
  for (const [partition, n] of records.entries())
    await producer.send({
      topic,
      messages: Array.from({ length: n }, (_, i) => ({ partition, value: `r${i}` })),
    });
  await producer.disconnect();
  return topic;
}

it("expires only up to the quiet partition's time while the engine has input left", async () => {
  const purchases = await topicWith("purchases", [3, 3]);
  const group = `${ns}.engine-lag.rules-engine`;
  const commit = (p1: number) =>
    admin.setOffsets({
      groupId: group,
      topic: purchases,
      partitions: [
        { partition: 0, offset: "3" },
        { partition: 1, offset: String(p1) },
      ],
    });

  const t0 = Date.UTC(1998, 0, 1);
  let wall = 0;
  const watermark = new WatermarkClock(5_000, () => wall);
  watermark.assign("points", [0, 1]);
  // Partition 1 of the points topic stopped at t0 + 10 days (its purchases are still unread)
  // and has been quiet for a minute; partition 0 went on to t0 + 400 days.
  watermark.observe("points", 1, t0 + 10 * DAY, true);
  wall = 60_000;
  watermark.observe("points", 0, t0 + 400 * DAY, true);
  await seedLots(pool, "lag-a", [{ points: 30, expiresAt: t0 + 5 * DAY }]);
  await seedLots(pool, "lag-b", [{ points: 40, expiresAt: t0 + 100 * DAY }]);
  const clock = new ApiClock(watermark, pool, new EngineProgress(admin, group, [purchases]));
  const errors: unknown[] = [];
  const tick = () =>
    expiryTick(
      pool,
      clock,
      () => undefined,
      (e) => errors.push(e),
    );

  await commit(1); // two records left on partition 1
  expect(await tick()).toBe(1);
  expect(await tick()).toBe(0); // the same offsets a second time: still two records left
  expect(clock.now()).toBe(t0 + 10 * DAY);
  expect(await balanceOf(pool, "lag-a")).toBe(0);
  expect(await balanceOf(pool, "lag-b")).toBe(40);

  await commit(3); // the engine has consumed everything
  expect(await tick()).toBe(1);
  expect(clock.now()).toBe(t0 + 400 * DAY);
  expect(await balanceOf(pool, "lag-b")).toBe(0);
  expect(errors).toEqual([]);
  expect((await verifyLedger(pool)).differences).toEqual([]);
});

it("takes a lag of one as a commit marker only once the offsets stand still", async () => {
  const purchases = await topicWith("markers", [2]);
  const group = `${ns}.engine-lag.markers-engine`;
  const progress = new EngineProgress(admin, group, [purchases]);
  const commit = (offset: number) =>
    admin.setOffsets({
      groupId: group,
      topic: purchases,
      partitions: [{ partition: 0, offset: String(offset) }],
    });

  await commit(0);
  expect(await progress.caughtUp()).toBe(false);
  expect(await progress.caughtUp()).toBe(false); // two left: standing still does not help
  await commit(1);
  expect(await progress.caughtUp()).toBe(false); // moved since the last look
  expect(await progress.caughtUp()).toBe(true);
});
