// BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
// Pareto/NBD Model", Marketing Science 24(2). While alive a member buys at Poisson rate λ ~ Gamma(r, α);
// after each repeat purchase the member drops out with probability p ~ Beta(a, b).
// Inputs per member: x repeat purchase days, recency t_x and age T in one time unit (weeks by default).

import { ModelNumericError } from "./errors.ts";
import {
  type LogParameterFitOptions,
  type Objective,
  fitLogParameters,
  logParameterObjective,
} from "./optimize.ts";
import { logAddExp, logistic } from "./special.ts";

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
  // Keyed by the numbers themselves (x, then t_x, then T): a population refit groups every
  // member, and building a string key per member was most of the grouping's cost.
  const groups: { x: number; tx: number; T: number; weight: number }[] = [];
  const byX = new Map<
    number,
    Map<number, Map<number, { x: number; tx: number; T: number; weight: number }>>
  >();
  for (const o of observations) {
    assertObservation(o);
    let byTx = byX.get(o.x);
    if (byTx === undefined) {
      byTx = new Map();
      byX.set(o.x, byTx);
    }
    let byT = byTx.get(o.tx);
    if (byT === undefined) {
      byT = new Map();
      byTx.set(o.tx, byT);
    }
    const g = byT.get(o.T);
    if (g === undefined) {
      const row = { x: o.x, tx: o.tx, T: o.T, weight: o.weight ?? 1 };
      byT.set(o.T, row);
      groups.push(row);
    } else g.weight += o.weight ?? 1;
  }
  // Stable order makes the fit independent of input order.
  return groups.sort((p, q) => p.x - q.x || p.tx - q.tx || p.T - q.T);
}

