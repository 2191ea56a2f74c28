// The task runtime (ADR 16) beside raw kafkajs in the same run, on the CDNOW master orders
// (69,659, keyed by customer, 6 partitions, already on the broker before each phase starts):
//   1. raw passthrough: a kafkajs consumer producing every record again, no transactions;
//   2. ConsumerRunner passthrough: the runtime (@confluentinc/kafka-javascript since ADR 15), one
//      Kafka transaction per partition batch;
//   3. TaskRunner with state: per customer orders and spend in memory, every changed customer
//      upserted set-based, progress in stream_tasks, one PostgreSQL and one Kafka transaction per
//      fetch, an output record per order.
// Prints each phase's time and orders/s, and the PostgreSQL backend CPU of phase 3.
//   pnpm bench:tasks [--limit N] [--rounds N]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AvroCodec, namespacedTopics } from "@loyalty/contracts";
import { cdnow } from "@loyalty/datasets";
import { type PoolClient, createPool, migrate } from "@loyalty/db";
import { createTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import {
  BatchingProducer,
  ConsumerRunner,
  DeadLetterPublisher,
  RuntimeMetrics,
  TaskRunner,
  type TaskTopology,
  WatermarkClock,
  createLogger,
  ensureTopics,
} from "../src/index.ts";
import { testStreamKafka } from "../test/stream-kafka.ts";

const { values } = parseArgs({ options: { limit: { type: "string" }, rounds: { type: "string" } } });
const limit = values.limit ? Number(values.limit) : Number.POSITIVE_INFINITY;
if (!(limit > 0)) throw new RangeError(`--limit must be a positive integer, got ${values.limit}`);

const stack = await requireStack();
const ns = testNamespace();
await migrate(stack.databaseUrl, undefined, ns);
const kafka = testKafka(stack.kafkaBrokers);
// The runtime's own client for the runners and their producers.
const stream = testStreamKafka(stack.kafkaBrokers);
const admin = kafka.admin();
await admin.connect();
const logger = createLogger("bench-tasks", "warn");

// CDNOW master: customer id, YYYYMMDD, CDs, dollars.
const orders: Array<{ key: string; value: string; timestamp: string }> = [];
for (const line of readFileSync(cdnow.master(), "utf8").split(/\r?\n/).slice(1)) {
  const [customer, ymd, cds, dollars] = line.trim().split(/\s+/);
  if (!customer || !ymd || !cds || !dollars || orders.length >= limit) continue;
  const t = Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(4, 6)) - 1, Number(ymd.slice(6, 8)));
  const cents = Math.round(Number(dollars) * 100);
  orders.push({
    key: customer,
    value: JSON.stringify({ customer, cds: Number(cds), cents }),
    timestamp: String(t),
  });
}
const N = orders.length;

async function loadTopic(name: string): Promise<void> {
  await createTopic(admin, name, 6);
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < N; i += 5000) await producer.send({ topic: name, messages: orders.slice(i, i + 5000) });
  await producer.disconnect();
}

