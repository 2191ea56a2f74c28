// pnpm bench:kafka-clients: kafkajs, @confluentinc/kafka-javascript and @platformatic/kafka
// measured in one run on the same broker, alternating (round r starts with a different client),
// each round in a fresh process per client. Phases per client and round: (a) produce the 69,659
// CDNOW master orders to a 6-partition topic (idempotent, acks=all, batches of 2000, each awaited,
// like the replay); (a') the same, all sends started at once (librdkafka's recommended mode);
// (b) consume them and pass them through to a second topic (output acknowledged,
// then offsets committed: the runner's non-transactional path); (c) consume them again and write
// each chunk of up to 2000 in a transaction with its offsets (the runner's exactly-once path).
// Checks: the input and passthrough topics hold 69,659 records, and the transactional output holds
// exactly 69,659 distinct orders when read with read_committed.
//
// Options: --rounds=N (3), --variants=kafkajs@24,confluent@24,... (client@node major; default:
// every client on this Node.js when it is >= 22.22),
// --rebuild-confluent (time its from-source install again), --no-build-confluent (a confluent
// client not built yet is reported unavailable instead of compiled), --brokers=host:port.
// A confluent client that cannot be had (not built, build failed) is reported unavailable, with
// the reason, in the output and the results; the other clients run.
// Topics and groups are named kbench_<run>_..., and deleted after each round.
//
// Security: every client (the bench's own admin and verifier here, and each client under test
// in its worker) authenticates as the project's developer tools do (security.ts): KAFKA_SASL_*,
// KAFKA_SSL and KAFKA_SSL_CA_FILE from the environment, else the local stack's admin principal
// from its credentials file (LOYALTY_STACK_DIR). Brokers: --brokers, else KAFKA_BROKERS.
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Admin, Kafka, logLevel } from "kafkajs";
import {
  type InstallRecord,
  type NodeRuntime,
  currentNode,
  ensureConfluent,
  ensureNode22,
  timeFreshInstall,
} from "./install.ts";
import { CDNOW_MASTER_ORDERS } from "./orders.ts";
import { benchSecurity, describeSecurity } from "./security.ts";
import type { ClientName, PhaseResult, WorkerJob, WorkerResult } from "./worker.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../../..");
const CACHE = join(ROOT, ".cache/kafka-bench");
const PHASES = ["produce", "producePipelined", "passthrough", "transactional"] as const;
type Phase = (typeof PHASES)[number];

/**
 * Every client on this Node.js; on a Node.js older than 22.22 (which @platformatic/kafka 2.x
 * needs), the three on Node.js 22 beside kafkajs and confluent on this one.
 */
function defaultVariants(): string {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (major > 22 || (major === 22 && minor >= 22))
    return ["kafkajs", "confluent", "platformatic"].map((c) => `${c}@${major}`).join(",");
  return `kafkajs@22,confluent@22,platformatic@22,kafkajs@${major},confluent@${major}`;
}

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

interface Variant {
  id: string;
  client: ClientName;
  node: string;
  nodeVersion: string;
  confluentDir: string | undefined;
}

interface FailedRound {
  round: number;
  position: number;
  variant: string;
  loadAvg1mBefore: number;
  failure: string;
}

interface RoundResult {
  round: number;
  position: number;
  variant: string;
  loadAvg1mBefore: number;
  result: WorkerResult;
  check: {
    input: number;
    pipelined: number;
    passthrough: number;
    transactionalCommitted: number;
    distinctOrders: number;
  };
}

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** Runs one round of one client; a failure (error, stall, exit) is returned, not thrown. */
function runWorker(v: Variant, job: WorkerJob): Promise<WorkerResult | { failure: string }> {
  return new Promise((resolveResult) => {
    const child = spawn(v.node, ["--import", "tsx", join(HERE, "worker.ts"), JSON.stringify(job)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      err = (err + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 5 * 60_000);
    child.on("error", (e) => resolveResult({ failure: String(e) }));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const line = (prefix: string) => out.split("\n").find((l) => l.startsWith(prefix));
      const result = line("RESULT ");
      if (code === 0 && result) return resolveResult(JSON.parse(result.slice(7)) as WorkerResult);
      const stall = line("STALL ");
      resolveResult({
        failure: stall
          ? `stalled: ${stall.slice(6)}`
          : `exited with ${code ?? signal}: ${err.trim().split("\n").slice(-3).join(" | ")}`,
      });
    });
  });
}

