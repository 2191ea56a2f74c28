// One client, one round: (a) produce, (b) passthrough, (c) transactional, in a process of its
// own (so no client's threads, buffers or garbage weigh on another's figures). Prints one line,
// "RESULT <json>", for main.ts.
import { type BenchClient, type ClientSettings, type ConsumeResult, progress } from "./clients/types.ts";
import { CDNOW_MASTER_ORDERS, cdnowOrders } from "./orders.ts";
import { benchSecurity } from "./security.ts";

export type ClientName = "kafkajs" | "confluent" | "platformatic";

export interface WorkerJob {
  client: ClientName;
  brokers: string[];
  prefix: string;
  topics: { input: string; pipelined: string; passthrough: string; transactional: string };
  confluentDir?: string;
  batch: number;
}

export interface PhaseResult {
  seconds: number;
  ordersPerSecond: number;
  /** CPU seconds of the client's process (user + system, every thread: librdkafka's too). */
  cpuSeconds: number;
  requests?: number;
  commits?: number;
  /** Start to first record handed over (connect, group join, first fetch); inside `seconds`. */
  firstRecordSeconds?: number;
}

export interface WorkerResult {
  client: string;
  version: string;
  node: string;
  produce: PhaseResult;
  producePipelined: PhaseResult;
  passthrough: PhaseResult;
  transactional: PhaseResult;
}

async function makeClient(job: WorkerJob): Promise<BenchClient> {
  // Credentials from this process's environment (main.ts's, inherited), never from argv.
  const s: ClientSettings = { brokers: job.brokers, clientId: job.prefix, security: benchSecurity() };
  switch (job.client) {
    case "kafkajs":
      return (await import("./clients/kafkajs.ts")).kafkajsClient(s);
    case "confluent":
      if (!job.confluentDir) throw new Error("confluent: no install folder");
      return (await import("./clients/confluent.ts")).confluentClient(s, job.confluentDir);
    case "platformatic":
      return (await import("./clients/platformatic.ts")).platformaticClient(s);
  }
}

/** A phase with no acknowledged output for this long has stalled: the round fails, and says where. */
const STALL_MS = 90_000;

async function timed<T>(
  name: string,
  n: number,
  fn: () => Promise<T>,
): Promise<{ value: T; phase: PhaseResult }> {
  progress.phase = name;
  progress.records = 0;
  progress.at = performance.now();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await fn();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    value,
    phase: { seconds, ordersPerSecond: n / seconds, cpuSeconds: (used.user + used.system) / 1e6 },
  };
}

const consumed = (r: { value: ConsumeResult; phase: PhaseResult }, expected: number): PhaseResult => {
  if (r.value.consumed !== expected)
    throw new Error(`consumed ${r.value.consumed} records, expected ${expected}`);
  return { ...r.phase, commits: r.value.commits, firstRecordSeconds: r.value.firstRecordMs / 1000 };
};

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "") as WorkerJob;
  const records = cdnowOrders();
  if (records.length !== CDNOW_MASTER_ORDERS)
    throw new Error(`CDNOW master: ${records.length} orders, expected ${CDNOW_MASTER_ORDERS}`);
  const client = await makeClient(job);
  const n = records.length;
  const watchdog = setInterval(() => {
    if (performance.now() - progress.at < STALL_MS) return;
    process.stdout.write(
      `STALL ${JSON.stringify({ phase: progress.phase, records: progress.records, of: n, quietSeconds: STALL_MS / 1000 })}\n`,
    );
    process.exit(3);
  }, 1_000);
  watchdog.unref();

  const produced = await timed("produce", n, () => client.produce(job.topics.input, records, job.batch));
  const pipelined = await timed("producePipelined", n, () =>
    client.producePipelined(job.topics.pipelined, records, job.batch),
  );
  const pass = await timed("passthrough", n, () =>
    client.passthrough({
      from: job.topics.input,
      to: job.topics.passthrough,
      groupId: `${job.prefix}_pass`,
      expected: n,
      maxBatch: job.batch,
    }),
  );
  const txn = await timed("transactional", n, () =>
    client.transactional({
      from: job.topics.input,
      to: job.topics.transactional,
      groupId: `${job.prefix}_txn`,
      transactionalId: `${job.prefix}_txn`,
      expected: n,
      maxBatch: job.batch,
    }),
  );
  const result: WorkerResult = {
    client: client.name,
    version: client.version,
    node: process.version,
    produce: { ...produced.phase, requests: produced.value },
    producePipelined: { ...pipelined.phase, requests: pipelined.value },
    passthrough: consumed(pass, n),
    transactional: consumed(txn, n),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
