// `loyalty churn calibrate` on the CDNOW sample, against the real stack: the CLI runs the ingestor,
// churn-alert and the API (as `loyalty up` does), CDNOW_sample.txt is replayed as upstream orders,
// and once churn-alert holds every purchase the real binary reports the calibration of Fader,
// Hardie & Lee (2005): calibration 1997-01-01..1997-09-30 (39 weeks), holdout to 1998-06-30.
// The API answers the same figures, asked of churn-alert's ops server, not of its tables.
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CalibrationReport } from "@loyalty/churn-alert";
import { cdnow } from "@loyalty/datasets";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Running, startServices, stopServices, waitHealthy } from "../src/engine.ts";
import { cli, cliProcess, stackEnv } from "./helpers.ts";

const ADMIN_KEY = "calibrate-test-admin-key-0123456789abcdef";
const API_PORT = 18551;
/** Published estimates (Fader, Hardie & Lee 2005, Table/Excel note), to four decimals. */
const PAPER = { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 } as const;
const DAY = 86_400_000;
const CAL_END = Date.UTC(1997, 8, 30);
const HOLDOUT_END = Date.UTC(1998, 5, 30);

/** The sample file read here on its own: per customer, the distinct purchase days. */
function sampleCustomers(): Map<string, number[]> {
  const days = new Map<string, Set<number>>();
  for (const line of readFileSync(cdnow.sample(), "utf8").split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const [, id = "", d = ""] = f;
    const t = Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)));
    days.set(id, (days.get(id) ?? new Set()).add(t));
  }
  return new Map([...days].map(([id, s]) => [id, [...s].sort((p, q) => p - q)]));
}

let stack: TestStack;
let env: NodeJS.ProcessEnv;
let services: Running[] = [];
let db: pg.Client;
let report: CalibrationReport;

beforeAll(async () => {
  stack = await requireStack();
  const ns = testNamespace();
  env = stackEnv(stack, ns, {
    LOYALTY_OPS_PORT_BASE: "19551",
    API_PORT: String(API_PORT),
    API_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: "warn",
    CONSUMER_SESSION_TIMEOUT_MS: "10000",
  });
  expect((await cli(["migrate"], env)).code).toBe(0);
  services = startServices(env, mkdtempSync(join(tmpdir(), "calibrate-")), [
    "ingestor",
    "churn-alert",
    "api",
  ]);
  await waitHealthy(services);
  const sent = await cli(["replay", "data/cdnow/CDNOW_sample.txt", "--json"], env);
  expect(sent.code).toBe(0);
  expect(JSON.parse(sent.stdout)).toMatchObject({ sent: 6919 });
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  await db.query(`set search_path = ${ns}`);
  // Whatever order the purchases reached it in, churn-alert's state holds them all.
  const deadline = Date.now() + 180_000;
  for (;;) {
    const r = await db.query<{ members: number; events: number; pending: number }>(
      `select (select count(*)::int from churn_members where x is not null) as members,
              (select count(*)::int from churn_events) as events,
              (select count(*)::int from churn_events e, churn_engine g
                where g.frontier is null or e.event_time > g.frontier) as pending`,
    );
    const row = r.rows[0];
    if (row?.members === 2357 && row.events === 6919 && row.pending === 0) break;
    if (Date.now() > deadline) throw new Error(`churn-alert did not catch up: ${JSON.stringify(row)}`);
    await sleep(500);
  }
  const ran = await cliProcess(
    ["churn", "calibrate", "--calibration-end", "1997-09-30", "--holdout-end", "1998-06-30", "--json"],
    { env },
  );
  if (ran.code !== 0 || !ran.stdout.endsWith("}\n"))
    throw new Error(`calibrate exited ${ran.code}, ${ran.stdout.length} bytes out: ${ran.stderr}`);
  report = JSON.parse(ran.stdout) as CalibrationReport;
}, 360_000);

afterAll(async () => {
  await db?.end();
  const codes = await stopServices(services);
  expect(Object.values(codes).every((c) => c === 0)).toBe(true);
});

