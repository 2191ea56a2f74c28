import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AvroCodec, type PointsMovement, type RegistryAuth, registryAuth } from "@loyalty/contracts";
// pnpm bench: the end-to-end benchmark on this machine (Kafka, registry, PostgreSQL, Redis and
// every service), beside a raw kafkajs passthrough through the same broker as the ceiling.
import { cdnow } from "@loyalty/datasets";
import { createPool } from "@loyalty/db";
import { replayFile } from "@loyalty/ingestor";
import {
  REPO_ROOT,
  grantNamespace,
  readCredentials,
  stackUp,
  withStackCredentials,
} from "@loyalty/local-stack";
import { ensureTopics } from "@loyalty/stream-runtime";
import { type Kafka, Partitioners } from "kafkajs";
import { kafkaClient } from "../connections.ts";
import { type CliContext, endpointsOf, printJson } from "../context.ts";
import { type CpuSnapshot, cpuSnapshot, cpuSpent } from "../cpu.ts";
import {
  Completion,
  PIPELINE,
  SERVICES,
  busyPorts,
  groupLag,
  startServices,
  stopServices,
  topicsFor,
  waitHealthy,
} from "../engine.ts";
import { PortBusyError, UsageError } from "../errors.ts";
import { BackendCpu, ledgerDigest } from "../pg-cpu.ts";
import { publishProgramme } from "./rules.ts";

const ns = (tag: string) => `b${tag}${Date.now().toString(36)}`;

export const PROFILABLE = SERVICES.map((s) => s.name);

export interface BenchOpts {
  limit?: number;
  rate: number;
  seconds: number;
  /** Seconds of the latency phase's load before its measured window. */
  warmup: number;
  profile?: string;
  /** Where the result file goes (default: bench-results/ at the repository root). */
  out?: string;
  json?: boolean;
}

/**
 * The stages timed by the benchmark: as in its recorded results, the member API is not one (it
 * was only a clock then); its read models are waited for after them (API_READ_MODELS).
 */
const STAGES = PIPELINE.filter((s) => s.name !== "api");

/** The member API's read-model consumer groups (before namespacing) and their input topics. */
const API_READ_MODELS: ReadonlyArray<{ group: string; input: Array<keyof ReturnType<typeof topicsFor>> }> = [
  { group: "api.points", input: ["points"] },
  { group: "api.dashboard", input: ["points", "tiers", "churnAlerts"] },
  { group: "api.tiers", input: ["tiers"] },
  { group: "api.churn-alerts", input: ["churnAlerts"] },
];

