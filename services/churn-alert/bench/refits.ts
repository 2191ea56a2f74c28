// Refits BG/NBD and Gamma-Gamma on the CDNOW master data at weeks 4..78, as a replay does, with the
// default (BFGS) fits and with the previous Nelder–Mead-only path on the same objectives, and compares
// them: evaluations, time, parameters and mean log-likelihood per member.
//   pnpm bench:refits
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type BgNbdFit, type GammaGammaFit, fitBgNbd, fitGammaGamma } from "../src/model/index.ts";

import { datasetDir } from "../test/model/datasets.ts";

const text = readFileSync(join(datasetDir("cdnow"), "CDNOW_master.txt"), "utf8");
const byId = new Map<string, Map<number, number>>();
for (const line of text.split(/\r?\n/)) {
  const f = line.trim().split(/\s+/);
  if (f.length < 4) continue;
  const d = f[1]!;
  const t = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8));
  const m = byId.get(f[0]!) ?? new Map<number, number>();
  m.set(t, (m.get(t) ?? 0) + Math.round(Number(f[3]) * 100));
  byId.set(f[0]!, m);
}
const DAY = 86400000;
const WEEK = 7 * DAY;
const start = Date.UTC(1997, 0, 1);
const optimizer = { maxIterations: 3000, maxRestarts: 3 };

interface Totals {
  ms: number;
  /** CPU time of this process (user + system): less disturbed than wall time by other load. */
  cpuMs: number;
  evals: number;
}
const zero = (): Totals => ({ ms: 0, cpuMs: 0, evals: 0 });
const total = { bg: zero(), gg: zero(), bgNm: zero(), ggNm: zero() };
const worst = {
  bgParam: { value: 0, week: 0 },
  bgLl: { value: Number.NEGATIVE_INFINITY, week: 0 },
  ggParam: { value: 0, week: 0 },
  ggLl: { value: Number.NEGATIVE_INFINITY, week: 0 },
};

function timed<T>(into: Totals, run: () => T, evaluations: (r: T) => number): { result: T; ms: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const result = run();
  const cpu = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  into.ms += ms;
  into.cpuMs += (cpu.user + cpu.system) / 1000;
  into.evals += evaluations(result);
  return { result, ms };
}

const maxRelDiff = (u: Record<string, number>, v: Record<string, number>): number =>
  Math.max(...Object.keys(u).map((k) => Math.abs(u[k]! - v[k]!) / Math.abs(v[k]!)));
/** Mean log-likelihood per member of the Nelder–Mead fit minus that of the new fit (> 0: new is worse). */
const llShortfall = (fit: BgNbdFit | GammaGammaFit, nm: BgNbdFit | GammaGammaFit): number =>
  (nm.logLikelihood - fit.logLikelihood) / fit.members;
const tryGg = (run: () => GammaGammaFit): GammaGammaFit | null => {
  try {
    return run();
  } catch {
    return null; // nobody with a paid repeat purchase yet
  }
};

console.log(
  "week members groups | bg evals ms conv dParam dLL | gg evals ms conv dParam dLL | bg params | gg params",
);
for (let wk = 4; wk <= 78; wk++) {
  const cal = start + wk * WEEK;
  const rows: { x: number; tx: number; T: number }[] = [];
  const gg: { x: number; monetary: number }[] = [];
  for (const m of byId.values()) {
    const days = [...m.keys()].filter((t) => t < cal).sort((a, b) => a - b);
    if (!days.length) continue;
    const x = days.length - 1;
    rows.push({ x, tx: (days[x]! - days[0]!) / WEEK, T: (cal - days[0]!) / WEEK });
    const rep = days.slice(1).reduce((s, t) => s + m.get(t)!, 0);
    gg.push({ x, monetary: x > 0 ? rep / x : 0 });
  }
  const bg = timed(
    total.bg,
    () => fitBgNbd(rows, { penalizer: 0, optimizer }),
    (r) => r.evaluations,
  );
  const g = timed(
    total.gg,
    () => tryGg(() => fitGammaGamma(gg, { optimizer })),
    (r) => r?.evaluations ?? 0,
  );
  const bgNm = timed(
    total.bgNm,
    () => fitBgNbd(rows, { penalizer: 0, optimizer, method: "nelder-mead" }),
    (r) => r.evaluations,
  );
  const gNm = timed(
    total.ggNm,
    () => tryGg(() => fitGammaGamma(gg, { optimizer, method: "nelder-mead" })),
    (r) => r?.evaluations ?? 0,
  );

  const b = bg.result;
  const dBgParam = maxRelDiff({ ...b.params }, { ...bgNm.result.params });
  const dBgLl = llShortfall(b, bgNm.result);
  // Parameters are only determined where the optimum is interior (both fits converged).
  if (b.converged && bgNm.result.converged && dBgParam > worst.bgParam.value)
    worst.bgParam = { value: dBgParam, week: wk };
  if (dBgLl > worst.bgLl.value) worst.bgLl = { value: dBgLl, week: wk };
  let ggCols = "-";
  if (g.result !== null && gNm.result !== null) {
    const dGgParam = maxRelDiff({ ...g.result.params }, { ...gNm.result.params });
    const dGgLl = llShortfall(g.result, gNm.result);
    if (g.result.converged && gNm.result.converged && dGgParam > worst.ggParam.value) {
      worst.ggParam = { value: dGgParam, week: wk };
    }
    if (dGgLl > worst.ggLl.value) worst.ggLl = { value: dGgLl, week: wk };
    ggCols = [
      `${g.result.evaluations}/${gNm.result.evaluations}`,
      `${g.ms.toFixed(1)}/${gNm.ms.toFixed(1)}`,
      `${g.result.converged}/${gNm.result.converged}`,
      dGgParam.toExponential(1),
      dGgLl.toExponential(1),
    ].join(" ");
  }
  console.log(
    wk,
    rows.length,
    b.groups,
    "|",
    `${b.evaluations}/${bgNm.result.evaluations}`,
    `${bg.ms.toFixed(1)}/${bgNm.ms.toFixed(1)}`,
    `${b.converged}/${bgNm.result.converged}`,
    dBgParam.toExponential(1),
    dBgLl.toExponential(1),
    "|",
    ggCols,
    "|",
    JSON.stringify(b.params),
    "|",
    JSON.stringify(g.result?.params),
  );
}
const fmt = (t: Totals) => `ms ${t.ms.toFixed(0)} (cpu ${t.cpuMs.toFixed(0)}) evals ${t.evals}`;
console.log(
  "(columns: new/Nelder–Mead; dParam: max relative parameter difference; dLL: NM minus new, mean per member)",
);
console.log(`bg total ${fmt(total.bg)} | nelder-mead ${fmt(total.bgNm)}`);
console.log(`gg total ${fmt(total.gg)} | nelder-mead ${fmt(total.ggNm)}`);
console.log(
  `worst bg: param ${worst.bgParam.value.toExponential(2)} (week ${worst.bgParam.week}, interior weeks), ` +
    `LL shortfall ${worst.bgLl.value.toExponential(2)} (week ${worst.bgLl.week})`,
);
console.log(
  `worst gg: param ${worst.ggParam.value.toExponential(2)} (week ${worst.ggParam.week}), ` +
    `LL shortfall ${worst.ggLl.value.toExponential(2)} (week ${worst.ggLl.week})`,
);
