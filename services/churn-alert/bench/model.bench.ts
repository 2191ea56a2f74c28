// Calls per second of BG/NBD's expectedPurchases and probabilityAlive, the current implementation
// beside the one before "Churn model: robust special functions" (bench/baseline/model-before.ts),
// measured in the same run:
//   pnpm bench:churn-model
// Cases: a degenerate fit of the first weeks of a CDNOW master replay (nobody seen to drop out yet:
// a → 0, b → ∞; units weeks; young members, x 0..3 and T 0..4) at horizons of 4 and 13 weeks, the
// same with b = 3e6 (where the old series gave up after 2e6 terms and threw), and the paper's fit on
// CDNOW-like members. The old implementation is time-boxed (BASELINE_BUDGET_MS per cell), so the whole
// run stays well under a minute even where one old call takes tens of milliseconds.
import { cpus } from "node:os";
import {
  type BgNbdParams,
  ModelNumericError,
  expectedPurchases,
  probabilityAlive,
} from "../src/model/index.ts";
import { sfc32 } from "../test/model/prng.ts";
import { baselineExpectedPurchases, baselineProbabilityAlive } from "./baseline/model-before.ts";

const NEW_BUDGET_MS = 1000;
const BASELINE_BUDGET_MS = 2000;
const TARGET_PER_S = 100_000;

interface Member {
  readonly x: number;
  readonly tx: number;
  readonly T: number;
}

function members(seed: number, n: number, young: boolean): Member[] {
  const u = sfc32(seed);
  return Array.from({ length: n }, () => {
    const T = young ? 4 * u() : 27 + 12 * u();
    const x = young ? Math.floor(4 * u()) : Math.floor(11 * u());
    return { x, tx: x === 0 ? 0 : T * u(), T };
  });
}

interface Case {
  readonly name: string;
  readonly p: BgNbdParams;
  readonly t: number;
  readonly members: readonly Member[];
}

// The week-4 fit: a and b as the replay's early fit has them; r and α plausible for it.
const DEGENERATE: BgNbdParams = { r: 0.35, alpha: 6.5, a: 3.6e-7, b: 8.45e5 };
const PAPER: BgNbdParams = { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 };
const young = members(1, 64, true);
const cases: Case[] = [
  { name: "degenerate wk4, t=4", p: DEGENERATE, t: 4, members: young },
  { name: "degenerate wk4, t=13", p: DEGENERATE, t: 13, members: young },
  { name: "degenerate b=3e6, t=13", p: { ...DEGENERATE, b: 3e6 }, t: 13, members: young },
  { name: "paper fit, t=39", p: PAPER, t: 39, members: members(2, 64, false) },
];

type Fn = (p: BgNbdParams, t: number, m: Member) => number;

interface Measured {
  readonly perSecond: number;
  readonly calls: number;
  /** The first error, if the function threw (then perSecond is NaN). */
  readonly error: string | null;
}

/** Runs `fn` over the members round-robin until `budgetMs` has passed; calls per second. */
function measure(c: Case, fn: Fn, budgetMs: number, warmUpMs: number): Measured {
  let sink = 0;
  const run = (ms: number): { calls: number; ns: bigint } => {
    const start = process.hrtime.bigint();
    const until = start + BigInt(Math.round(ms * 1e6));
    let calls = 0;
    let now = start;
    do {
      // Batches of one pass over the members between clock reads, but at least one call.
      for (const m of c.members) {
        sink += fn(c.p, c.t, m);
        calls++;
        if (calls % 8 === 0 && process.hrtime.bigint() >= until) break;
      }
      now = process.hrtime.bigint();
    } while (now < until);
    return { calls, ns: now - start };
  };
  try {
    if (warmUpMs > 0) run(warmUpMs);
    const { calls, ns } = run(budgetMs);
    if (!Number.isFinite(sink)) throw new Error("non-finite result");
    return { perSecond: calls / (Number(ns) / 1e9), calls, error: null };
  } catch (err) {
    const kind = err instanceof ModelNumericError ? `${err.kind}: ` : "";
    const message = err instanceof Error ? `${err.name}: ${kind}${err.message}` : String(err);
    return { perSecond: Number.NaN, calls: 0, error: message };
  }
}

/** Largest relative difference of the two implementations over the case's members (NaN if one throws). */
function maxRelDiff(c: Case, a: Fn, b: Fn): number {
  let worst = 0;
  for (const m of c.members) {
    let u: number;
    let v: number;
    try {
      u = a(c.p, c.t, m);
      v = b(c.p, c.t, m);
    } catch {
      return Number.NaN;
    }
    worst = Math.max(worst, v === 0 ? Math.abs(u) : Math.abs(u - v) / Math.abs(v));
  }
  return worst;
}

const fns: { name: string; current: Fn; baseline: Fn }[] = [
  {
    name: "expectedPurchases",
    current: (p, t, m) => expectedPurchases(p, t, m.x, m.tx, m.T),
    baseline: (p, t, m) => baselineExpectedPurchases(p, t, m.x, m.tx, m.T),
  },
  {
    name: "probabilityAlive",
    current: (p, _t, m) => probabilityAlive(p, m.x, m.tx, m.T),
    baseline: (p, _t, m) => baselineProbabilityAlive(p, m.x, m.tx, m.T),
  },
];

const fmtRate = (m: Measured): string =>
  m.error !== null ? "throws" : Math.round(m.perSecond).toLocaleString("en-US");
const ratioText = (r: number): string => `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}x`;
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

console.log(
  `churn model bench: node ${process.version}, ${cpus().length} cpus, ` +
    `load ${(await import("node:os"))
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ` +
    `current ${NEW_BUDGET_MS} ms per cell after warm-up, baseline time-boxed to ${BASELINE_BUDGET_MS} ms`,
);
console.log(
  `members per case: ${young.length} (round-robin); target >= ${TARGET_PER_S.toLocaleString("en-US")} calls/s`,
);
console.log();
const header = `${pad("function", 18)} ${pad("case", 24)} ${lpad("current/s", 12)} ${lpad("before/s", 12)} ${lpad("speedup", 9)} ${lpad("max rel diff", 13)}  target`;
console.log(header);
console.log("-".repeat(header.length));
const errors: string[] = [];
let missed = 0;
for (const f of fns) {
  for (const c of cases) {
    const now = measure(c, f.current, NEW_BUDGET_MS, 200);
    const before = measure(c, f.baseline, BASELINE_BUDGET_MS, 0);
    const speedup =
      now.error === null && before.error === null ? ratioText(now.perSecond / before.perSecond) : "-";
    const diff = maxRelDiff(c, f.current, f.baseline);
    const ok = now.error === null && now.perSecond >= TARGET_PER_S;
    if (!ok) missed++;
    console.log(
      `${pad(f.name, 18)} ${pad(c.name, 24)} ${lpad(fmtRate(now), 12)} ${lpad(fmtRate(before), 12)} ${lpad(speedup, 9)} ${lpad(Number.isNaN(diff) ? "-" : diff.toExponential(1), 13)}  ${ok ? "ok" : "MISSED"}`,
    );
    if (now.error !== null) errors.push(`current ${f.name} / ${c.name}: ${now.error}`);
    if (before.error !== null) errors.push(`before  ${f.name} / ${c.name}: ${before.error}`);
  }
}
console.log();
for (const e of errors) console.log(e);
console.log(missed === 0 ? "all cells meet the target" : `${missed} cell(s) below ${TARGET_PER_S} calls/s`);
