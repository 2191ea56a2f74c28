import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { namespacedTopics } from "@loyalty/contracts";
import { createPool } from "@loyalty/db";
import {
  type TestStack,
  readTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { replayFile } from "../src/index.ts";
import { datasetFile } from "./domain/datasets.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const ORDERS = 20_000;
let stack: TestStack;

beforeAll(async () => {
  stack = await requireStack();
});

async function accepted(ns: string): Promise<number> {
  const pool = createPool(stack.databaseUrl, { max: 1, namespace: ns });
  try {
    const r = await pool.query<{ n: number }>(
      "select coalesce((select n from ingest_counters where name = 'accepted'), 0)::int as n",
    );
    return r.rows[0]!.n;
  } catch {
    return 0; // tables not migrated yet
  } finally {
    await pool.end();
  }
}

/** Per member, the sequence of canonical records (bytes): what downstream services see. */
async function output(ns: string): Promise<Map<string, string[]>> {
  const msgs = await readTopic(
    testKafka(stack.kafkaBrokers),
    namespacedTopics(ns).purchases.name,
    (ms) => ms.length >= ORDERS,
    300_000,
  );
  const byMember = new Map<string, string[]>();
  for (const m of msgs) {
    const k = m.key!.toString();
    // Skip the 5-byte registry frame: schema ids may differ between namespaces' subjects.
    const body = m.value!.subarray(5).toString("base64");
    byMember.set(k, [...(byMember.get(k) ?? []), body]);
  }
  return byMember;
}

async function run(crash: boolean): Promise<Map<string, string[]>> {
  const ns = testNamespace();
  const env = serviceEnv(stack, ns, { SERVICE_NAME: "ingestor", CONSUMER_MAX_BATCH: "500" });
  let svc = await spawnService(MAIN, env);
  while ((await accepted(ns)) < 0 || !(await topicReady(ns))) await sleep(200);
  const r = await replayFile({
    kafka: testKafka(stack.kafkaBrokers),
    topic: namespacedTopics(ns).orders.name,
    file: datasetFile("cdnow", "CDNOW_master.txt"),
    limit: ORDERS,
  });
  expect(r.sent).toBe(ORDERS);
  if (crash) {
    while ((await accepted(ns)) < ORDERS / 4) await sleep(20);
    await svc.kill();
    const atKill = await accepted(ns);
    expect(atKill).toBeLessThan(ORDERS);
    svc = await spawnService(MAIN, env);
  }
  try {
    return await output(ns);
  } finally {
    expect(await svc.stop()).toBe(0);
  }
}

async function topicReady(ns: string): Promise<boolean> {
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(namespacedTopics(ns).orders.name);
  } finally {
    await admin.disconnect();
  }
}

describe("the ingestor SIGKILLed during a replay", () => {
  it("produces, after a restart, exactly what an uninterrupted run produces: no loss, no duplicate", async () => {
    const clean = await run(false);
    const crashed = await run(true);
    const count = (m: Map<string, string[]>) => [...m.values()].reduce((s, l) => s + l.length, 0);
    expect(count(clean)).toBe(ORDERS);
    expect(count(crashed)).toBe(ORDERS);
    expect(crashed).toEqual(clean);
  }, 900_000);
});
