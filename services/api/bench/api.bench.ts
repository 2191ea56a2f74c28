// `pnpm bench:api`: requests/s and p50/p99 latency of balance reads and redemptions against a
// running member API, on the real stack, in a namespace of its own. Redemptions are ledger
// commands applied by the rules engine (ADR 16 step 3), which runs beside the API (wall mode). The
// API, the engine and the load generator (bench/load.ts) are separate processes on this machine,
// talking over 127.0.0.1. Besides the closed-loop rows, redemptions are offered at BENCH_RATE per
// second (open loop, "redeem@rate": the latency of issue 24's "p99 at 200/s"). The first rows,
// "livez", are the same-run baseline: GET /livez on the same server and sockets (no key, no
// database), the most this machine serves through this HTTP stack and load generator.
//   BENCH_SECONDS (5), BENCH_MAX_REQUESTS (50000), BENCH_CONCURRENCY ("16,64"), BENCH_MEMBERS (500),
//   BENCH_RATE (200), BENCH_SCENARIOS ("livez,balance,redeem,redeem-hot"), BENCH_API_ENV (JSON: more environment of the API)
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { verifyLedger } from "@loyalty/rules-engine";
import {
  type TestStack,
  deleteNamespaceTopics,
  testEndpointsFromEnv,
  testNamespace,
  withStackCredentials,
} from "@loyalty/testkit";
import {
  startService as startRulesEngine,
  stopService as stopRulesEngine,
} from "../../rules-engine/test/int/harness.ts";
import {
  ADMIN_KEY,
  DAY,
  call,
  namespacePool,
  seedLots,
  startApi,
  untilApplied,
} from "../test/int/helpers.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const maxRequests = Number(process.env.BENCH_MAX_REQUESTS ?? 50_000);
const levels = (process.env.BENCH_CONCURRENCY ?? "16,64").split(",").map(Number);
const memberCount = Number(process.env.BENCH_MEMBERS ?? 500);
const rate = Number(process.env.BENCH_RATE ?? 200);
const SCENARIOS = ["livez", "balance", "redeem", "redeem-hot"] as const;
const scenarios = (process.env.BENCH_SCENARIOS ?? SCENARIOS.join(",")).split(",").map((s) => {
  const known = SCENARIOS.find((x) => x === s);
  if (known === undefined) throw new TypeError(`BENCH_SCENARIOS: unknown scenario ${s}`);
  return known;
});
const LOAD = new URL("./load.ts", import.meta.url).pathname;

// The running stack named by the environment (defaults: the local stack, the test database).
// Not requireStack(): the bench must not depend on the shared public schema's migration state.
const env = process.env;
const stack: TestStack = { ...testEndpointsFromEnv(env), via: "environment" };
// The bench process is the stack's admin (publishing the programme, registering schemas); the
// services it starts run as their own principals (serviceEnv).
Object.assign(process.env, withStackCredentials(process.env));
const ns = testNamespace();
const pool = await namespacePool(stack, ns);
const members = Array.from({ length: memberCount }, (_, i) => `bench-${i}`);
const now = Date.now();
const seeded: string[] = [];
for (const m of members)
  seeded.push(
    ...(await seedLots(
      pool,
      m,
      [
        { points: 1_000_000, expiresAt: now + 200 * DAY, tag: "a" },
        { points: 1_000_000, expiresAt: now + 300 * DAY, tag: "b" },
      ],
      { wait: false },
    )),
  );
