// Replays CDNOW_master.txt through churn-alert and prints what it cost: seconds from the
// service's start to the engine caught up (the records are published before it starts), the
// PostgreSQL backend CPU of the service's connections (from /proc, told apart from another
// churn-alert's by their client ports) and the SQL statements it
// sent (counted by sql-count.mjs, preloaded into the service; SQL_COUNT_PRELOAD= turns it off,
// or names another copy, e.g. to measure an older checkout). Also the service process's own CPU
// and resident memory once caught up, and a sha256 digest per table of what the replay left
// (alerts with their records, fits, member rows, due times, late flags, the engine's position):
// two versions that agree print the same digests. CHURN_MAIN= runs another copy of the
// service's main.ts (an older checkout's src, to compare in the same session). Figures in ADR
// 16, step 2. Needs the local stack.
//   node --import tsx services/churn-alert/bench/replay-cost.ts
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { createPool, migrate } from "@loyalty/db";
import { requireStack, testNamespace } from "@loyalty/testkit";
import {
  MAIN,
  canonicalCdnow,
  provision,
  publish,
  startService,
  stop,
  waitUntilCaughtUp,
} from "../test/support.ts";

const stack = await requireStack();
const ns = testNamespace();
await migrate(stack.databaseUrl, undefined, ns);
const pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
const events = canonicalCdnow("CDNOW_master.txt");
const { codec, topics } = await provision(stack, ns);
const purchases = topics.purchases;
if (purchases === undefined) throw new TypeError("no purchases topic");
await publish(stack, codec, purchases, events);
const lastTime = events[events.length - 1]?.eventTime ?? 0;

const countFile = `/tmp/churn-sql-count-${ns}`;
const preload = process.env.SQL_COUNT_PRELOAD ?? new URL("./sql-count.mjs", import.meta.url).pathname;
const ticks = new Map<number, number>();
const readTicks = (pid: number): number | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
};
/**
 * Local TCP ports of a process's sockets: its connections' client_port in pg_stat_activity, so
 * that another churn-alert running meanwhile (another namespace's tests) is not counted.
 */
const portsOf = (pid: number): Set<number> => {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined) inodes.add(m[1]);
      } catch {}
    }
  } catch {}
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      const inode = f[9];
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      ports.add(Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16));
    }
  }
  return ports;
};
/** The service process, once started. */
const service: { pid?: number | undefined } = {};
const sample = async () => {
  const servicePid = service.pid;
  if (servicePid === undefined) return;
  const ports = portsOf(servicePid);
  const r = await pool.query<{ pid: number; client_port: number | null }>(
    "select pid, client_port from pg_stat_activity where application_name = 'churn-alert' and pid <> pg_backend_pid()",
  );
  for (const { pid, client_port } of r.rows) {
    if (client_port === null || !ports.has(client_port)) continue;
    const t = readTicks(pid);
    if (t !== null) ticks.set(pid, t);
  }
};
/** Resident memory of a process, MiB. */
const rssMib = (pid: number): number | null => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m?.[1] === undefined ? null : Math.round(Number(m[1]) / 1024);
  } catch {
    return null;
  }
};
const started = Date.now();
const child = startService(
  stack,
  ns,
  {
    SERVICE_NAME: "churn-alert",
    CONSUMER_SESSION_TIMEOUT_MS: "60000",
    LOG_LEVEL: "warn",
    ...(preload ? { NODE_OPTIONS: `--import ${preload}`, SQL_COUNT_FILE: countFile } : {}),
  },
  process.env.CHURN_MAIN ?? MAIN,
);
service.pid = child.pid;
let serviceCpu: number | null = null;
let rss: number | null = null;
const poller = setInterval(() => void sample().catch(() => undefined), 200);
let seconds = 0;
try {
  await waitUntilCaughtUp(pool, events.length, lastTime, 3_600_000);
  seconds = (Date.now() - started) / 1000;
  await sample();
  if (child.pid !== undefined) {
    const t = readTicks(child.pid);
    serviceCpu = t === null ? null : t / 100;
    rss = rssMib(child.pid);
  }
} finally {
  clearInterval(poller);
  await stop(child);
}
const alerts = await pool.query<{ n: number }>("select count(*)::int as n from churn_alerts");
const fits = await pool.query<{ n: number }>("select count(*)::int as n from churn_fits");
let statements: number | null = null;
try {
  statements = Number(readFileSync(countFile, "utf8"));
} catch {}
/** sha256 of a query's rows, in its order. */
const digest = async (sql: string): Promise<string> => {
  const r = await pool.query({ text: sql, rowMode: "array" });
  return createHash("sha256").update(JSON.stringify(r.rows)).digest("hex").slice(0, 16);
};
const digests = {
  alerts: await digest(
    `select event_id, member_id, event_time, model_version, record::text from churn_alerts
     order by event_id collate "C"`,
  ),
  fits: await digest(
    `select model_version, trigger, fitted_at, calibration_end, unit_ms, r, alpha, a, b, log_likelihood,
       members, groups, converged, iterations, gg_p, gg_q, gg_gamma, gg_log_likelihood, gg_members,
       rfm::text, accepted, rejected_reason
     from churn_fits order by model_version collate "C"`,
  ),
  members: await digest(
    `select member_id, state::text, x, first_day, last_day, purchase_days, total_minor, repeat_minor,
       last_purchase_at, last_event_time, armed, alert_last_purchase_at, last_alert_at
     from churn_members order by member_id collate "C"`,
  ),
  due: await digest(`select member_id, due_at from churn_due order by member_id collate "C"`),
  late: await digest(`select event_id from churn_events where late order by event_id collate "C"`),
  engine: await digest("select frontier, next_refit_at, model_version from churn_engine"),
};
const cpu = [...ticks.values()].reduce((a, b) => a + b, 0) / 100;
console.log(
  JSON.stringify({
    namespace: ns,
    seconds,
    statements,
    backendCpuSeconds: cpu,
    backends: ticks.size,
    serviceCpuSeconds: serviceCpu,
    serviceRssMib: rss,
    alerts: alerts.rows[0]?.n,
    fits: fits.rows[0]?.n,
    digests,
  }),
);
await pool.end();