async function committed(groupId: string, topic: string): Promise<number> {
  const r = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (r[0]?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function until(done: () => Promise<boolean>, what: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what} did not finish within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const results: Array<{ round: number; phase: string; seconds: number; note?: string }> = [];

// 1. Raw kafkajs passthrough.
async function raw(round: number): Promise<void> {
  const input = `${ns}.raw-in-${round}`;
  await loadTopic(input);
  const output = `${ns}.raw-out-${round}`;
  await createTopic(admin, output, 6);
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${ns}.raw-${round}`, maxBytesPerPartition: 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  let seen = 0;
  const t0 = performance.now();
  await consumer.run({
    eachBatch: async ({ batch }) => {
      await producer.send({
        topic: output,
        messages: batch.messages.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp })),
      });
      seen += batch.messages.length;
    },
  });
  await until(async () => seen >= N, "raw passthrough");
  results.push({ round, phase: "raw kafkajs passthrough", seconds: (performance.now() - t0) / 1000 });
  await consumer.disconnect();
  await producer.disconnect();
}

const codec = new AvroCodec(stack.schemaRegistryUrl);
const topics = namespacedTopics(ns);
await ensureTopics(admin, { partitions: 1, replication: 1, topics: [topics.dlq] });
await codec.registerAll([topics.dlq]);

// 2. Today's runtime: a Kafka transaction per partition batch.
async function consumerRunner(round: number): Promise<void> {
  const group = `${ns}.runner-${round}`;
  const input = `${ns}.runner-in-${round}`;
  const output = `${ns}.runner-out-${round}`;
  await loadTopic(input);
  await createTopic(admin, output, 6);
  const producer = new BatchingProducer(stream, { transactionalId: `${group}-tx` });
  const metrics = new RuntimeMetrics("bench-runner");
  // From start() (group join included) to the first record handed to the handler.
  let firstRecordMs = -1;
  const t0 = performance.now();
  const runner = new ConsumerRunner({
    service: "bench-runner",
    kafka: stream,
    groupId: group,
    topics: [input],
    producer,
    dlq: new DeadLetterPublisher("bench-runner", codec, producer, topics.dlq),
    logger,
    metrics,
    clock: new WatermarkClock(),
    handler: async (messages, ctx) => {
      if (firstRecordMs < 0) firstRecordMs = performance.now() - t0;
      for (const m of messages)
        ctx.produce({ topic: output, key: m.key, value: m.value, timestamp: m.timestamp });
    },
  });
  await runner.start();
  await until(async () => (await committed(group, input)) >= N, "ConsumerRunner passthrough");
  results.push({
    round,
    phase: "ConsumerRunner passthrough (transaction per partition batch)",
    seconds: (performance.now() - t0) / 1000,
    note: `first record after ${(firstRecordMs / 1000).toFixed(2)} s; ${await commits(metrics)}`,
  });
  await runner.stop();
  await producer.disconnect();
}

/** How many Kafka commits a runner made and the seconds they took, from its metrics. */
async function commits(metrics: RuntimeMetrics): Promise<string> {
  const values = (await metrics.commitSeconds.get()).values;
  const count = values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
  const sum = values.find((v) => v.metricName?.endsWith("_sum"))?.value ?? 0;
  return `${count} Kafka commits, ${sum.toFixed(2)} s in them`;
}

// 3. The task runtime with state.
interface Customers {
  byId: Map<string, { orders: number; cents: number; last: number }>;
  dirty: Set<string>;
}
async function tasks(round: number): Promise<void> {
  const group = `${ns}.tasks-${round}`;
  const input = `${ns}.tasks-in-${round}`;
  const output = `${ns}.tasks-out-${round}`;
  const table = `bench_customers_${round}`;
  await loadTopic(input);
  await createTopic(admin, output, 6);
  const pool = createPool(stack.databaseUrl, { max: 2, namespace: ns, applicationName: `${ns}-bench` });
  // From start() (group join included) to the first records handed to a task.
  let firstRecordMs = -1;
  let t0 = performance.now();
  await pool.query(
    `create table ${table} (partition int not null, customer text not null, orders int not null, cents bigint not null, last_time bigint not null, primary key (partition, customer))`,
  );
  const topology: TaskTopology<Customers> = {
    async restore(db, partitions) {
      const r = await db.query<{
        partition: number;
        customer: string;
        orders: number;
        cents: number;
        last_time: number;
      }>(`select * from ${table} where partition = any($1::int[])`, [partitions]);
      const out = new Map<number, Customers>();
      for (const row of r.rows) {
        let s = out.get(row.partition);
        if (!s) {
          s = { byId: new Map(), dirty: new Set() };
          out.set(row.partition, s);
        }
        s.byId.set(row.customer, { orders: row.orders, cents: row.cents, last: row.last_time });
      }
      return out;
    },
    empty: () => ({ byId: new Map(), dirty: new Set() }),
    async process(task, records, out) {
      if (firstRecordMs < 0) firstRecordMs = performance.now() - t0;
      for (const r of records) {
        const o = JSON.parse(r.value?.toString() ?? "{}") as { customer: string; cents: number };
        const c = task.state.byId.get(o.customer) ?? { orders: 0, cents: 0, last: 0 };
        c.orders += 1;
        c.cents += o.cents;
        c.last = r.timestamp;
        task.state.byId.set(o.customer, c);
        task.state.dirty.add(o.customer);
        out.produce({
          topic: output,
          key: o.customer,
          value: Buffer.from(JSON.stringify({ customer: o.customer, orders: c.orders, cents: c.cents })),
          timestamp: r.timestamp,
        });
      }
    },
    async flush(tx: PoolClient, tasks) {
      const partition: number[] = [];
      const customer: string[] = [];
      const orderCount: number[] = [];
      const cents: number[] = [];
      const last: number[] = [];
      for (const t of tasks)
        for (const id of t.state.dirty) {
          const c = t.state.byId.get(id);
          if (!c) continue;
          partition.push(t.partition);
          customer.push(id);
          orderCount.push(c.orders);
          cents.push(c.cents);
          last.push(c.last);
        }
      if (customer.length === 0) return;
      await tx.query(
        `insert into ${table} select * from unnest($1::int[], $2::text[], $3::int[], $4::bigint[], $5::bigint[])
         on conflict (partition, customer) do update set orders = excluded.orders, cents = excluded.cents, last_time = excluded.last_time`,
        [partition, customer, orderCount, cents, last],
      );
    },
    committed(tasks) {
      for (const t of tasks) t.state.dirty.clear();
    },
  };
  const producer = new BatchingProducer(stream, { transactionalId: `${group}-tx` });
  const taskMetrics = new RuntimeMetrics("bench-tasks");
  const runner = new TaskRunner<Customers>({
    service: "bench-tasks",
    kafka: stream,
    groupId: group,
    topics: [input],
    topology,
    producer,
    dlq: new DeadLetterPublisher("bench-tasks", codec, producer, topics.dlq),
    pool,
    logger,
    metrics: taskMetrics,
    clockMode: "event",
  });
  const backendCpu = async (): Promise<number> => {
    const r = await pool.query<{ pid: number }>(
      "select pid from pg_stat_activity where application_name = $1",
      [`${ns}-bench`],
    );
    let s = 0;
    for (const { pid } of r.rows) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      s += (Number(f[11]) + Number(f[12])) / 100;
    }
    return s;
  };
  const cpu0 = await backendCpu();
  t0 = performance.now();
  await runner.start();
  await until(async () => (await committed(group, input)) >= N, "TaskRunner");
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = await backendCpu();
  const rows = await pool.query<{ n: number; orders: number }>(
    `select count(*)::int as n, sum(orders)::int as orders from ${table}`,
  );
  results.push({
    round,
    phase: "TaskRunner with state (transaction per fetch)",
    seconds,
    note: `first record after ${(firstRecordMs / 1000).toFixed(2)} s; ${await commits(taskMetrics)}; ${rows.rows[0]?.n} customers, ${rows.rows[0]?.orders} orders stored; PostgreSQL backend ${(cpu1 - cpu0).toFixed(2)} CPU-s`,
  });
  await runner.stop();
  await producer.disconnect();
  await pool.end();
}

// Alternating rounds: the first phase of a fresh process pays for JIT warm-up.
const rounds = values.rounds ? Number(values.rounds) : 2;
if (!Number.isInteger(rounds) || rounds < 1)
  throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);
for (let round = 1; round <= rounds; round++) {
  await raw(round);
  await consumerRunner(round);
  await tasks(round);
}
const cleanup = createPool(stack.databaseUrl, { max: 1 });
await cleanup.query(`drop schema if exists ${ns} cascade`);
await cleanup.end();

await admin.disconnect();
console.log(`\n${N} CDNOW orders, 6 partitions, same broker, same run, ${rounds} alternating round(s):`);
for (const r of results) {
  const base = results.find((x) => x.round === r.round)?.seconds ?? Number.NaN;
  console.log(
    `  ${r.round}  ${r.phase.padEnd(62)} ${r.seconds.toFixed(2).padStart(7)} s ${Math.round(N / r.seconds)
      .toLocaleString("en")
      .padStart(8)} orders/s  ${(r.seconds / base).toFixed(2)}x raw${r.note ? `  (${r.note})` : ""}`,
  );
}