/**
 * Creates the round's topics and waits until every partition has a leader. kafkajs' own leader
 * wait can meet UNKNOWN_TOPIC_OR_PARTITION when its metadata request beats the new topic to the
 * broker's cache (the runtime's ensureTopics handles the same race): then poll the metadata.
 */
async function createTopics(admin: Admin, topics: string[]): Promise<void> {
  try {
    await admin.createTopics({
      waitForLeaders: true,
      // CDNOW's record times are from 1997-98: under the broker's default retention (7 days) a
      // retention check deletes the segments in the middle of a round (consumers then jump to
      // the new log start and wait for records that are gone). Keep them for the round.
      topics: topics.map((topic) => ({
        topic,
        numPartitions: 6,
        replicationFactor: 1,
        configEntries: [{ name: "retention.ms", value: "-1" }],
      })),
    });
    return;
  } catch (err) {
    if ((err as { type?: unknown }).type !== "UNKNOWN_TOPIC_OR_PARTITION") throw err;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      if (meta.topics.every((t) => t.partitions.length === 6 && t.partitions.every((p) => p.leader >= 0)))
        return;
    } catch {
      // not in the broker's metadata yet
    }
  }
  throw new Error(`topics ${topics.join(", ")}: no leaders after 10 s`);
}

/** Records in a non-transactional topic: high minus low watermark, summed over partitions. */
async function countRecords(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Reads a topic with read_committed: records seen and distinct order ids among them. */
async function countCommitted(
  kafka: Kafka,
  topic: string,
  groupId: string,
): Promise<{ records: number; distinct: number }> {
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: 4 << 20 });
  const ids = new Set<string>();
  let records = 0;
  let lastSeen = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          records++;
          ids.add((JSON.parse(m.value!.toString()) as { orderId: string }).orderId);
        }
        lastSeen = Date.now();
      },
    });
    const started = Date.now();
    // Until everything arrived and 2 s more went by without a record (a duplicate would show).
    while (Date.now() - started < 120_000) {
      await new Promise((r) => setTimeout(r, 250));
      if (records >= CDNOW_MASTER_ORDERS && Date.now() - lastSeen > 2_000) break;
    }
  } finally {
    await consumer.disconnect();
  }
  return { records, distinct: ids.size };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function stats(xs: number[]) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs };
}

