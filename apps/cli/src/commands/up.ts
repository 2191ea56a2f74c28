import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
// `pnpm loyalty up`: the local stack, every service, and a replay of CDNOW as a demonstration
// with a live view; then it keeps running for live events until Ctrl-C.
import { cdnow } from "@loyalty/datasets";
import { createPool } from "@loyalty/db";
import { replayFile } from "@loyalty/ingestor";
import { REPO_ROOT, endpointsFromEnv, stackPaths, stackUp } from "@loyalty/local-stack";
import { createKafka, createLogger } from "@loyalty/stream-runtime";
import {
  Completion,
  type GroupProgress,
  PIPELINE,
  endOffsets,
  groupLag,
  startServices,
  stopServices,
  topicsFor,
  waitHealthy,
} from "../engine.ts";
import { provision } from "./provision.ts";

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { "no-demo": { type: "boolean", default: false }, rate: { type: "string" } },
  });
  const ns = process.env.LOYALTY_NAMESPACE ?? "";
  const e = endpointsFromEnv();
  const up = await stackUp({ log: (l) => console.log(`stack: ${l}`) });
  console.log(`stack: ready in ${up.seconds.toFixed(1)} s`);
  await provision([]);

  const stateDir = stackPaths().stateDir;
  const keyFile = join(stateDir, "api-admin-key");
  const adminKey =
    process.env.API_ADMIN_KEY ??
    (existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : randomBytes(24).toString("hex"));
  if (!process.env.API_ADMIN_KEY) writeFileSync(keyFile, adminKey, { mode: 0o600 });
  const env = {
    ...process.env,
    API_ADMIN_KEY: adminKey,
    API_PORT: process.env.API_PORT ?? "8080",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
  };
  const logDir = join(stateDir, "logs");
  const services = startServices(env, logDir);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping services (finishing in-flight batches)...");
    const codes = await stopServices(services);
    console.log(
      `stopped: ${Object.entries(codes)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`,
    );
    process.exit(code);
  };
  process.once("SIGINT", () => void stop(0));
  process.once("SIGTERM", () => void stop(0));
  for (const s of services)
    s.child.once(
      "exit",
      (c) =>
        !stopping &&
        console.error(`\n${s.spec.name} exited (${c}); its log: ${join(logDir, `${s.spec.name}.log`)}`),
    );
  await waitHealthy(services);
  console.log(`services: ${services.map((s) => s.spec.name).join(", ")} running; logs in ${logDir}`);

  const topics = topicsFor(ns);
  const kafka = createKafka({
    clientId: "loyalty-up",
    brokers: e.kafkaBrokers,
    logger: createLogger("up", "warn"),
    level: "warn",
  });
  const admin = kafka.admin();
  await admin.connect();
  const pool = createPool(e.databaseUrl, { max: 2, namespace: ns });

  const file = cdnow.master();
  if (!values["no-demo"]) {
    // The engine dedupes on event ids kept in PostgreSQL: in a namespace that has ingested before
    // (an earlier demo, or this clone's PostgreSQL state beside a fresh broker), a second replay
    // of the same file would be dropped as duplicates and its "end to end" time would mean nothing.
    const held = (await pgNumber(pool, "select count(*) as n from ingest_events")) ?? 0;
    if (held > 0) {
      console.log(
        `demo: namespace '${ns}' already holds ${held} ingested events, so a second replay of CDNOW would be ` +
          "dropped as duplicates; not replaying. What the engine holds:",
      );
      await report(admin, pool, ns, null, null);
      console.log(
        "\nFor a fresh demonstration, run it in a namespace of its own (topics, groups, schema and Redis keys):\n" +
          "  LOYALTY_NAMESPACE=demo2 bash infra/bin/run",
      );
    } else {
      console.log(`demo: replaying ${file} into ${topics.orders.name}`);
      const t0 = Date.now();
      const view = liveView(admin, pool, ns, t0);
      const rate = values.rate ? Number(values.rate) : undefined;
      const sent = await replayFile({ kafka, topic: topics.orders.name, file, ...(rate ? { rate } : {}) });
      await view.untilIdle(sent.sent);
      await report(admin, pool, ns, t0, sent.sent);
    }
  }

  const b = e.kafkaBrokers[0];
  console.log(`
The engine keeps running for live events (Ctrl-C stops it cleanly).
  send an order:    pnpm loyalty replay my-orders.jsonl --format jsonl
                    echo 'c-1	{"source":"pos","type":"ORDER_PLACED","orderId":"o-1","customerId":"c-1","occurredAt":"${new Date().toISOString()}","currency":"USD","totalMinor":2500,"lines":[]}' | kcat -P -b ${b} -t ${topics.orders.name} -K '\\t'
  watch the output: kcat -C -b ${b} -t ${topics.points.name} -s value=avro -r ${e.schemaRegistryUrl.replace(/\/apis\/ccompat\/v7$/, "/apis/ccompat/v7")}
                    (also ${topics.purchases.name}, ${topics.tiers.name}, ${topics.churnAlerts.name}, ${topics.campaigns.name}, ${topics.dlq.name})
  a member:         pnpm loyalty member show <member id>    (API on http://127.0.0.1:${env.API_PORT}, admin key in ${keyFile})
  tiers:            pnpm loyalty tiers stats
`);
  await new Promise(() => undefined);
  return 0;
}

interface Snapshot {
  at: number;
  stages: Record<string, GroupProgress>;
}