export async function run(ctx: CliContext, values: BenchOpts): Promise<number> {
  const e = endpointsOf(ctx);
  const log = (l: string) => (values.json ? ctx.err(l) : ctx.out(l));
  // Before anything runs: another engine on these ports would answer our health checks.
  const busy = await busyPorts(ctx.env);
  if (busy.length) throw new PortBusyError(busy);
  await stackUp({ env: ctx.env, log: (l) => ctx.err(`stack: ${l}`) });
  const kafka = kafkaClient(ctx, "bench");
  const admin = kafka.admin();
  await admin.connect();
  const file = cdnow.master();
  const limit = values.limit;

  // 1. Ceiling: consume and produce, no work, through the same broker.
  const nsA = ns("a");
  const tA = topicsFor(nsA);
  await ensureTopics(admin, { partitions: 6, replication: 1, topics: [tA.orders, tA.purchases] });
  const loaded = await replayFile({ kafka, topic: tA.orders.name, file, ...(limit ? { limit } : {}) });
  const pt = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(REPO_ROOT, "services/ingestor/bench/passthrough.ts"),
      e.kafkaBrokers.join(","),
      tA.orders.name,
      tA.purchases.name,
      `${nsA}.pt`,
    ],
    // Its output goes to stderr: stdout is the result (one JSON document with --json). Its
    // environment is the command's; it falls back to the stack's credentials file by itself.
    { cwd: REPO_ROOT, env: ctx.env, stdio: ["ignore", 2, 2] },
  );
  const ceiling = await timeUntil(
    async () => (await groupLag(admin, `${nsA}.pt`, [tA.orders.name])).committed >= loaded.sent,
  );
  pt.kill("SIGTERM");
  log(`ceiling: ${loaded.sent} records in ${ceiling.toFixed(2)} s`);

  // 2. The whole pipeline, replaying CDNOW as fast as it goes.
  const nsB = ns("b");
  const profileDir = join(REPO_ROOT, ".stack", "profiles", nsB);
  const env = {
    ...ctx.env,
    LOYALTY_NAMESPACE: nsB,
    LOG_LEVEL: "warn",
    API_ADMIN_KEY: "bench-admin-key-0123456789abcdef",
    API_PORT: ctx.env.API_PORT ?? "18080",
    // The churn join waits for churn-alert however loaded the machine is (default 30 s, then
    // purchases are priced without their alerts): the replay's ledger, and its digest, are then
    // the same in every run.
    CHURN_JOIN_MAX_WAIT_MS: ctx.env.CHURN_JOIN_MAX_WAIT_MS ?? "600000",
  };
  // Its services run as their own principals: the namespace's ACLs first.
  if (readCredentials(ctx.env) !== null) await grantNamespace(admin, nsB);
  // The engine never writes the rules topic: the programme is published first, as `publisher`.
  await publishProgramme({ ...ctx, env }, (l) => ctx.err(`bench: rules: ${l}`));
  const services = startServices(env, join(REPO_ROOT, ".stack", "logs", nsB));
  if (values.profile) {
    // Restart the profiled service with V8's sampling profiler; the profile is written at exit.
    const victim = services.find((s) => s.spec.name === values.profile);
    if (!victim)
      throw new UsageError(`--profile must be one of ${PROFILABLE.join(", ")}, got ${values.profile}`);
    await stopServices([victim]);
    mkdirSync(profileDir, { recursive: true });
    const [again] = startServices(
      env,
      join(REPO_ROOT, ".stack", "logs", nsB),
      [victim.spec.name],
      ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
    );
    if (!again) throw new Error(`${victim.spec.name} did not restart under the profiler`);
    services.splice(services.indexOf(victim), 1, again);
  }
  // The namespace's schema: its backends' CPU during the replay, and the ledger it leaves.
  const pool = createPool(e.databaseUrl, { max: 2, namespace: nsB, applicationName: "loyalty-bench" });
  try {
    return await measurePipeline();
  } finally {
    await stopServices(services);
    await admin.disconnect();
    await pool.end();
  }

  async function measurePipeline(): Promise<number> {
    await waitHealthy(services);
    const tB = topicsFor(nsB);
    const pids = new Map(services.map((s) => [s.child.pid ?? -1, s.spec.name]));
    pids.set(process.pid, "bench (publisher, lag polls)");
    const backends = new BackendCpu(pool);
    await backends.start();
    const cpuBefore = cpuSnapshot(pids);
    const t0 = Date.now();
    const sent = await replayFile({ kafka, topic: tB.orders.name, file, ...(limit ? { limit } : {}) });
    const published = (Date.now() - t0) / 1000;
    const perService: Record<string, number> = {};
    const completion = new Completion();
    await waitFor(async () => {
      let all = true;
      for (const s of STAGES) {
        const lag = await groupLag(
          admin,
          `${nsB}.${s.group}`,
          s.input.map((t) => tB[t].name),
        );
        // A stage is done only after every stage before it: until then more may still come.
        const done: boolean =
          all && completion.done(s.name, lag) && (s.name !== "ingestor" || lag.committed >= sent.sent);
        if (done && perService[s.name] === undefined) perService[s.name] = (Date.now() - t0) / 1000;
        all &&= done;
      }
      return all;
    }, 900_000);
    const wall = (Date.now() - t0) / 1000;
    const cpu = cpuSpent(cpuBefore, cpuSnapshot(pids));
    const pgSeconds = await backends.stop();
    log(`pipeline: ${sent.sent} orders end to end in ${wall.toFixed(2)} s`);
    // The member API's read models (balances and history, the console's dashboard, tiers, churn
    // alerts) follow the engine's topics: the latency phase starts once they have caught up too,
    // or their backlog would share the two cores with the live orders.
    const readModels = await timeUntil(async () => {
      let all = true;
      for (const r of API_READ_MODELS) {
        const lag = await groupLag(
          admin,
          `${nsB}.${r.group}`,
          r.input.map((t) => tB[t].name),
        );
        all &&= completion.done(r.group, lag);
      }
      return all;
    });
    const readModelsAt = wall + readModels;
    // The ledger the replay left, before the live orders below add to it.
    const ledger = await ledgerDigest(pool);
    const batchTotals = await batchSums(services);
    const batches = batchFigures(batchTotals);
    // Purchases the engine priced past the churn join's maximum wait, without the alerts
    // churn-alert had not sent yet: they pay no win-back, so the ledger (and its digest) differs.
    const engine = services.find((s) => s.spec.name === "rules-engine");
    const joinLate = engine ? await metricSum(engine.port, "loyalty_rules_churn_join_late_total") : 0;

    // 3. Latency from an order's publication to its points event under a steady load.
    // Live orders carry event times from just after the replay's last one, as live traffic
    // follows a replay of recent history: stamped with today's date, a 1998 data set would make
    // every service live through 28 years of event time (weekly churn refits, expiries)
    // meanwhile. One second after it, not a day: a day's gap made every service punctuate a
    // whole day of event time (churn-alert's due alerts, lot expiries, tier downgrades) in its
    // first live batch, a burst live operation spreads over the day.
    // A warm-up at the same rate comes first (its own customers, reported apart): the first live
    // batches after the replay paid for warming up (2026-12-07: the first second's p99 near 1 s
    // and more, seconds 0–4 above 1 s after a full replay, the rest 150–450 ms).
    const liveFrom = (sent.lastEventTime ?? Date.now()) + 1_000;
    // Taken when the measured window starts, after the warm-up.
    const start: {
      window: {
        cpu: CpuSnapshot;
        backends: BackendCpu;
        batches: Awaited<ReturnType<typeof batchSums>>;
      } | null;
    } = { window: null };
    const latency = await steadyLatency(
      kafka,
      tB,
      { rate: values.rate, seconds: values.seconds, warmupSeconds: values.warmup },
      liveFrom,
      e.schemaRegistryUrl,
      // Read now: stackUp above may have created the credentials file after the CLI started.
      registryAuth(withStackCredentials(ctx.env)),
      async () => {
        const batches = await batchSums(services);
        const backends = new BackendCpu(pool);
        await backends.start();
        start.window = { cpu: cpuSnapshot(pids), backends, batches };
      },
    );
    const window = start.window;
    if (window === null) throw new TypeError("the latency phase's window never started");
    const cpuLive = cpuSpent(window.cpu, cpuSnapshot(pids));
    const pgLive = await window.backends.stop();
    // The batches of the latency window alone: how many transactions each service ran at this rate.
    const liveBatches = batchFigures(batchDiff(await batchSums(services), window.batches));
    // The profile is written when the profiled service exits.
    await stopServices(services);

    let profile: string | undefined;
    if (values.profile) profile = summariseProfile(profileDir);

    const result = {
      at: new Date().toISOString(),
      commit: sourceCommit(),
      machine: { cores: cpus().length, node: process.version },
      orders: sent.sent,
      ceiling: { seconds: ceiling, ordersPerSecond: loaded.sent / ceiling },
      pipeline: {
        seconds: wall,
        publishSeconds: published,
        ordersPerSecond: sent.sent / wall,
        doneAtSeconds: perService,
        /** When the member API's read models had caught up too (the latency phase starts then). */
        apiReadModelsDoneAtSeconds: Number(readModelsAt.toFixed(3)),
        cpuSeconds: Object.fromEntries(cpu.map(([k, v]) => [k, Number(v.toFixed(1))])),
        /** The namespace's database backends alone (the services' statements). */
        postgresBackendCpuSeconds: Number(pgSeconds.total.toFixed(2)),
        postgresBackendCpuSecondsByClient: Object.fromEntries(
          pgSeconds.byClient.map(([k, v]) => [k, Number(v.toFixed(2))]),
        ),
        batches,
        ledger,
        churnJoinLate: joinLate,
      },
      latency: {
        ...latency,
        cpuSeconds: Object.fromEntries(cpuLive.map(([k, v]) => [k, Number(v.toFixed(1))])),
        postgresBackendCpuSeconds: Number(pgLive.total.toFixed(2)),
        postgresBackendCpuSecondsByClient: Object.fromEntries(
          pgLive.byClient.map(([k, v]) => [k, Number(v.toFixed(2))]),
        ),
        batches: liveBatches,
      },
      // Which service, and that it ran under the profiler (slower than an unprofiled run).
      ...(profile ? { profile: { service: values.profile, selfTime: profile } } : {}),
    };
    const outDir = values.out ? resolve(ctx.cwd, values.out) : join(REPO_ROOT, "bench-results");
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `e2e-${result.at.slice(0, 19).replace(/[:T]/g, "-")}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    if (values.json) {
      printJson(ctx, { ...result, file: out });
      return 0;
    }
    ctx.out(`
end-to-end benchmark (${result.machine.cores} cores, ${sent.sent} CDNOW orders)
  raw kafkajs passthrough (ceiling)   ${ceiling.toFixed(2).padStart(8)} s  ${Math.round(result.ceiling.ordersPerSecond).toString().padStart(7)} orders/s
  whole pipeline, first publish → last commit in every service
                                      ${wall.toFixed(2).padStart(8)} s  ${Math.round(result.pipeline.ordersPerSecond).toString().padStart(7)} orders/s
    each service done at: ${Object.entries(perService)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(", ")}; the API's read models ${readModelsAt.toFixed(1)} s
    CPU seconds spent meanwhile (${(cpus().length * wall).toFixed(0)} available on ${cpus().length} cores): ${cpu
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(", ")}
    PostgreSQL backends of this database: ${pgSeconds.total.toFixed(2)} CPU-seconds (${pgSeconds.byClient
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(", ")}; the machine-wide "postgresql" above also counts other databases, WAL writer, checkpointer)
    ledger after the replay: ${ledger.entries} entries, ${ledger.members} balances, digest ${ledger.digest}; ${joinLate} purchases priced past the churn join's wait (their win-backs missing)
    batches (count, mean messages, mean ms to process and commit, of which the Kafka commit): ${Object.entries(
      batches,
    )
      .map(([k, b]) => `${k} ${b.count} × ${b.meanSize} in ${b.meanMs} ms (${b.meanCommitMs})`)
      .join(", ")}
  order → points latency at ${latency.rate}/s for ${latency.seconds} s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms (${latency.samples} samples)
    p99 by second sent: ${latency.bySecond.map((b) => b.p99Ms).join(" ")} ms
    after a warm-up of ${latency.warmup.seconds} s at the same rate (not counted above): p50 ${latency.warmup.p50Ms} ms, p99 ${latency.warmup.p99Ms} ms, max ${latency.warmup.maxMs} ms
    CPU seconds meanwhile: ${cpuLive.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}
    PostgreSQL backends meanwhile: ${pgLive.total.toFixed(2)} CPU-seconds (${pgLive.byClient
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(", ")})
    batches meanwhile: ${Object.entries(liveBatches)
      .map(([k, b]) => `${k} ${b.count} × ${b.meanSize} in ${b.meanMs} ms (${b.meanCommitMs})`)
      .join(", ")}
  written to ${out}${profile ? `\n\nprofile of ${values.profile} (self time):\n${profile}` : ""}`);
    return 0;
  }
}

/** The sum of a metric's series on a service's /metrics. */
async function metricSum(port: number, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

interface BatchSums {
  count: number;
  messages: number;
  seconds: number;
  commitSeconds: number;
}

/** Each service's batch counters so far, from its /metrics (cumulative since it started). */
async function batchSums(services: Array<{ spec: { name: string }; port: number }>) {
  const out: Record<string, BatchSums> = {};
  for (const s of services) {
    const text = await fetch(`http://127.0.0.1:${s.port}/metrics`).then((r) => r.text());
    const sum = (name: string) =>
      [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    out[s.spec.name] = {
      count: sum("loyalty_batch_duration_seconds_count"),
      messages: sum("loyalty_messages_processed_total"),
      seconds: sum("loyalty_batch_duration_seconds_sum"),
      commitSeconds: sum("loyalty_batch_commit_duration_seconds_sum"),
    };
  }
  return out;
}