async function main(): Promise<void> {
  const rounds = Number(arg("rounds") ?? 3);
  const brokers = (arg("brokers") ?? process.env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(",");
  const wanted = (arg("variants") ?? defaultVariants()).split(",");
  // Checked before anything is installed: a bad TLS or SASL setting is a ConfigError now.
  const security = benchSecurity();
  console.log(`brokers ${brokers.join(",")}: ${describeSecurity(security)}`);
  const run = new Date()
    .toISOString()
    .replace(/[-:T.Z]/g, "")
    .slice(4, 14);
  mkdirSync(CACHE, { recursive: true });

  // Installs first (and timed), so that no build runs while anything is measured.
  const installs: Record<string, InstallRecord> = {};
  installs.kafkajs = timeFreshInstall("kafkajs", "2.2.4");
  installs.platformatic = timeFreshInstall("@platformatic/kafka", "2.12.1");
  const node22 = ensureNode22(CACHE);
  if (node22.record) installs.node22 = node22.record;
  const current = process.versions.node.split(".")[0]!;
  const runtimes: Record<string, NodeRuntime> = {
    [current]: currentNode(),
    "22": node22,
  };
  const confluentDirs: Record<string, string> = {};
  const confluentUnavailable: Record<string, string> = {};
  const unavailable: Record<string, string> = {};

  const variants: Variant[] = [];
  for (const w of wanted) {
    const [client, major] = w.split("@") as [ClientName, string];
    if (!["kafkajs", "confluent", "platformatic"].includes(client))
      throw new Error(`unknown client ${client}`);
    const node = runtimes[major];
    if (!node) throw new Error(`${w}: no Node.js ${major} here (this is ${process.version})`);
    if (client === "confluent" && !confluentDirs[major] && !confluentUnavailable[major]) {
      const built = ensureConfluent(CACHE, node, {
        build: !flag("no-build-confluent"),
        rebuild: flag("rebuild-confluent"),
      });
      if ("unavailable" in built) confluentUnavailable[major] = built.unavailable;
      else {
        confluentDirs[major] = built.dir;
        installs[`confluent@node${major}`] = built.record;
      }
    }
    const missing = client === "confluent" ? confluentUnavailable[major] : undefined;
    if (missing !== undefined) {
      unavailable[w] = missing;
      console.log(`${w}: unavailable: ${missing}`);
      continue;
    }
    variants.push({
      id: w,
      client,
      node: node.path,
      nodeVersion: node.version,
      confluentDir: confluentDirs[major],
    });
  }

  const kafka = new Kafka({
    clientId: `kbench_${run}`,
    brokers,
    logLevel: logLevel.ERROR,
    ...(security.sasl === undefined ? {} : { sasl: security.sasl }),
    ...(security.ssl === undefined ? {} : { ssl: security.ssl }),
  });
  const admin = kafka.admin();
  await admin.connect();
  const results: RoundResult[] = [];
  const failures: FailedRound[] = [];
  const startedAt = new Date();
  const loadBefore = loadavg();
  try {
    for (let r = 0; r < rounds; r++) {
      // Alternating: each round starts one variant later, so none always runs first or last.
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      for (const [position, v] of order.entries()) {
        const prefix = `kbench_${run}_${v.id.replace(/[^a-z0-9]/g, "")}_r${r}`;
        const topics = {
          input: `${prefix}_orders`,
          pipelined: `${prefix}_orders_pipelined`,
          passthrough: `${prefix}_pass`,
          transactional: `${prefix}_txn`,
        };
        await createTopics(admin, Object.values(topics));
        const loadAvg1mBefore = loadavg()[0]!;
        try {
          const job: WorkerJob = {
            client: v.client,
            brokers,
            prefix,
            topics,
            batch: 2000,
            ...(v.confluentDir ? { confluentDir: v.confluentDir } : {}),
          };
          const outcome = await runWorker(v, job);
          if ("failure" in outcome) {
            failures.push({ round: r, position, variant: v.id, loadAvg1mBefore, failure: outcome.failure });
            console.log(`round ${r + 1}/${rounds} ${v.id.padEnd(16)} FAILED: ${outcome.failure}`);
            continue;
          }
          const result = outcome;
          const committed = await countCommitted(kafka, topics.transactional, `${prefix}_verify`);
          const check = {
            input: await countRecords(kafka, topics.input),
            pipelined: await countRecords(kafka, topics.pipelined),
            passthrough: await countRecords(kafka, topics.passthrough),
            transactionalCommitted: committed.records,
            distinctOrders: committed.distinct,
          };
          if (
            check.input !== CDNOW_MASTER_ORDERS ||
            check.pipelined !== CDNOW_MASTER_ORDERS ||
            check.transactionalCommitted !== CDNOW_MASTER_ORDERS ||
            check.distinctOrders !== CDNOW_MASTER_ORDERS
          )
            throw new Error(`${v.id} round ${r}: exactly-once check failed: ${JSON.stringify(check)}`);
          results.push({ round: r, position, variant: v.id, loadAvg1mBefore, result, check });
          const f = (p: PhaseResult) => `${p.seconds.toFixed(2)} s ${Math.round(p.ordersPerSecond)}/s`;
          console.log(
            `round ${r + 1}/${rounds} ${v.id.padEnd(16)} produce ${f(result.produce)} | pipelined ${f(result.producePipelined)} | passthrough ${f(result.passthrough)} | transactional ${f(result.transactional)} | committed ${check.transactionalCommitted} (load ${loadAvg1mBefore.toFixed(1)})`,
          );
        } finally {
          await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
          await admin
            .deleteGroups([`${prefix}_pass`, `${prefix}_txn`, `${prefix}_verify`])
            .catch(() => undefined);
        }
      }
    }
  } finally {
    await admin.disconnect();
  }

  const summary = Object.fromEntries(
    variants.map((v) => {
      const mine = results.filter((x) => x.variant === v.id);
      const failed = failures.filter((x) => x.variant === v.id).length;
      if (mine.length === 0) return [v.id, { failedRounds: failed }];
      const first = mine[0]!.result;
      const phases = Object.fromEntries(
        PHASES.map((p: Phase) => [
          p,
          {
            seconds: stats(mine.map((x) => x.result[p].seconds)),
            ordersPerSecond: stats(mine.map((x) => x.result[p].ordersPerSecond)),
            cpuSeconds: stats(mine.map((x) => x.result[p].cpuSeconds)),
          },
        ]),
      );
      return [
        v.id,
        { client: first.client, version: first.version, node: first.node, failedRounds: failed, ...phases },
      ];
    }),
  );

  const at = new Date();
  const out = {
    at: at.toISOString(),
    commit: git("rev-parse", "--short", "HEAD"),
    machine: {
      cores: cpus().length,
      node: process.version,
      loadAvgAtStart: loadBefore,
      loadAvgAtEnd: loadavg(),
      note: "2 cores shared with other engineers' builds and tests; compare clients within this run only",
    },
    broker: { brokers, kafka: "3.9.1 (KRaft, 1 broker)", security: describeSecurity(security) },
    orders: CDNOW_MASTER_ORDERS,
    settings: {
      partitions: 6,
      batch: 2000,
      rounds,
      order: "round r starts with variant r (rotation); one fresh process per client and round",
    },
    installs,
    seconds: (at.getTime() - startedAt.getTime()) / 1000,
    summary,
    unavailable,
    rounds: results,
    failures,
  };
  const file = join(
    ROOT,
    "bench-results",
    `kafka-clients-${at.toISOString().replace(/[:T]/g, "-").slice(0, 19)}.json`,
  );
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);

  const fmt = (s: { median: number; min: number; max: number }, digits = 0) =>
    `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
  console.log(`\nmedian (min-max) of ${rounds} rounds; orders/s, wall s, client CPU s`);
  for (const v of variants) {
    const s = summary[v.id] as unknown as Record<
      Phase,
      Record<"seconds" | "ordersPerSecond" | "cpuSeconds", ReturnType<typeof stats>>
    > & { version?: string; node?: string; failedRounds: number };
    if (!s.version) {
      console.log(`${v.id}: every round failed`);
      continue;
    }
    console.log(
      `${v.id}: ${s.version} on ${s.node}${s.failedRounds ? `, ${s.failedRounds} round(s) failed` : ""}`,
    );
    for (const p of PHASES)
      console.log(
        `  ${p.padEnd(14)} ${fmt(s[p].ordersPerSecond).padEnd(22)} ${fmt(s[p].seconds, 2).padEnd(22)} cpu ${fmt(s[p].cpuSeconds, 2)}`,
      );
  }
  for (const [id, reason] of Object.entries(unavailable)) console.log(`${id}: unavailable: ${reason}`);
  for (const [name, rec] of Object.entries(installs))
    console.log(
      `install ${name}: ${rec.package}@${rec.version} ${rec.seconds.toFixed(1)} s (${rec.how}${rec.cached ? `, measured ${rec.at}` : ""})`,
    );
  console.log(`\nwrote ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