interface Compiled {
  readonly distinctX: number[];
  /** Total weight of the rows with each distinct x. */
  readonly xWeight: Float64Array;
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
    xWeight: new Float64Array(distinctX.length),
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
    c.xWeight[c.xIndex[i]!]! += r.weight;
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
// evaluated in a form without large cancelling terms, because the fit follows flat directions out to
// where the plain form is rounding noise: early in a replay to a → 0, b → ∞ (nobody has visibly dropped
// out; lnΓ(b) reaches 1e5 and more), and with near-homogeneous buying rates to r, α → ∞, where
// r ln α − (r+x) ln(α+T) is the difference of two numbers of size r ln α. With x an integer,
//   ln L = P + ln(e^B3 + [x>0] e^B4),  P = Σ_{j<x} [ln(r+j) + log1p(−a/(a+b+j))]   (A1 + A2 − r ln α)
//   B3 = −r log1p(T/α) − x ln(α+T),  B4 = ln a − ln(b+x−1) − r log1p(t_x/α) − x ln(α+t_x).
// P and ln(b+x−1) depend on x only (P is accumulated upwards through the sorted distinct x: max x terms
// per evaluation), log1p(t/α) and ln(α+t) on t only; that leaves one exp and one log1p per row.
//
// With `gradient` (length 4) the same pass also writes ∂ln L/∂ln θ for θ = (r, α, a, b), the
// log-parameters the fit works in. With s = e^B4/(e^B3 + e^B4), the share of the dropped-out branch,
// and each branch's t (T or t_x), the row terms are
//   ∂/∂ln r: −r log1p(t/α)    ∂/∂ln α: (r t − x α)/(α+t)    (each mixed by 1−s and s)
//   ∂/∂ln a: s                ∂/∂ln b: −s b/(b+x−1)
// and the per-x terms, weighted by the total weight of each distinct x,
//   ∂P/∂ln r = Σ r/(r+j),  ∂P/∂ln a = −Σ a/(a+b+j),  ∂P/∂ln b = Σ ab/((b+j)(a+b+j)).
function compiledLogLikelihood(p: BgNbdParams, c: Compiled, gradient?: number[]): number {
  const { r, alpha, a, b } = p;
  if (!(r > 0 && alpha > 0 && a > 0 && b > 0)) {
    gradient?.fill(Number.NaN);
    return Number.NEGATIVE_INFINITY;
  }
  const nx = c.distinctX.length;
  const perX = new Float64Array(nx);
  // ∂P per distinct x, in log-parameters.
  const dR = new Float64Array(nx);
  const dA = new Float64Array(nx);
  const dB = new Float64Array(nx);
  let sum = 0;
  let sumR = 0;
  let sumA = 0;
  let sumB = 0;
  let j = 0;
  for (let k = 0; k < nx; k++) {
    const x = c.distinctX[k]!;
    for (; j < x; j++) {
      const abj = a + b + j;
      sum += Math.log(r + j) + Math.log1p(-a / abj);
      if (gradient !== undefined) {
        sumR += r / (r + j);
        sumA -= a / abj;
        sumB += (a * b) / ((b + j) * abj);
      }
    }
    perX[k] = sum;
    dR[k] = sumR;
    dA[k] = sumA;
    dB[k] = sumB;
  }
  const logA = Math.log(a);
  const logB = c.distinctX.map((x) => (x > 0 ? Math.log(b + x - 1) : 0));
  const nAges = c.ages.length;
  const logAge = new Float64Array(nAges);
  const log1pAge = new Float64Array(nAges);
  for (let k = 0; k < nAges; k++) {
    logAge[k] = Math.log(alpha + c.ages[k]!);
    log1pAge[k] = Math.log1p(c.ages[k]! / alpha);
  }
  let ll = 0;
  if (gradient === undefined) {
    for (let i = 0; i < c.w.length; i++) {
      const x = c.x[i]!;
      const xi = c.xIndex[i]!;
      const T = c.TIndex[i]!;
      const a3 = -r * log1pAge[T]! - x * logAge[T]!;
      let tail = a3;
      if (x > 0) {
        const t = c.txIndex[i]!;
        tail = logAddExp(a3, logA - logB[xi]! - r * log1pAge[t]! - x * logAge[t]!);
      }
      ll += c.w[i]! * (perX[xi]! + tail);
    }
    return ll;
  }
  // ∂B/∂ln α = r u − x v with u = t/(α+t), v = α/(α+t), per distinct age.
  const u = new Float64Array(nAges);
  const v = new Float64Array(nAges);
  for (let k = 0; k < nAges; k++) {
    u[k] = c.ages[k]! / (alpha + c.ages[k]!);
    v[k] = alpha / (alpha + c.ages[k]!);
  }
  const bOverB = c.distinctX.map((x) => (x > 0 ? b / (b + x - 1) : 0));
  let gR = 0;
  let gAlpha = 0;
  let gA = 0;
  let gB = 0;
  for (let i = 0; i < c.w.length; i++) {
    const x = c.x[i]!;
    const xi = c.xIndex[i]!;
    const w = c.w[i]!;
    const T = c.TIndex[i]!;
    const a3 = -r * log1pAge[T]! - x * logAge[T]!;
    const dAlive = r * u[T]! - x * v[T]!;
    let tail = a3;
    if (x > 0) {
      const t = c.txIndex[i]!;
      const a4 = logA - logB[xi]! - r * log1pAge[t]! - x * logAge[t]!;
      // logAddExp spelled out (same bits) so the branch share comes from the same exp.
      const e = Math.exp(-Math.abs(a3 - a4));
      tail = Math.max(a3, a4) + Math.log1p(e);
      const s = a4 > a3 ? 1 / (1 + e) : e / (1 + e);
      gR -= w * r * (log1pAge[T]! + s * (log1pAge[t]! - log1pAge[T]!));
      gAlpha += w * (dAlive + s * (r * u[t]! - x * v[t]! - dAlive));
      gA += w * s;
      gB -= w * s * bOverB[xi]!;
    } else {
      gR -= w * r * log1pAge[T]!;
      gAlpha += w * dAlive;
    }
    ll += w * (perX[xi]! + tail);
  }
  for (let k = 0; k < nx; k++) {
    const wx = c.xWeight[k]!;
    gR += wx * dR[k]!;
    gA += wx * dA[k]!;
    gB += wx * dB[k]!;
  }
  gradient[0] = gR;
  gradient[1] = gAlpha;
  gradient[2] = gA;
  gradient[3] = gB;
  return ll;
}

/** Total (weighted) log-likelihood of the population. */
export function bgNbdLogLikelihood(params: BgNbdParams, observations: Iterable<BgNbdObservation>): number {
  return compiledLogLikelihood(params, compile(observations));
}

export interface BgNbdFitOptions extends LogParameterFitOptions {
  /** Starting point; all ones by default. */
  readonly initial?: BgNbdParams;
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

const paramsOf = (theta: readonly number[]): BgNbdParams => ({
  r: theta[0] ?? 1,
  alpha: theta[1] ?? 1,
  a: theta[2] ?? 1,
  b: theta[3] ?? 1,
});

function objectiveOf(c: Compiled, penalizer: number): Objective {
  return logParameterObjective(
    (theta, gradient) => compiledLogLikelihood(paramsOf(theta), c, gradient),
    c.totalWeight,
    penalizer,
  );
}

/**
 * The function `fitBgNbd` minimises, over v = (ln r, ln α, ln a, ln b): the mean negative
 * log-likelihood plus `penalizer` · (r² + α² + a² + b²), with its gradient.
 */
export function bgNbdObjective(observations: Iterable<BgNbdObservation>, penalizer = 0): Objective {
  return objectiveOf(compile(observations), penalizer);
}

/**
 * Maximum-likelihood fit over log-parameters, so r, α, a, b stay positive without constraints, by BFGS
 * with the analytic gradient. Where that does not end at an interior optimum (early in a replay nobody
 * has visibly dropped out and the likelihood keeps rising as a/(a+b) → 0: BFGS stalls on the ridge)
 * the previous Nelder–Mead search also runs from the start under `optimizer`'s caps, and the better
 * of the two is kept.
 */
export function fitBgNbd(observations: Iterable<BgNbdObservation>, options: BgNbdFitOptions = {}): BgNbdFit {
  const c = compile(observations);
  if (c.totalWeight <= 0) throw new RangeError("fitBgNbd: no members to fit");
  const init = options.initial ?? { r: 1, alpha: 1, a: 1, b: 1 };
  const start = [init.r, init.alpha, init.a, init.b].map(Math.log);
  const res = fitLogParameters(objectiveOf(c, options.penalizer ?? 0), start, options);
  const params = paramsOf(res.x.map(Math.exp));
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
 * In logs, with ln((α+T)/(α+t_x)) as log1p((T−t_x)/(α+t_x)), so a → 0, b → ∞ and T close to t_x
 * lose nothing to rounding. NaN (never a throw) for parameters outside the model.
 */
export function probabilityAlive(p: BgNbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  const logOdds = Math.log(p.a) - Math.log(p.b + x - 1) + (p.r + x) * Math.log1p((T - tx) / (p.alpha + tx));
  return logistic(-logOdds);
}

export interface ExpectedPurchasesOptions {
  /** Cap on series terms before ModelNumericError `no-convergence`. */
  readonly maxTerms?: number;
}

const EP_REL_TOL = 1e-16;
// Sums are rescaled by 2^−600 when they pass 2^600 (their log scale is kept apart).
const BIG = 2 ** 600;
const TINY = 2 ** -600;
const LOG_BIG = 600 * Math.LN2;

/**
 * E[Y(t) | x, t_x, T]: expected repeat purchases in the next t units (paper, eq. 10):
 *   (a+b+x−1)/(a−1) · [1 − (1−z)^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)] · P(alive),  z = t/(α+T+t).
 *
 * The bracket is a difference of two numbers close to 1 where the fit of an early replay goes
 * (a → 0, b → ∞: the bracket is O(1/b) and the prefactor O(b), so the plain form loses log10(b)
 * digits), and the prefactor is 0/0 at a = 1. Both go away by subtracting the series that the
 * bracket's leading part sums to, in closed form, term by term; what remains is a series of positive
 * terms, with γ = a+b+x−1:
 *
 * (E) from Euler's form 2F1(A, a−1; γ; z)(1−z)^(a−1) with A = a+b−1−r, d = γ−A = r+x and
 *     Σ (a−1)_n z^n/n! = (1−z)^(1−a):
 *       E = (1−z)^(a−1) · Σ_{n≥1} (a)_(n−1)/n! · z^n · M_n · P(alive),
 *       M_n = γ·(1 − (A)_n/(γ)_n),  M_1 = d,  M_(n+1) = (M_n·(A+n) + γ·d)/(γ+n).
 *     Terms do not grow with x; all positive when A > −1 and γ > 0.
 * (O) from the original form with Σ (r+x)_n z^n/n! = (1−z)^(−r−x):
 *       E = (1−z)^(r+x) · Σ_{n≥1} (r+x)_n/n! · z^n · H_n · P(alive),
 *       H_n = γ·((b+x)_n/(γ)_n − 1)/(1−a),  H_1 = 1,  H_(n+1) = (H_n·(b+x+n) + γ)/(γ+n).
 *     All positive for any valid parameters; used where (E) is not (r >= a+b, or γ <= 0), or has
 *     more transient terms (a > max(1, r+x)).
 *
 * (E) has a split form for frequent buyers (A <= γ/2, see eulerSplit) whose terms fall faster.
 * Each series stops when a bound on its remaining tail (see the loops) is below 1e−16 of the sum.
 * Throws ModelNumericError (`domain`, `no-convergence`, `overflow`); never a plain RangeError.
 */
export function expectedPurchases(
  p: BgNbdParams,
  t: number,
  x: number,
  tx: number,
  T: number,
  options: ExpectedPurchasesOptions = {},
): number {
  const { r, alpha, a, b } = p;
  if (
    !(
      r > 0 &&
      alpha > 0 &&
      a > 0 &&
      b > 0 &&
      r < Number.POSITIVE_INFINITY &&
      alpha < Number.POSITIVE_INFINITY &&
      a < Number.POSITIVE_INFINITY &&
      b < Number.POSITIVE_INFINITY
    )
  ) {
    throw new ModelNumericError("domain", `expectedPurchases: invalid parameters ${JSON.stringify(p)}`);
  }
  if (!(t >= 0 && t < Number.POSITIVE_INFINITY))
    throw new ModelNumericError("domain", `horizon must be finite and >= 0, got ${t}`);
  if (
    !(
      x >= 0 &&
      tx >= 0 &&
      T >= 0 &&
      x < Number.POSITIVE_INFINITY &&
      tx < Number.POSITIVE_INFINITY &&
      T < Number.POSITIVE_INFINITY
    )
  ) {
    throw new ModelNumericError("domain", `expectedPurchases: invalid member x=${x}, tx=${tx}, T=${T}`);
  }
  if (t === 0) return 0;
  const maxTerms = options.maxTerms ?? 1_000_000;
  const z = t / (alpha + T + t);
  const g = a + b + x - 1;
  const d = r + x;
  const A = g - d;
  const log1mz = Math.log1p(-z);
  const pAlive = probabilityAlive(p, x, tx, T);
  let value: number;
  if (A >= 0 && A <= g / 2 && a <= Math.max(1, d)) {
    value = Math.exp((a - 1) * log1mz) * g * eulerSplit(a, A, g, z, log1mz, maxTerms) * pAlive;
  } else if (A > -1 && g > 0 && a <= Math.max(1, d)) {
    const [sum, logScale] = eulerSeries(a, A, g, d, z, maxTerms);
    value = Math.exp((a - 1) * log1mz + logScale) * sum * pAlive;
  } else {
    const [sum, logScale] = originalSeries(b + x, g, d, z, maxTerms);
    value = Math.exp(d * log1mz + logScale) * sum * pAlive;
  }
  if (!Number.isFinite(value)) {
    throw new ModelNumericError(
      "overflow",
      `expectedPurchases: not finite for ${JSON.stringify(p)}, t=${t}, x=${x}`,
    );
  }
  return value;
}

function notFinite(n: number, z: number): ModelNumericError {
  return new ModelNumericError("overflow", `expectedPurchases: series not finite after ${n} terms (z=${z})`);
}

function noConvergence(form: string, maxTerms: number, z: number): ModelNumericError {
  return new ModelNumericError(
    "no-convergence",
    `expectedPurchases: series (${form}) did not converge within ${maxTerms} terms (z=${z})`,
  );
}

/**
 * Σ_{n≥1} (a)_(n−1)/n! · z^n · (1 − q_n), q_n = (A)_n/(γ)_n, as U − Q with U = Σ (a)_(n−1)/n! z^n in
 * closed form, ((1−z)^(1−a) − 1)/(a−1) (−ln(1−z) at a = 1), and Q = Σ (a)_(n−1)/n! z^n q_n summed. For
 * 0 <= A <= γ/2, q_n <= 1/2 so Q <= U/2 (at most one bit lost in U − Q), and Q's terms fall faster
 * than the (E) series' by (A)_n/(γ)_n ~ n^−(r+x): the form for frequent buyers. Tail bound: the term
 * ratio z(a+n−1)/(n+1)·(A+n)/(γ+n) is at most ρ = z·max(1, (a+n−1)/(n+1)) from n on (A < γ).
 */
function eulerSplit(a: number, A: number, g: number, z: number, log1mz: number, maxTerms: number): number {
  // U = −ln(1−z) · expm1(y)/y, y = (1−a)·ln(1−z): no 0/0 at a = 1.
  const y = (1 - a) * log1mz;
  const U = -log1mz * (y === 0 ? 1 : Math.expm1(y) / y);
  let term = (z * A) / g;
  let Q = term;
  const zq = z / (1 - z);
  for (let n = 1; n < maxTerms; n++) {
    const q = a <= 2 ? zq : rhoOver(z * Math.max(1, (a + n - 1) / (n + 1)));
    if (term === 0 || (q >= 0 && term * q <= EP_REL_TOL * (U - Q))) return U - Q;
    term *= ((z * (a + n - 1)) / (n + 1)) * ((A + n) / (g + n));
    Q += term;
  }
  throw noConvergence("Euler, split", maxTerms, z);
}

/**
 * Σ_{n≥1} (a)_(n−1)/n! · z^n · M_n as [sum, ln scale]; needs A > −1 and γ > 0, so that A+n, γ+n > 0 for
 * n >= 1. Tail bound after term N: u_(m+1)/u_m = z(a+m−1)/(m+1) is monotone in m towards z, so
 * u_m <= u_N ρ^(m−N) with ρ = z·max(1, (a+N−1)/(N+1)); M grows by (γ−M_m)·d/(γ+m) per step, which
 * (when positive) does not increase with m, so M_m <= M_N + (m−N)Δ, Δ = max(0, (γ−M_N)·d/(γ+N)). Then
 *   tail <= u_N · (M_N ρ/(1−ρ) + Δ ρ/(1−ρ)²).
 */
function eulerSeries(
  a: number,
  A: number,
  g: number,
  d: number,
  z: number,
  maxTerms: number,
): [number, number] {
  let u = z;
  let M = d;
  let sum = u * M;
  let logScale = 0;
  // For a <= 2, (a+n−1)/(n+1) <= 1 for all n >= 1 and ρ is z throughout.
  const zq = z / (1 - z);
  for (let n = 1; n < maxTerms; n++) {
    // M_(n+1) − M_n; added directly while M rises (no cancellation), else by the product form.
    const step = ((g - M) * d) / (g + n);
    const q = a <= 2 ? zq : rhoOver(z * Math.max(1, (a + n - 1) / (n + 1)));
    if (q >= 0 && u * (M * q + Math.max(0, step) * q * (1 + q)) <= EP_REL_TOL * sum) return [sum, logScale];
    u *= (z * (a + n - 1)) / (n + 1);
    M = step >= 0 ? M + step : (M * (A + n) + g * d) / (g + n);
    sum += u * M;
    if (sum > BIG) {
      sum *= TINY;
      u *= TINY;
      logScale += LOG_BIG;
    }
    if (!(sum < Number.POSITIVE_INFINITY)) throw notFinite(n, z);
  }
  throw noConvergence("Euler", maxTerms, z);
}

/** ρ/(1−ρ) for ρ < 1, else −1 (no bound yet). */
const rhoOver = (rho: number): number => (rho < 1 ? rho / (1 - rho) : -1);

/**
 * Σ_{n≥1} (d)_n/n! · z^n · H_n as [sum, ln scale], β = b+x. Tail bound after term N: w_(m+1)/w_m =
 * z(d+m)/(m+1) is monotone in m towards z; H_(m+1)/H_m = ((β+m) + γ/H_m)/(γ+m) does not increase with
 * m (H rises for γ > 0; for γ <= 0 it is below (β+m)/(γ+m), which falls), so every later term ratio
 * is at most ρ = z·max(1, (d+N)/(N+1))·max(1, H_(N+1)/H_N) (for γ <= 0: (β+N)/(γ+N) for the latter),
 * and tail <= term_(N+1) · ρ/(1−ρ).
 */
function originalSeries(beta: number, g: number, d: number, z: number, maxTerms: number): [number, number] {
  let w = d * z;
  let H = 1;
  let sum = w;
  let logScale = 0;
  for (let n = 1; n < maxTerms; n++) {
    const next = (H * (beta + n) + g) / (g + n);
    const hRatio = g > 0 ? next / H : (beta + n) / (g + n);
    w *= (z * (d + n)) / (n + 1);
    H = next;
    const term = w * H;
    sum += term;
    if (sum > BIG) {
      sum *= TINY;
      w *= TINY;
      logScale += LOG_BIG;
    }
    if (!(sum < Number.POSITIVE_INFINITY)) throw notFinite(n, z);
    const rho = z * Math.max(1, (d + n) / (n + 1)) * Math.max(1, hRatio);
    if (rho < 1 && (w * H * rho) / (1 - rho) <= EP_REL_TOL * sum) return [sum, logScale];
  }
  throw noConvergence("original", maxTerms, z);
}

/** E[X(t)] for a member just acquired (paper, eq. 9): the conditional formula at x = t_x = T = 0. */
export function expectedPurchasesUnconditional(p: BgNbdParams, t: number): number {
  return expectedPurchases(p, t, 0, 0, 0);
}