describe("loyalty churn calibrate on the CDNOW sample", () => {
  it("fits the published parameters on the 39-week calibration period", () => {
    expect(report.fit.members).toBe(2357);
    expect(report.fit.converged).toBe(true);
    // The published estimates come from T and t_x rounded to 0.01 week (the summary file); the
    // engine's are in exact days / 7: they agree to 1e-4 relative (alpha and b differ by ~1e-4
    // absolute, the rounding's effect; a fit on the rounded file gives 4.41353 and 2.42575).
    for (const k of ["r", "alpha", "a", "b"] as const)
      expect(Math.abs(report.fit.params[k] - PAPER[k]) / PAPER[k], k).toBeLessThan(1e-4);
    expect(report.fit.logLikelihood).toBeCloseTo(-9582.4, 0);
    expect(report.unitDays).toBe(7);
    expect(report.holdoutLength).toBe(39);
    expect(report.laterMembers).toBe(0);
    expect(report.holdoutReached).toBe(true);
  });

  it("every member's x, t_x, T and holdout purchases are those of the sample file", () => {
    const fromFile: number[][] = [];
    for (const days of sampleCustomers().values()) {
      const cal = days.filter((d) => d <= CAL_END);
      const first = cal[0] ?? Number.NaN;
      const last = cal[cal.length - 1] ?? Number.NaN;
      fromFile.push([
        cal.length - 1,
        (last - first) / (7 * DAY),
        (CAL_END - first) / (7 * DAY),
        days.filter((d) => d > CAL_END && d <= HOLDOUT_END).length,
      ]);
    }
    const fromReport = report.members.map((m) => [m.x, m.tx, m.T, m.actual]);
    const order = (rows: number[][]) => rows.map((r) => r.join(" ")).sort();
    expect(order(fromReport)).toEqual(order(fromFile));
  });

  it("the table by frequency adds up: 2,357 members, the holdout purchases counted from the file", () => {
    // Repeat transactions = distinct purchase days (the paper's and the model's count).
    let holdout = 0;
    for (const days of sampleCustomers().values())
      holdout += days.filter((d) => d > CAL_END && d <= HOLDOUT_END).length;
    expect(holdout).toBe(1882);
    const rows = report.byFrequency;
    expect(rows.map((b) => b.label)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7+"]);
    expect(rows.reduce((s, b) => s + b.members, 0)).toBe(2357);
    expect(report.totals.members).toBe(2357);
    expect(rows.reduce((s, b) => s + b.actual, 0)).toBe(holdout);
    expect(report.totals.actual).toBe(holdout);
    const expected = report.members.reduce((s, m) => s + m.expected, 0);
    expect(report.totals.expected).toBeCloseTo(expected, 6);
    expect(rows.reduce((s, b) => s + b.expected, 0)).toBeCloseTo(expected, 6);
    for (const b of rows) {
      const members = report.members.filter((m) => Math.min(m.x, 7) === b.x);
      expect(members.length).toBe(b.members);
      expect(b.actualMean).toBeCloseTo(b.actual / b.members, 12);
      expect(b.expectedMean).toBeCloseTo(members.reduce((s, m) => s + m.expected, 0) / b.members, 9);
    }
    // Those who bought more in calibration buy more in the holdout, and the model expects so.
    for (let i = 1; i < rows.length; i++)
      expect(rows[i]!.expectedMean!).toBeGreaterThan(rows[i - 1]!.expectedMean!);
  });

  it("prints the table for people, and the API answers the same figures from churn-alert", async () => {
    const text = await cli(
      ["churn", "calibrate", "--calibration-end", "1997-09-30", "--holdout-end", "1998-06-30"],
      env,
    );
    expect(text.code).toBe(0);
    const lines = text.stdout.split("\n");
    const row = (label: string) =>
      lines
        .find((l) => l.trimStart().startsWith(`${label} `))
        ?.trim()
        .split(/\s+/);
    for (const b of report.byFrequency)
      expect(row(b.label)).toEqual([
        b.label,
        String(b.members),
        b.actualMean!.toFixed(3),
        b.expectedMean!.toFixed(3),
        String(b.actual),
        b.expected.toFixed(1),
      ]);
    expect(row("all")?.slice(0, 2)).toEqual(["all", "2357"]);
    console.log(text.stdout);

    const res = await fetch(
      `http://127.0.0.1:${API_PORT}/v1/churn/calibration?calibrationEnd=1997-09-30&holdoutEnd=1998-06-30`,
      { headers: { authorization: `Bearer ${ADMIN_KEY}` } },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(report);
  });
});
