import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { AvroCodec, type AvroCodec as Codec, type DeadLetter, namespacedTopics } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import {
  type TestStack,
  createTopic,
  readTopic,
  requireStack,
  serviceEnv,
  testKafka,
  testNamespace,
  uniqueName,
} from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let stack: TestStack;
let pool: Pool;
let codec: Codec;
const ns = testNamespace();

function start(env: Record<string, string>): ChildProcess {
  return spawn(
    process.execPath,
    ["--import", "tsx", new URL("./fixtures/task-counter.ts", import.meta.url).pathname],
    {
      cwd: new URL("../../..", import.meta.url).pathname,
      env: serviceEnv(stack, ns, env),
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

async function stop(child: ChildProcess): Promise<number | null> {
  const done = exited(child);
  child.kill("SIGTERM");
  return (await done).code;
}

async function produce(topic: string, values: Array<{ key: string; value: string; timestamp?: string }>) {
  const producer = testKafka(stack.kafkaBrokers).producer();
  await producer.connect();
  for (let i = 0; i < values.length; i += 500)
    await producer.send({ topic, messages: values.slice(i, i + 500) });
  await producer.disconnect();
}

async function setup() {
  const input = uniqueName("test.tasks");
  const output = uniqueName("test.tasks-out");
  const service = uniqueName("task-counter");
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  await createTopic(admin, input, 3);
  await createTopic(admin, output, 3);
  await admin.disconnect();
  return { input, output, service, env: { SERVICE_NAME: service, TEST_TOPIC: input, OUTPUT_TOPIC: output } };
}

/** Each key's output counts, in the order they were written. */
function sequences(out: Array<{ value: Buffer | null }>): Map<string, number[]> {
  const seq = new Map<string, number[]>();
  for (const m of out) {
    const { key, n } = JSON.parse(m.value?.toString() ?? "{}") as { key: string; n: number };
    const list = seq.get(key) ?? [];
    list.push(n);
    seq.set(key, list);
  }
  return seq;
}

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  await pool.query(
    "create table if not exists task_test_counts (service text, partition int, key text, n int not null, primary key (service, partition, key))",
  );
  codec = new AvroCodec(stack.schemaRegistryUrl);
});
afterAll(async () => {
  await pool?.end();
});

describe("tasks (ADR 16)", () => {
  it("a kill between the PostgreSQL and the Kafka commit loses and repeats nothing", async () => {
    const { input, output, service, env } = await setup();
    const keys = 40;
    const first = Array.from({ length: 1200 }, (_, i) => ({
      key: `k${i % keys}`,
      value: JSON.stringify({ key: `k${i % keys}` }),
    }));
    const second = Array.from({ length: 1800 }, (_, i) => ({
      key: `k${i % keys}`,
      value: JSON.stringify({ key: `k${i % keys}` }),
    }));
    await produce(input, first);

    const crashing = start({ ...env, CRASH_AT_COUNT: String(first.length) });
    expect((await exited(crashing)).signal).toBe("SIGKILL");
    // PostgreSQL holds the batch; Kafka has neither its output nor its offsets.
    const stored = await pool.query<{ partition: number; offsets: Record<string, string>; seq: string }>(
      "select partition, offsets, seq::text as seq from stream_tasks where group_id = $1 order by partition",
      [`${ns}.${service}`],
    );
    expect(stored.rows.length).toBe(3);
    const storedTotal = stored.rows.reduce((s, r) => s + Number(r.offsets[input] ?? 0), 0);
    expect(storedTotal).toBe(first.length);
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    const kafkaCommitted = await admin.fetchOffsets({ groupId: `${ns}.${service}`, topics: [input] });
    await admin.disconnect();
    const kafkaTotal = (kafkaCommitted[0]?.partitions ?? []).reduce(
      (s, p) => s + Math.max(0, Number(p.offset)),
      0,
    );
    expect(kafkaTotal).toBeLessThan(first.length);

    await produce(input, second);
    const recovering = start(env);
    const kafka = testKafka(stack.kafkaBrokers);
    const total = first.length + second.length;
    let out: Array<{ value: Buffer | null }>;
    try {
      out = await readTopic(kafka, output, (ms) => ms.length >= total);
      await sleep(1500); // anything repeated would land now
      out = await readTopic(kafka, output, (ms) => ms.length >= total);
    } finally {
      expect(await stop(recovering)).toBe(0);
    }
    expect(out.length).toBe(total);
    for (const [, list] of sequences(out)) {
      const sorted = [...list].sort((a, b) => a - b);
      expect(sorted).toEqual(Array.from({ length: total / keys }, (_, i) => i + 1));
    }
    const counts = await pool.query<{ n: number }>("select n from task_test_counts where service = $1", [
      service,
    ]);
    expect(counts.rows.length).toBe(keys);
    for (const r of counts.rows) expect(r.n).toBe(total / keys);
  });

  it("a record the decision cannot take goes to the DLQ with its bytes; the rest count once", async () => {
    const { input, output, service, env } = await setup();
    const values: Array<{ key: string; value: string; timestamp?: string }> = Array.from(
      { length: 300 },
      () => ({ key: "one", value: JSON.stringify({ key: "one" }) }),
    );
    // Dated 2100: a dead letter does not move the task's stream time.
    values.splice(150, 0, { key: "one", value: "boom", timestamp: String(Date.UTC(2100, 0, 1)) });
    await produce(input, values);
    const child = start(env);
    const kafka = testKafka(stack.kafkaBrokers);
    const dlqTopic = namespacedTopics(ns).dlq.name;
    try {
      const out = await readTopic(kafka, output, (ms) => ms.length >= 300);
      expect(out.length).toBe(300);
      expect(sequences(out).get("one")).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      const dead = await readTopic(kafka, dlqTopic, (ms) =>
        ms.some((m) => m.key?.toString().startsWith(input)),
      );
      const mine = [];
      for (const m of dead) {
        if (!m.value) continue;
        const d = await codec.decode<DeadLetter>(m.value);
        if (d.sourceTopic === input) mine.push(d);
      }
      expect(mine.length).toBe(1);
      expect(mine[0]?.reasonCode).toBe("PROCESSING_FAILED");
      expect(mine[0]?.originalValue?.toString()).toBe("boom");
      const counts = await pool.query<{ n: number }>("select n from task_test_counts where service = $1", [
        service,
      ]);
      expect(counts.rows.map((r) => r.n)).toEqual([300]);
      const times = await pool.query<{ t: string | null }>(
        "select max(stream_time)::text as t from stream_tasks where group_id = $1",
        [`${ns}.${service}`],
      );
      expect(Number(times.rows[0]?.t)).toBeLessThan(Date.UTC(2100, 0, 1));
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it("keeps a lane's highest marked time with the task, across a restart", async () => {
    const { input, output, service, env } = await setup();
    const rec = (mark?: number) => ({ key: "lane", value: JSON.stringify({ key: "lane", mark }) });
    // Marks out of order: the lane keeps the highest; a record without a mark leaves it.
    await produce(input, [rec(1000), rec(5000), rec(3000), rec()]);
    const kafka = testKafka(stack.kafkaBrokers);
    let child = start(env);
    try {
      await readTopic(kafka, output, (ms) => ms.length >= 4);
      const lanes = async () =>
        (
          await pool.query<{ lanes: Record<string, number> | null }>(
            "select lanes from stream_tasks where group_id = $1 and lanes is not null",
            [`${ns}.${service}`],
          )
        ).rows.map((r) => r.lanes);
      for (let i = 0; i < 50 && (await lanes()).length === 0; i++) await sleep(100);
      expect(await lanes()).toEqual([{ m: 5000 }]);
    } finally {
      expect(await stop(child)).toBe(0);
    }
    // A new instance reads the lane from stream_tasks before its first batch.
    await produce(input, [rec(2000)]);
    child = start(env);
    try {
      const out = await readTopic(kafka, output, (ms) => ms.length >= 5);
      const values = out.map(
        (m) => JSON.parse(m.value?.toString() ?? "{}") as { n: number; lane: number | null },
      );
      expect(values.find((v) => v.n === 5)?.lane).toBe(5000);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });
});
