// One task over all partitions (ADR 16): a kill between the PostgreSQL and the Kafka commit
// loses and repeats nothing, dead letters move no time, and the group's time reaches the last
// record once the input has stood idle (ADR 8's rule, in the runtime).
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
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
const ns = testNamespace();

function start(env: Record<string, string>): ChildProcess {
  return spawn(
    process.execPath,
    ["--import", "tsx", new URL("./fixtures/group-counter.ts", import.meta.url).pathname],
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

async function produce(topic: string, values: Array<{ key: string; value: string; timestamp: string }>) {
  const producer = testKafka(stack.kafkaBrokers).producer();
  await producer.connect();
  for (let i = 0; i < values.length; i += 500)
    await producer.send({ topic, messages: values.slice(i, i + 500) });
  await producer.disconnect();
}

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  await pool.query(
    "create table if not exists group_test_counts (service text, key text, n int not null, primary key (service, key))",
  );
  await pool.query(
    "create table if not exists group_test_time (service text primary key, t bigint not null)",
  );
});
afterAll(async () => {
  await pool?.end();
});

describe("one task over all partitions (ADR 16)", () => {
  it("loses and repeats nothing across a kill between the two commits; the tail is released when idle", async () => {
    const input = uniqueName("test.group");
    const output = uniqueName("test.group-out");
    const service = uniqueName("group-counter");
    const groupId = `${ns}.${service}`;
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    await createTopic(admin, input, 3);
    await createTopic(admin, output, 3);
    const env = { SERVICE_NAME: service, TEST_TOPIC: input, OUTPUT_TOPIC: output };
    const keys = 40;
    // Recent: the broker's retention would delete records stamped years ago.
    const T0 = Date.now() - 3_600_000;
    const record = (i: number) => ({
      key: `k${i % keys}`,
      value: JSON.stringify({ key: `k${i % keys}` }),
      timestamp: String(T0 + i * 1000),
    });
    const first = Array.from({ length: 1200 }, (_, i) => record(i));
    const second = Array.from({ length: 1800 }, (_, i) => record(1200 + i));
    // Dated 2100: a dead letter does not move its lane's time.
    first.splice(600, 0, { key: "k0", value: "bad", timestamp: String(Date.UTC(2100, 0, 1)) });
    await produce(input, first);

    const crashing = start({ ...env, CRASH_AFTER_COMMITS: "1" });
    expect((await exited(crashing)).signal).toBe("SIGKILL");
    // PostgreSQL holds the batch, with every fetched partition's lanes; Kafka does not.
    const stored = await pool.query<{
      offsets: Record<string, string>;
      lanes: Record<string, number> | null;
    }>("select offsets, lanes from stream_tasks where group_id = $1", [groupId]);
    expect(stored.rows.length).toBeGreaterThan(0);
    for (const row of stored.rows) expect(Object.keys(row.lanes ?? {})).toEqual([""]);
    const storedTotal = stored.rows.reduce((s, r) => s + Number(r.offsets[input] ?? 0), 0);
    const kafkaCommitted = await admin.fetchOffsets({ groupId, topics: [input] });
    const kafkaTotal = (kafkaCommitted[0]?.partitions ?? []).reduce(
      (s, p) => s + Math.max(0, Number(p.offset)),
      0,
    );
    expect(kafkaTotal).toBeLessThan(storedTotal);
    await admin.disconnect();

    await produce(input, second);
    const recovering = start(env);
    const kafka = testKafka(stack.kafkaBrokers);
    const total = first.length - 1 + second.length;
    const last = T0 + (total - 1) * 1000;
    let out: Array<{ value: Buffer | null }>;
    try {
      out = await readTopic(kafka, output, (ms) => ms.length >= total);
      // The watermark waits for the slowest partition; the rest comes once the input is idle.
      for (let i = 0; i < 100; i++) {
        const t = await pool.query<{ t: string }>(
          "select t::text as t from group_test_time where service = $1",
          [service],
        );
        if (Number(t.rows[0]?.t) === last) break;
        await sleep(200);
      }
      await sleep(1000); // anything repeated would land now
      out = await readTopic(kafka, output, (ms) => ms.length >= total);
    } finally {
      expect(await stop(recovering)).toBe(0);
    }
    expect(out.length).toBe(total);
    const seq = new Map<string, number[]>();
    for (const m of out) {
      const { key, n } = JSON.parse(m.value?.toString() ?? "{}") as { key: string; n: number };
      seq.set(key, [...(seq.get(key) ?? []), n]);
    }
    expect(seq.size).toBe(keys);
    for (const [, list] of seq)
      expect([...list].sort((a, b) => a - b)).toEqual(Array.from({ length: total / keys }, (_, i) => i + 1));
    const time = await pool.query<{ t: string }>(
      "select t::text as t from group_test_time where service = $1",
      [service],
    );
    expect(Number(time.rows[0]?.t)).toBe(last);
  });
});