const engine = await startRulesEngine(stack, ns, { CLOCK_MODE: "wall", LOG_LEVEL: "warn" });
const api = await startApi(stack, ns, {
  CLOCK_MODE: "wall",
  LOG_LEVEL: "warn",
  API_DB_POOL_SIZE: "32",
  // e.g. {"NODE_OPTIONS":"--cpu-prof --cpu-prof-dir=/tmp/prof"}: profile the API alone.
  ...(env.BENCH_API_ENV ? (JSON.parse(env.BENCH_API_ENV) as Record<string, string>) : {}),
});
// The balances are read from the API's read model of loyalty.points.v1: filled before the first row.
await untilApplied(pool, seeded, 120_000);
const created = await call(api.base, "POST", "/v1/keys", {
  key: ADMIN_KEY,
  body: { name: "bench", scopes: ["read", "redeem"] },
});
if (created.status !== 201) throw new Error(`could not create a key: ${created.status}`);

/**
 * CPU-seconds so far of the API process and of the PostgreSQL backends serving this database
 * (the API's and the engine's; the bench's own pool is idle meanwhile), from /proc: figures per
 * request that the machine's other load moves much less than req/s and latency.
 */
const TICKS = 100;
async function procCpu(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0; // gone (a backend that closed): its CPU is lost to both samples
  }
}
async function cpuNow(): Promise<{ api: number; pg: Map<number, number> }> {
  const pids = await pool.query<{ pid: number }>(
    "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
  );
  const pg = new Map(await Promise.all(pids.rows.map(async (r) => [r.pid, await procCpu(r.pid)] as const)));
  return { api: await procCpu(api.service.child.pid ?? 0), pg };
}
/** Backend CPU between two samples: per backend (one that started meanwhile counts from 0). */
const pgSpent = (a: Map<number, number>, b: Map<number, number>) =>
  [...b].reduce((sum, [pid, t]) => sum + t - (a.get(pid) ?? 0), 0);

interface Result {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
}

const rows: string[][] = [];
const runId = randomUUID().slice(0, 8);
const runs = [
  ...scenarios.flatMap((scenario) =>
    levels.map((concurrency) => ({ scenario, concurrency, rate: undefined as number | undefined })),
  ),
  ...(scenarios.includes("redeem") ? [{ scenario: "redeem" as const, concurrency: 256, rate }] : []),
];
for (const { scenario, concurrency, rate } of runs) {
  const job = {
    ...(rate === undefined ? {} : { rate }),
    base: api.base,
    key: created.body.key,
    scenario,
    concurrency,
    durationMs: seconds * 1000,
    maxRequests,
    members,
    runId,
  };
  const cpu0 = await cpuNow();
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", LOAD], {
    env: { ...process.env, LOAD_JOB: JSON.stringify(job) },
    maxBuffer: 1 << 20,
  });
  const r = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Result;
  const cpu1 = await cpuNow();
  const perRequest = (a: number, b: number) => (r.requests > 0 ? ((b - a) * 1000) / r.requests : 0);
  rows.push([
    rate === undefined ? scenario : `${scenario}@${rate}/s`,
    rate === undefined ? String(concurrency) : "open",
    String(r.requests),
    r.rps.toFixed(0),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(1),
    perRequest(cpu0.api, cpu1.api).toFixed(3),
    perRequest(0, pgSpent(cpu0.pg, cpu1.pg)).toFixed(3),
    Object.entries(r.statuses)
      .map(([s, n]) => `${s}:${n}`)
      .join(" "),
  ]);
}
const report = await verifyLedger(pool);
await api.service.stop();
await stopRulesEngine(engine);
await pool.end();
// Its topics go with it (the schema stays, for a look at the ledger): see deleteNamespaceTopics.
await deleteNamespaceTopics(stack.kafkaBrokers, ns);

const head = [
  "scenario",
  "conns",
  "requests",
  "req/s",
  "p50 ms",
  "p99 ms",
  "max ms",
  "API cpu ms/req",
  "PG cpu ms/req",
  "statuses",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
console.log(`member API, ${memberCount} members, ${seconds} s per row (namespace ${ns})`);
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(
  `ledger verify: ${report.differences.length === 0 ? "consistent" : `${report.differences.length} difference(s)`} (${report.entries} entries)`,
);
process.exit(report.differences.length === 0 ? 0 : 1);