/** The counters of a phase: `after` minus `before`, per service. */
function batchDiff(after: Record<string, BatchSums>, before: Record<string, BatchSums>) {
  const out: Record<string, BatchSums> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { count: 0, messages: 0, seconds: 0, commitSeconds: 0 };
    out[name] = {
      count: a.count - b.count,
      messages: a.messages - b.messages,
      seconds: a.seconds - b.seconds,
      commitSeconds: a.commitSeconds - b.commitSeconds,
    };
  }
  return out;
}

/** Batch count, mean size, mean time to process and commit, and of it the Kafka commit. */
function batchFigures(sums: Record<string, BatchSums>) {
  const out: Record<string, { count: number; meanSize: number; meanMs: number; meanCommitMs: number }> = {};
  for (const [name, { count, messages, seconds, commitSeconds }] of Object.entries(sums))
    out[name] = {
      count,
      meanSize: count ? Math.round(messages / count) : 0,
      meanMs: count ? Number(((1000 * seconds) / count).toFixed(1)) : 0,
      meanCommitMs: count ? Number(((1000 * commitSeconds) / count).toFixed(1)) : 0,
    };
  return out;
}

/** The commit measured, "+" when the work tree differs from it; null outside a git checkout. */
function sourceCommit(): string | null {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? "+" : ""}`;
  } catch {
    return null;
  }
}

async function timeUntil(done: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  await waitFor(done, 600_000);
  return (Date.now() - t0) / 1000;
}

async function waitFor(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error("benchmark timed out");
    await sleep(250);
  }
}

async function steadyLatency(
  kafka: Kafka,
  topics: ReturnType<typeof topicsFor>,
  load: { rate: number; seconds: number; warmupSeconds: number },
  eventTimeFrom: number,
  registryUrl: string,
  auth: RegistryAuth | undefined,
  /** Called between the warm-up and the measured window (the caller's CPU snapshots). */
  atWindowStart: () => Promise<void>,
) {
  const { rate, seconds, warmupSeconds } = load;
  const codec = new AvroCodec(registryUrl, auth);
  const publishedAt = new Map<string, number>();
  const latencies: number[] = [];
  const warmup: number[] = [];
  // Latencies by the second of the window the order was sent in: the first seconds' orders are
  // all new members' (5,000 customers in turn), the rest returning ones. The warm-up has
  // customers of its own, so the window starts with new members as it did without one.
  const bySecond: number[][] = Array.from({ length: seconds }, () => []);
  let start = Date.now();
  const consumer = kafka.consumer({ groupId: `${topics.points.name}.latency`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.points.name], fromBeginning: false });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        if (!m.value) continue;
        const p = await codec.decode<PointsMovement>(m.value);
        const orderId = p.orderId;
        const t = orderId ? publishedAt.get(orderId) : undefined;
        if (orderId && t !== undefined && p.kind === "EARNED") {
          if (orderId.startsWith("lat-w-")) warmup.push(now - t);
          else {
            latencies.push(now - t);
            bySecond[Math.floor((t - start) / 1000)]?.push(now - t);
          }
          publishedAt.delete(orderId);
        }
      }
    },
  });
  await sleep(3000); // the consumer's first assignment
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  // Event time moves with the wall clock from eventTimeFrom, through the warm-up and the window.
  const t0 = Date.now();
  const publish = async (prefix: string, count: number) => {
    start = Date.now();
    for (let i = 0; i < count; i += rate / 20) {
      const due = start + (i / rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      const now = Date.now();
      const eventTime = eventTimeFrom + (now - t0);
      const messages = Array.from({ length: rate / 20 }, (_, j) => {
        const orderId = `${prefix}${i + j}`;
        publishedAt.set(orderId, now);
        const customerId = `${prefix}c-${(i + j) % 5000}`;
        return {
          key: customerId,
          value: JSON.stringify({
            source: "bench",
            type: "ORDER_PLACED",
            orderId,
            customerId,
            occurredAt: eventTime,
            currency: "USD",
            totalMinor: 1000 + ((i + j) % 9000),
            lines: [],
          }),
          timestamp: String(eventTime),
        };
      });
      await producer.send({ topic: topics.orders.name, messages });
    }
  };
  await publish("lat-w-", rate * warmupSeconds);
  await atWindowStart();
  await publish("lat-", rate * seconds);
  await producer.disconnect();
  const deadline = Date.now() + 60_000;
  while (publishedAt.size > 0 && Date.now() < deadline) await sleep(200);
  await consumer.disconnect();
  latencies.sort((a, b) => a - b);
  warmup.sort((a, b) => a - b);
  const quantile = (sorted: number[], x: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))] ?? Number.NaN;
  const q = (x: number) => quantile(latencies, x);
  return {
    rate,
    seconds,
    samples: latencies.length,
    missing: [...publishedAt.keys()].filter((k) => !k.startsWith("lat-w-")).length,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    /** p50 and p99 of the orders sent in each second of the window. */
    bySecond: bySecond.map((l) => {
      l.sort((a, b) => a - b);
      return { samples: l.length, p50Ms: quantile(l, 0.5), p99Ms: quantile(l, 0.99) };
    }),
    /** The warm-up before the window, at the same rate: not in the figures above. */
    warmup: {
      seconds: warmupSeconds,
      samples: warmup.length,
      p50Ms: quantile(warmup, 0.5),
      p99Ms: quantile(warmup, 0.99),
      maxMs: warmup[warmup.length - 1] ?? Number.NaN,
    },
  };
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function from V8's .cpuprofile: where the slowest stage spends its time. */
function summariseProfile(dir: string): string {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return "(no profile written)";
  const p = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id);
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    if (!n) return;
    const url = n.callFrame.url.replace(/^.*node_modules\/\.pnpm\/([^/]+)\/.*$/, "$1").replace(REPO_ROOT, "");
    const key = `${n.callFrame.functionName || "(anonymous)"} ${url}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
    .join("\n");
}
