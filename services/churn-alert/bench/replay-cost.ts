// Replays CDNOW_master.txt through churn-alert and prints what it cost: seconds from the
// service's start to the engine caught up (the records are published before it starts), the
// PostgreSQL backend CPU of the service's connections (from /proc) and the SQL statements it
// sent (counted by sql-count.mjs, preloaded into the service; SQL_COUNT_PRELOAD= turns it off,
// or names another copy, e.g. to measure an older checkout). Figures in ADR 16, step 2.
// Needs the local stack.
//   node --import tsx services/churn-alert/bench/replay-cost.ts
import { readFileSync } from "node:fs";
import { createPool, migrate } from "@loyalty/db";
import { requireStack, testNamespace } from "@loyalty/testkit";
import {
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
const sample = async () => {
  const r = await pool.query<{ pid: number }>(
    "select pid from pg_stat_activity where application_name = 'churn-alert' and pid <> pg_backend_pid()",
  );
  for (const { pid } of r.rows) {
    const t = readTicks(pid);
    if (t !== null) ticks.set(pid, t);
  }
};
const started = Date.now();
const child = startService(stack, ns, {
  CONSUMER_SESSION_TIMEOUT_MS: "60000",
  LOG_LEVEL: "warn",
  ...(preload ? { NODE_OPTIONS: `--import ${preload}`, SQL_COUNT_FILE: countFile } : {}),
});
const poller = setInterval(() => void sample().catch(() => undefined), 200);
let seconds = 0;
try {
  await waitUntilCaughtUp(pool, events.length, lastTime, 3_600_000);
  seconds = (Date.now() - started) / 1000;
  await sample();
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
const cpu = [...ticks.values()].reduce((a, b) => a + b, 0) / 100;
console.log(
  JSON.stringify({
    namespace: ns,
    seconds,
    statements,
    backendCpuSeconds: cpu,
    backends: ticks.size,
    alerts: alerts.rows[0]?.n,
    fits: fits.rows[0]?.n,
  }),
);
await pool.end();
