// BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
// Pareto/NBD Model", Marketing Science 24(2). While alive a member buys at Poisson rate λ ~ Gamma(r, α);
// after each repeat purchase the member drops out with probability p ~ Beta(a, b).
// Inputs per member: x repeat purchase days, recency t_x and age T in one time unit (weeks by default).

import { type NelderMeadOptions, nelderMead } from "./optimize.ts";
import { hyp2f1, lgamma, logAddExp, logistic } from "./special.ts";

export interface BgNbdParams {
  readonly r: number;
  readonly alpha: number;
  readonly a: number;
  readonly b: number;
}

export interface BgNbdObservation {
  readonly x: number;
  readonly tx: number;
  readonly T: number;
  /** Number of members with this (x, t_x, T); 1 when absent. */
  readonly weight?: number;
}

export interface WeightedObservation {
  readonly x: number;
  readonly tx: number;
  readonly T: number;
  readonly weight: number;
}

function assertObservation(o: BgNbdObservation): void {
  const { x, tx, T } = o;
  const w = o.weight ?? 1;
  const ok =
    Number.isInteger(x) &&
    x >= 0 &&
    Number.isFinite(tx) &&
    Number.isFinite(T) &&
    tx >= 0 &&
    tx <= T &&
    (x > 0 || tx === 0) &&
    Number.isFinite(w) &&
    w >= 0;
  if (!ok) throw new RangeError(`invalid BG/NBD observation ${JSON.stringify(o)}`);
}

/**
 * Sufficient statistics: members with identical (x, t_x, T) collapse into one weighted row. Day-based
 * features take few distinct values, so a population refit touches far fewer rows than members.
 */
