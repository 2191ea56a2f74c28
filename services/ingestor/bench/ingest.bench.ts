// pnpm bench:ingest: orders/s through the ingestor on the real broker, beside a raw kafkajs
// passthrough measured the same way in the same run. Input is pre-loaded; each consumer is a
// separate process; the clock runs from its first output record to its last.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { namespacedTopics } from "@loyalty/contracts";
import { ensureTopics } from "@loyalty/stream-runtime";
import { requireStack, serviceEnv, spawnService, testKafka, testNamespace } from "@loyalty/testkit";
import type { Kafka } from "kafkajs";
import { replayFile } from "../src/index.ts";
import { datasetFile } from "../test/domain/datasets.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const PASSTHROUGH = fileURLToPath(new URL("./passthrough.ts", import.meta.url));
const LIMIT = Number(process.env.BENCH_ORDERS ?? 69_659);

const stack = await requireStack();
const kafka = testKafka(stack.kafkaBrokers);
const file = datasetFile("cdnow", "CDNOW_master.txt");
console.log(`bench:ingest: ${LIMIT} CDNOW orders, broker ${stack.kafkaBrokers.join(",")}`);

// 1. The ceiling.
const nsA = testNamespace();
const topicsA = namespacedTopics(nsA);
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, { partitions: 6, replication: 1, topics: [topicsA.orders, topicsA.purchases] });
await admin.disconnect();
await replayFile({ kafka, topic: topicsA.orders.name, file, limit: LIMIT });
const pt = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    PASSTHROUGH,
    stack.kafkaBrokers.join(","),
    topicsA.orders.name,
    topicsA.purchases.name,
    `${nsA}.passthrough`,
  ],
  { stdio: "inherit" },
);
const ceiling = await drainRecords(kafka, topicsA.purchases.name, LIMIT);
pt.kill("SIGTERM");

// 2. The ingestor: decode, validate, dedupe, member resolution, order book, FX, Avro, EOS.
const nsB = testNamespace();
const topicsB = namespacedTopics(nsB);
const svc = await spawnService(
  MAIN,
  serviceEnv(stack, nsB, { SERVICE_NAME: "ingestor", LOYALTY_PARTITIONS: "6", LOG_LEVEL: "warn" }),
);
// Wait for its topics, then pre-load.
for (;;) {
  const a = kafka.admin();
  await a.connect();
  const ok = (await a.listTopics()).includes(topicsB.orders.name);
  await a.disconnect();
  if (ok) break;
  await new Promise((r) => setTimeout(r, 200));
}
await svc.stop();
await replayFile({ kafka, topic: topicsB.orders.name, file, limit: LIMIT });
const svc2 = await spawnService(
  MAIN,
  serviceEnv(stack, nsB, { SERVICE_NAME: "ingestor", LOYALTY_PARTITIONS: "6", LOG_LEVEL: "warn" }),
);
const measured = await drainRecords(kafka, topicsB.purchases.name, LIMIT);
await svc2.stop();

/** Reads the output as a downstream consumer would; rate = records / (last read - first read). */
async function drainRecords(
  k: Kafka,
  topic: string,
  expected: number,
): Promise<{ seconds: number; rate: number }> {
  const consumer = k.consumer({ groupId: `${topic}.bench-reader`, maxBytesPerPartition: 8 * 1024 * 1024 });
  let n = 0;
  let t0 = 0;
  let t1 = 0;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (!t0 && batch.messages.length) t0 = Date.now();
      n += batch.messages.length;
      if (n >= expected && !t1) t1 = Date.now();
    },
  });
  const deadline = Date.now() + 600_000;
  while (!t1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await consumer.disconnect();
  if (!t1) throw new Error(`only ${n}/${expected} records reached ${topic}`);
  const seconds = (t1 - t0) / 1000;
  return { seconds, rate: expected / Math.max(seconds, 0.001) };
}

const row = (name: string, r: { seconds: number; rate: number }) =>
  `${name.padEnd(34)} ${r.seconds.toFixed(2).padStart(8)} s ${Math.round(r.rate).toString().padStart(10)} orders/s`;
console.log("");
console.log(row("raw kafkajs passthrough (ceiling)", ceiling));
console.log(row("ingestor", measured));
console.log(`ratio ingestor / passthrough: ${(measured.rate / ceiling.rate).toFixed(3)}`);
process.exit(0);
