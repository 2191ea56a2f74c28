// The population step of a refit as a replay runs it: fitPopulation (BG/NBD, Gamma-Gamma, the RFM
// reference) and every member's due time, on the CDNOW master members as they stand at weekly
// refits (weeks 4..78). Prints the CPU time of each part beside the same run's baseline, the two
// maximum-likelihood fits alone on the same members (what the step cannot do without), and a
// digest of every result, so a change to this path can be shown to give the same fits,
// references and due times.
//   pnpm bench:population
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_SETTINGS } from "../src/config.ts";
import { type MemberSummary, dueTime } from "../src/engine/member.ts";
import { calibrationEndFor, fitModels, fitPopulation } from "../src/engine/refit.ts";
import { DAY_MS } from "../src/model/index.ts";
import { dollarsToCents } from "../test/model/cdnow.ts";
import { datasetDir } from "../test/model/datasets.ts";

const settings = DEFAULT_SETTINGS;
const text = readFileSync(join(datasetDir("cdnow"), "CDNOW_master.txt"), "utf8");
// Per customer: purchase day (UTC day start) -> amount in minor units.
const byId = new Map<string, Map<number, number>>();
for (const line of text.split(/\r?\n/)) {
  const f = line.trim().split(/\s+/);
  const [id, d, , dollars] = f;
  // The header line ("customer_id date …") and blank lines are no purchases.
  if (id === undefined || d === undefined || dollars === undefined || !/^\d+$/.test(id)) continue;
  const t = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8));
  const m = byId.get(id) ?? new Map<number, number>();
  m.set(t, (m.get(t) ?? 0) + dollarsToCents(dollars));
  byId.set(id, m);
}
const start = Date.UTC(1997, 0, 1);
const WEEK = 7 * DAY_MS;

function summariesAt(at: number): MemberSummary[] {
  const out: MemberSummary[] = [];
  for (const m of byId.values()) {
    const days = [...m.keys()].filter((t) => t < at).sort((a, b) => a - b);
    const first = days[0];
    const last = days[days.length - 1];
    if (first === undefined || last === undefined) continue;
    let total = 0;
    for (const d of days) total += m.get(d) ?? 0;
    out.push({
      x: days.length - 1,
      firstDay: first,
      lastDay: last,
      purchaseDays: days.length,
      totalMinor: total,
      repeatMinor: total - (m.get(first) ?? 0),
      lastPurchaseAt: last + 12 * 3_600_000,
    });
  }
  return out;
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const digest = createHash("sha256");
let fitMs = 0;
let baselineMs = 0;
let dueMs = 0;
let dues = 0;
for (let wk = 4; wk <= 78; wk++) {
  const at = start + wk * WEEK;
  const summaries = summariesAt(at);
  const c0 = cpu();
  const fit = fitPopulation(summaries, at, settings);
  const c1 = cpu();
  digest.update(JSON.stringify(fit));
  if (fit === null) continue;
  for (const s of summaries) {
    const due = dueTime(s, at - 1, fit.bg.params, settings);
    digest.update(String(due));
    if (due !== null) dues++;
  }
  const c2 = cpu();
  // Baseline: the fits alone, as fitPopulation calls them.
  const end = calibrationEndFor(at, settings.timeZone);
  fitModels(
    summaries.filter((s) => s.firstDay <= end),
    end,
    settings,
  );
  const c3 = cpu();
  fitMs += c1 - c0;
  dueMs += c2 - c1;
  baselineMs += c3 - c2;
}
console.log(
  `population step, 75 weekly refits of CDNOW master: fitPopulation ${fitMs.toFixed(0)} ms CPU (baseline, the two fits alone: ${baselineMs.toFixed(0)} ms), due times ${dueMs.toFixed(0)} ms CPU (${dues} due)`,
);
console.log(`digest of fits, references and due times: ${digest.digest("hex")}`);
