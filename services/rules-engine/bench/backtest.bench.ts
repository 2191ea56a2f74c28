// Backtest benchmark (`pnpm bench:backtest`): a draft of the standard programme (base points at
// 2 per dollar) backtested beside the standard programme over the CDNOW master year 1997, the
// whole year's orders through both sides (the engine's pipeline in memory): backtestParallel
// (the sides on two threads, what `loyalty rules backtest` runs) and backtest() (one thread).
// Beside them, in the same run and on the same orders: simulateDraft of the running set alone
// (one side, one batch), the cost of pricing the history once. Also printed: the time of a full replay of the same
// history through the running engine, read from the latest `pnpm bench` result in bench-results/
// (a real replay takes minutes and needs the stack; this bench starts no service).
// backtestParallel keeps its worker thread for the next backtest of the process (as the console's
// server does between clicks): the first run starts it, later runs reuse it; the first run is
// printed on its own line.
//
//   pnpm bench:backtest [--runs N (default 3)] [--all (also the whole file, 1997-01 to 1998-06)]
//
// Exits 1 if two runs of the backtest give different reports (it must be deterministic).

import { readFileSync, readdirSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import type { PurchaseEvent } from "@loyalty/contracts";
import { cdnow } from "@loyalty/datasets";
import { type ReplayRecord, compileFx, normaliseOrder, parseText, validateOrder } from "@loyalty/ingestor";
import { simulateDraft } from "../src/engine/draft.ts";
import { backtestParallel, endBacktestWorker } from "../src/rules/backtest-parallel.ts";
import { type BacktestReport, backtest } from "../src/rules/backtest.ts";
import type { RuleSet } from "../src/rules/types.ts";
import { validateRuleSet } from "../src/rules/validate.ts";
import { STANDARD_RULES_DIR, readRuleSetSource, repoRoot } from "../src/rulesets/files.ts";

const TARGET_SECONDS = 5;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

function purchasesOf(text: string): PurchaseEvent[] {
  const fx = compileFx({ baseCurrency: "USD", rates: [] });
  const out: PurchaseEvent[] = [];
  for (const rec of parseText(text) as ReplayRecord[]) {
    if (rec.kind !== "order") continue;
    const order = validateOrder(rec.order);
    if (!order.ok) continue;
    const p = normaliseOrder(order.value, { memberId: order.value.customerId, fx });
    if (p.ok) out.push(p.value);
  }
  return out;
}

function valid(json: unknown): RuleSet {
  const v = validateRuleSet(json);
  if (!v.ok) throw new Error(`invalid rule set: ${JSON.stringify(v.errors)}`);
  return v.ruleSet;
}

interface Timed<T> {
  value: T;
  seconds: number;
  cpuSeconds: number;
}

/** Wall time, and CPU time of the whole process (all threads). */
async function timed<T>(f: () => T | Promise<T>): Promise<Timed<T>> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await f();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { value, seconds, cpuSeconds: (c.user + c.system) / 1e6 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

/** The latest `pnpm bench` (bench e2e) result: when the rules engine caught up with the replay. */
function latestReplay(): string {
  const dir = join(repoRoot(), "bench-results");
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /^e2e-.*\.json$/.test(f))
      .sort();
  } catch {
    return "no bench-results/ folder: run `pnpm bench` for the full-replay figure";
  }
  const file = files.at(-1);
  if (file === undefined) return "no bench-results/e2e-*.json: run `pnpm bench` for the full-replay figure";
  const doc = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
    at?: string;
    commit?: string;
    machine?: { cores?: number; node?: string };
    orders?: number;
    pipeline?: { seconds?: number; doneAtSeconds?: Record<string, number> };
  };
  const engine = doc.pipeline?.doneAtSeconds?.["rules-engine"];
  return (
    `bench-results/${file} (${doc.at ?? "?"}, commit ${doc.commit ?? "?"}, ${doc.machine?.cores ?? "?"} cores, node ${doc.machine?.node ?? "?"}): ` +
    `${doc.orders ?? "?"} orders (the whole master file) replayed through the running services, ` +
    `rules engine caught up at ${engine?.toFixed(1) ?? "?"} s, whole pipeline ${doc.pipeline?.seconds?.toFixed(1) ?? "?"} s`
  );
}