async function snapshot(admin: import("kafkajs").Admin, ns: string): Promise<Snapshot> {
  const topics = topicsFor(ns);
  const stages: Snapshot["stages"] = {};
  for (const s of PIPELINE) {
    const groupId = ns ? `${ns}.${s.group}` : s.group;
    stages[s.name] = await groupLag(
      admin,
      groupId,
      s.input.map((t) => topics[t].name),
    );
  }
  return { at: Date.now(), stages };
}

async function pgNumber(pool: import("pg").Pool, sql: string): Promise<number | null> {
  try {
    const r = await pool.query<{ n: number | string | null }>(sql);
    return r.rows[0]?.n === null || r.rows[0]?.n === undefined ? 0 : Number(r.rows[0].n);
  } catch {
    return null; // that service's tables are not there (yet)
  }
}

async function tierDistribution(pool: import("pg").Pool): Promise<string> {
  try {
    const r = await pool.query<{ tier: string; n: number }>(
      "select tier, count(*)::int as n from tier_members group by 1 order by 2 desc",
    );
    return r.rows.map((x) => `${x.tier} ${x.n}`).join(", ") || "-";
  } catch {
    return "-";
  }
}

/** How long the demo waits for churn-alert's tail once everything else is idle (its idle time is 2 s). */
const TAIL_PATIENCE_MS = 60_000;

function liveView(admin: import("kafkajs").Admin, pool: import("pg").Pool, ns: string, t0: number) {
  let prev: Snapshot | null = null;
  const completion = new Completion();
  const tty = process.stdout.isTTY;
  let lines = 0;
  const draw = async (): Promise<Snapshot> => {
    const s = await snapshot(admin, ns);
    const points = await pgNumber(pool, "select sum(points) as n from ledger_entries where points > 0");
    const alerts = await pgNumber(pool, "select count(*) as n from churn_alerts");
    const dlq = [...(await endOffsets(admin, topicsFor(ns).dlq.name)).values()].reduce((a, b) => a + b, 0);
    const tiers = await tierDistribution(pool);
    const out = [`elapsed ${((Date.now() - t0) / 1000).toFixed(1)} s`];
    for (const [name, st] of Object.entries(s.stages)) {
      const rate = prev
        ? ((st.committed - (prev.stages[name]?.committed ?? 0)) * 1000) / Math.max(1, s.at - prev.at)
        : 0;
      out.push(
        `  ${name.padEnd(15)} ${String(st.committed).padStart(8)} offsets  ${String(Math.round(rate)).padStart(6)}/s  lag ${st.lagBeyondMarkers}`,
      );
    }
    out.push(`  points issued ${points ?? "-"}   churn alerts ${alerts ?? "-"}   dead letters ${dlq}`);
    out.push(`  tiers: ${tiers}`);
    if (tty && lines) process.stdout.write(`\x1b[${lines}A\x1b[J`);
    process.stdout.write(`${out.join("\n")}\n`);
    lines = out.length;
    prev = s;
    return s;
  };
  return {
    /**
     * Redraws every second until every service has consumed everything the replay sent and the
     * churn engine has released the replay's tail (it does once its input has stood idle, then
     * the rules engine consumes those alerts): all of it seen at two polls in a row.
     */
    async untilIdle(sent: number): Promise<void> {
      let quietPolls = 0;
      let idleSince: number | null = null;
      for (;;) {
        const s = await draw();
        const ingested = s.stages.ingestor?.committed ?? 0;
        const idle = ingested >= sent && Object.entries(s.stages).every(([n, st]) => completion.done(n, st));
        const behind = await pgNumber(
          pool,
          `select count(*) as n from churn_source_clocks s, churn_engine e
            where e.frontier is null or s.max_event_time > e.frontier`,
        );
        quietPolls = idle && behind === 0 ? quietPolls + 1 : 0;
        if (quietPolls >= 2) return;
        idleSince = idle ? (idleSince ?? Date.now()) : null;
        // The tail normally follows within seconds; never wait for it for ever.
        if (idleSince !== null && Date.now() - idleSince > TAIL_PATIENCE_MS) {
          console.log(
            `churn-alert has not released the replay's tail ${TAIL_PATIENCE_MS / 1000} s after the input went idle: reporting without it`,
          );
          return;
        }
        await sleep(tty ? 1000 : 5000);
      }
    },
  };
}

async function report(
  admin: import("kafkajs").Admin,
  pool: import("pg").Pool,
  ns: string,
  t0: number | null,
  sent: number | null,
): Promise<void> {
  const topics = topicsFor(ns);
  const count = async (t: string) => [...(await endOffsets(admin, t)).values()].reduce((a, b) => a + b, 0);
  let replayed = "";
  if (t0 !== null && sent !== null) {
    const seconds = (Date.now() - t0) / 1000;
    replayed = `\n  orders replayed         ${sent} in ${seconds.toFixed(1)} s end to end (${Math.round(sent / seconds)} orders/s)`;
  }
  console.log(`
demo report${replayed}
  members                 ${(await pgNumber(pool, "select count(*) as n from ingest_members")) ?? "-"}
  ledger entries          ${(await pgNumber(pool, "select count(*) as n from ledger_entries")) ?? "-"}
  points outstanding      ${(await pgNumber(pool, "select sum(balance) as n from ledger_balances")) ?? "-"}
  tiers                   ${await tierDistribution(pool)}
  churn alerts            ${(await pgNumber(pool, "select count(*) as n from churn_alerts")) ?? "-"}
  dead letters (offsets)  ${await count(topics.dlq.name)}`);
}