export function groupObservations(observations: Iterable<BgNbdObservation>): WeightedObservation[] {
  const groups = new Map<string, { x: number; tx: number; T: number; weight: number }>();
  for (const o of observations) {
    assertObservation(o);
    const key = `${o.x}|${o.tx}|${o.T}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { x: o.x, tx: o.tx, T: o.T, weight: o.weight ?? 1 });
    else g.weight += o.weight ?? 1;
  }
  // Stable order makes the fit independent of input order.
  return [...groups.values()].sort((p, q) => p.x - q.x || p.tx - q.tx || p.T - q.T);
}

interface Compiled {
  readonly distinctX: number[];
  readonly xIndex: Int32Array;
  readonly x: Float64Array;
  /** Distinct values of t_x and T together (day-based, so a few hundred) and each row's index into them. */
  readonly ages: Float64Array;
  readonly txIndex: Int32Array;
  readonly TIndex: Int32Array;
  readonly w: Float64Array;
  readonly totalWeight: number;
}

function compile(observations: Iterable<BgNbdObservation>): Compiled {
  const rows = groupObservations(observations);
  const distinctX = [...new Set(rows.map((r) => r.x))].sort((p, q) => p - q);
  const pos = new Map(distinctX.map((v, i) => [v, i]));
  const n = rows.length;
  const ages = [...new Set(rows.flatMap((r) => [r.tx, r.T]))].sort((p, q) => p - q);
  const agePos = new Map(ages.map((v, i) => [v, i]));
  const c: Compiled = {
    distinctX,
    xIndex: new Int32Array(n),
    x: new Float64Array(n),
    ages: Float64Array.from(ages),
    txIndex: new Int32Array(n),
    TIndex: new Int32Array(n),
    w: new Float64Array(n),
    totalWeight: 0,
  };
  let total = 0;
  rows.forEach((r, i) => {
    c.xIndex[i] = pos.get(r.x) ?? 0;
    c.x[i] = r.x;
    c.txIndex[i] = agePos.get(r.tx) ?? 0;
    c.TIndex[i] = agePos.get(r.T) ?? 0;
    c.w[i] = r.weight;
    total += r.weight;
  });
  return { ...c, totalWeight: total };
}

// Section 7 of the paper, in log space:
//   ln L = A1 + A2 + ln(e^A3 + [x>0] e^A4)
//   A1 = lnΓ(r+x) − lnΓ(r) + r ln α,  A2 = ln B(a, b+x) − ln B(a, b)
//   A3 = −(r+x) ln(α+T),  A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x)
// The gamma terms and ln(b+x−1) depend on x only, ln(α+t) on t only: each is computed once per
// distinct value (the same expressions, so the same bits), leaving one exp and one log1p per row.
function compiledLogLikelihood(p: BgNbdParams, c: Compiled): number {
  const { r, alpha, a, b } = p;
  if (!(r > 0 && alpha > 0 && a > 0 && b > 0)) return Number.NEGATIVE_INFINITY;
  const constant = -lgamma(r) + r * Math.log(alpha) + lgamma(a + b) - lgamma(b);
  const perX = c.distinctX.map((x) => constant + lgamma(r + x) + lgamma(b + x) - lgamma(a + b + x));
  const logA = Math.log(a);
  const logB = c.distinctX.map((x) => (x > 0 ? Math.log(b + x - 1) : 0));
  const logAge = new Float64Array(c.ages.length);
  for (let k = 0; k < c.ages.length; k++) logAge[k] = Math.log(alpha + c.ages[k]!);
  let ll = 0;
  for (let i = 0; i < c.w.length; i++) {
    const x = c.x[i]!;
    const xi = c.xIndex[i]!;
    const a3 = -(r + x) * logAge[c.TIndex[i]!]!;
    const tail = x > 0 ? logAddExp(a3, logA - logB[xi]! - (r + x) * logAge[c.txIndex[i]!]!) : a3;
    ll += c.w[i]! * (perX[xi]! + tail);
  }
  return ll;
}

/** Total (weighted) log-likelihood of the population. */
export function bgNbdLogLikelihood(params: BgNbdParams, observations: Iterable<BgNbdObservation>): number {
  return compiledLogLikelihood(params, compile(observations));
}

export interface BgNbdFitOptions {
  /** L2 penalty on the parameters added to the mean negative log-likelihood (as in `lifetimes`). */
  readonly penalizer?: number;
  /** Starting point; all ones by default. */
  readonly initial?: BgNbdParams;
  readonly optimizer?: NelderMeadOptions;
}

export interface BgNbdFit {
  readonly params: BgNbdParams;
  /** Unpenalised total log-likelihood at the optimum. */
  readonly logLikelihood: number;
  readonly members: number;
  /** Distinct (x, t_x, T) rows actually evaluated. */
  readonly groups: number;
  readonly iterations: number;
  readonly evaluations: number;
  readonly converged: boolean;
}

const fromLog = (v: readonly number[]): BgNbdParams => ({
  r: Math.exp(v[0] ?? 0),
  alpha: Math.exp(v[1] ?? 0),
  a: Math.exp(v[2] ?? 0),
  b: Math.exp(v[3] ?? 0),
});

/** Maximum-likelihood fit over log-parameters, so r, α, a, b stay positive without constraints. */
export function fitBgNbd(observations: Iterable<BgNbdObservation>, options: BgNbdFitOptions = {}): BgNbdFit {
  const c = compile(observations);
  if (c.totalWeight <= 0) throw new RangeError("fitBgNbd: no members to fit");
  const penalizer = options.penalizer ?? 0;
  const init = options.initial ?? { r: 1, alpha: 1, a: 1, b: 1 };
  const start = [init.r, init.alpha, init.a, init.b].map(Math.log);
  // Mean rather than total so tolerances and the penalty do not depend on population size.
  const objective = (v: readonly number[]): number => {
    const p = fromLog(v);
    const penalty = penalizer * (p.r ** 2 + p.alpha ** 2 + p.a ** 2 + p.b ** 2);
    return -compiledLogLikelihood(p, c) / c.totalWeight + penalty;
  };
  const res = nelderMead(objective, start, { fTol: 1e-12, xTol: 1e-8, ...options.optimizer });
  const params = fromLog(res.x);
  return {
    params,
    logLikelihood: compiledLogLikelihood(params, c),
    members: c.totalWeight,
    groups: c.w.length,
    iterations: res.iterations,
    evaluations: res.evaluations,
    converged: res.converged,
  };
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) (Fader, Hardie & Lee,
 * note 021). A member with no repeat purchase cannot have dropped out yet under the model: 1.
 */
export function probabilityAlive(p: BgNbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  const logOdds = Math.log(p.a / (p.b + x - 1)) + (p.r + x) * Math.log((p.alpha + T) / (p.alpha + tx));
  return logistic(-logOdds);
}

/**
 * E[Y(t) | x, t_x, T]: expected repeat purchases in the next t units (paper, eq. 10):
 *   (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)] · P(alive),
 *   z = t/(α+T+t).
 * Like `lifetimes` we use Euler's transformation 2F1(A,B;C;z) = (1−z)^(C−A−B) 2F1(C−A, C−B; C; z), here
 * always: the bracket becomes 1 − (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z), whose parameters do not
 * grow with x, so the series neither overflows for heavy buyers nor needs many terms to get started.
 */
export function expectedPurchases(p: BgNbdParams, t: number, x: number, tx: number, T: number): number {
  if (!(t >= 0)) throw new RangeError(`horizon must be >= 0, got ${t}`);
  if (t === 0) return 0;
  // The formula is 0/0 at a = 1; the limit is approached symmetrically.
  if (Math.abs(p.a - 1) < 1e-7) {
    const h = 1e-5;
    return (
      (expectedPurchases({ ...p, a: 1 + h }, t, x, tx, T) +
        expectedPurchases({ ...p, a: 1 - h }, t, x, tx, T)) /
      2
    );
  }
  const { r, alpha, a, b } = p;
  const z = t / (alpha + T + t);
  const c = a + b + x - 1;
  const series = hyp2f1(a + b - 1 - r, a - 1, c, z);
  const bracket = 1 - Math.exp((a - 1) * Math.log1p(-z)) * series;
  return (c / (a - 1)) * bracket * probabilityAlive(p, x, tx, T);
}

/** E[X(t)] for a member just acquired (paper, eq. 9): the conditional formula at x = t_x = T = 0. */
export function expectedPurchasesUnconditional(p: BgNbdParams, t: number): number {
  return expectedPurchases(p, t, 0, 0, 0);
}