async function main(): Promise<number> {
  const runs = arg("runs", 3);
  const all = process.argv.includes("--all");
  const source = readRuleSetSource(STANDARD_RULES_DIR());
  const running = valid(source.json);
  const draft = valid({
    ...running,
    version: running.version + 1,
    rules: running.rules.map((r) =>
      r.id === "base-points"
        ? {
            ...r,
            version: r.version + 1,
            event: { type: "points-per-unit", params: { rate: "2", rounding: "floor" } },
          }
        : r,
    ),
  });
  const file = cdnow.master();
  const parsed = await timed(() => purchasesOf(readFileSync(file, "utf8")));
  const purchases = parsed.value;

  const windows: Array<{ name: string; from: number; to: number }> = [
    { name: "CDNOW master year 1997", from: Date.UTC(1997, 0, 1), to: Date.UTC(1998, 0, 1) },
  ];
  if (all) windows.push({ name: "whole master file", from: Date.UTC(1997, 0, 1), to: Date.UTC(1998, 6, 1) });

  console.log(
    `backtest bench: draft = standard with base-points at 2 points per dollar, beside standard v${running.version}; ` +
      `${purchases.length.toLocaleString("en-US")} orders read from ${file} in ${parsed.seconds.toFixed(2)} s (not counted below); ` +
      `node ${process.version}; best and median of ${runs} runs`,
  );
  const row = (a: string, b: string, c: string, d: string, e: string): string =>
    `${a.padEnd(50)}${b.padStart(9)}${c.padStart(10)}${d.padStart(10)}${e.padStart(10)}`;
  let code = 0;
  for (const w of windows) {
    await endBacktestWorker(); // each window's first run starts its worker
    const inWindow = purchases.filter((p) => p.eventTime >= w.from && p.eventTime < w.to);
    const input = { running, draft, programme: source.programme, purchases, from: w.from, to: w.to };
    const par: Array<Timed<BacktestReport>> = [];
    const bt: Array<Timed<BacktestReport>> = [];
    const sim: Array<Timed<number>> = [];
    let threads = true;
    for (let i = 0; i < runs; i++) {
      // Interleaved, so that none gets a systematically quieter machine.
      par.push(
        await timed(async () => {
          const r = await backtestParallel(input);
          threads &&= r.parallel;
          return r.report;
        }),
      );
      bt.push(await timed(() => backtest(input)));
      sim.push(await timed(() => simulateDraft(running, source.programme, inWindow).report.totalPoints));
    }
    const first = bt[0]?.value;
    if (first === undefined) continue;
    const same = [...bt, ...par].every((b) => JSON.stringify(b.value) === JSON.stringify(first));
    if (!same) code = 1;
    const best = (xs: Array<Timed<unknown>>) => Math.min(...xs.map((x) => x.seconds));
    const bestCpu = (xs: Array<Timed<unknown>>) => Math.min(...xs.map((x) => x.cpuSeconds));
    const med = (xs: Array<Timed<unknown>>) => median(xs.map((x) => x.seconds));
    console.log("");
    console.log(
      `${w.name}: [${new Date(w.from).toISOString().slice(0, 10)}, ${new Date(w.to).toISOString().slice(0, 10)}), ` +
        `${first.events.inWindow.toLocaleString("en-US")} orders of ${first.members.toLocaleString("en-US")} members`,
    );
    console.log(row("path", "orders", "best s", "median s", "cpu s"));
    console.log(
      row(
        `backtestParallel (2 sides, ${threads ? "2 threads" : "1 thread: worker did not start"})`,
        first.events.inWindow.toLocaleString("en-US"),
        best(par).toFixed(2),
        med(par).toFixed(2),
        bestCpu(par).toFixed(2),
      ),
    );
    console.log(
      row(
        "  first run (its worker started in the run)",
        first.events.inWindow.toLocaleString("en-US"),
        (par[0]?.seconds ?? Number.NaN).toFixed(2),
        "",
        (par[0]?.cpuSeconds ?? Number.NaN).toFixed(2),
      ),
    );
    console.log(
      row(
        "backtest (2 sides, 1 thread)",
        first.events.inWindow.toLocaleString("en-US"),
        best(bt).toFixed(2),
        med(bt).toFixed(2),
        bestCpu(bt).toFixed(2),
      ),
    );
    console.log(
      row(
        "baseline: simulateDraft (running set, 1 side)",
        inWindow.length.toLocaleString("en-US"),
        best(sim).toFixed(2),
        med(sim).toFixed(2),
        bestCpu(sim).toFixed(2),
      ),
    );
    const fastest = Math.min(best(par), best(bt));
    console.log(
      `ratio to simulateDraft: backtestParallel ${(best(par) / best(sim)).toFixed(2)}x, backtest ${(best(bt) / best(sim)).toFixed(2)}x`,
    );
    console.log(
      `target <= ${TARGET_SECONDS} s: ${fastest <= TARGET_SECONDS ? "met" : "NOT met"} (best run ${fastest.toFixed(2)} s, ` +
        `${fastest === best(par) ? "backtestParallel" : "backtest"}); load average ${loadavg()
          .map((x) => x.toFixed(1))
          .join(
            " ",
          )} on ${availableParallelism()} cores (other work on the machine slows both, two threads most)`,
    );
    const t = first.totals;
    console.log(
      `report: running ${t.running.netPoints} points, draft ${t.draft.netPoints} (${t.difference.netPoints >= 0 ? "+" : ""}${t.difference.netPoints}); ` +
        `liability difference ${t.difference.liabilityMinor} minor units ${first.currency}; members affected ${first.membersAffected}; ` +
        `simulateDraft total ${sim[0]?.value ?? "?"} points (= running ${sim[0]?.value === t.running.awardedPoints ? "OK" : "MISMATCH"})`,
    );
    if (sim[0]?.value !== t.running.awardedPoints) code = 1;
    console.log(
      `deterministic: ${runs} runs on one and on two threads, ${same ? "identical reports" : "REPORTS DIFFER"}`,
    );
  }
  console.log("");
  console.log(`full replay through the running engine: ${latestReplay()}`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
