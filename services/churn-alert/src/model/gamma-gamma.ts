// Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV", JMR; Fader & Hardie note 025).
// Each repeat purchase value is Gamma(p, ν) with ν ~ Gamma(q, γ) across members; spend is assumed
// independent of the purchase process. Input per member: x > 0 repeat purchase days and their mean
// value m (first purchase day excluded). Money stays in whatever unit m is given in (minor units here).

import type { BgNbdParams } from "./bgnbd.ts";
import { expectedPurchases } from "./bgnbd.ts";
import {
  type LogParameterFitOptions,
  type Objective,
  fitLogParameters,
  logParameterObjective,
} from "./optimize.ts";
import { digamma, lgamma } from "./special.ts";

export interface GammaGammaParams {
  readonly p: number;
  readonly q: number;
  readonly gamma: number;
}

export interface SpendObservation {
  /** Repeat purchase days. */
  readonly x: number;
  /** Mean value of those days. */
  readonly monetary: number;
  readonly weight?: number;
}

interface SpendRow {
  x: number;
  monetary: number;
  weight: number;
}

/**
 * Rows with the parameter-free logarithms computed once per fit rather than per evaluation, and the
 * distinct x (few: purchase days) so the gamma-function terms, which depend on x only, are computed
 * once per distinct x rather than per row (m takes almost as many values as there are members).
 */
interface CompiledSpend {
  readonly x: Float64Array;
  readonly m: Float64Array;
  readonly logM: Float64Array;
  readonly logX: Float64Array;
  readonly w: Float64Array;
  readonly distinctX: Float64Array;
  readonly xIndex: Int32Array;
  /** Total weight of the rows with each distinct x. */
  readonly xWeight: Float64Array;
  readonly totalWeight: number;
}

function compileSpend(rows: readonly SpendRow[]): CompiledSpend {
  const distinct = [...new Set(rows.map((r) => r.x))].sort((u, v) => u - v);
  const pos = new Map(distinct.map((v, i) => [v, i]));
  const xIndex = Int32Array.from(rows, (r) => pos.get(r.x) ?? 0);
  const xWeight = new Float64Array(distinct.length);
  let total = 0;
  rows.forEach((r, i) => {
    xWeight[xIndex[i]!]! += r.weight;
    total += r.weight;
  });
  return {
    x: Float64Array.from(rows, (r) => r.x),
    m: Float64Array.from(rows, (r) => r.monetary),
    logM: Float64Array.from(rows, (r) => Math.log(r.monetary)),
    logX: Float64Array.from(rows, (r) => Math.log(r.x)),
    w: Float64Array.from(rows, (r) => r.weight),
    distinctX: Float64Array.from(distinct),
    xIndex,
    xWeight,
    totalWeight: total,
  };
}

/** Members usable by the model (x > 0, m > 0), grouped on identical (x, m). Zero-spend members are dropped: ln m is undefined. */
export function groupSpend(observations: Iterable<SpendObservation>): SpendRow[] {
  // Keyed by the numbers themselves (x, then m), not a string built per member.
  const groups: SpendRow[] = [];
  const byX = new Map<number, Map<number, SpendRow>>();
  for (const o of observations) {
    if (!(Number.isInteger(o.x) && o.x >= 0 && Number.isFinite(o.monetary) && o.monetary >= 0)) {
      throw new RangeError(`invalid spend observation ${JSON.stringify(o)}`);
    }
    if (o.x === 0 || o.monetary === 0) continue;
    let byM = byX.get(o.x);
    if (byM === undefined) {
      byM = new Map();
      byX.set(o.x, byM);
    }
    const g = byM.get(o.monetary);
    if (g === undefined) {
      const row = { x: o.x, monetary: o.monetary, weight: o.weight ?? 1 };
      byM.set(o.monetary, row);
      groups.push(row);
    } else g.weight += o.weight ?? 1;
  }
  return groups.sort((u, v) => u.x - v.x || u.monetary - v.monetary);
}

// Per row: ln f = q ln γ − lnΓ(q) + lnΓ(px+q) − lnΓ(px) + (px−1) ln m + px ln x − (px+q) ln(γ+mx), the
// density of the mean of x Gamma(p, ν) values with ν integrated out. The first four terms depend on x
// only (the same expressions, so the same bits as row by row). With `gradient` (length 3) the same pass
// writes ∂ln L/∂ln θ for θ = (p, q, γ), the log-parameters the fit works in:
//   ∂/∂p = x [ψ(px+q) − ψ(px) + ln m + ln x − ln(γ+mx)]
//   ∂/∂q = ψ(px+q) − ψ(q) + ln γ − ln(γ+mx)
//   ∂/∂γ = q/γ − (px+q)/(γ+mx)
function rowsLogLikelihood(params: GammaGammaParams, rows: CompiledSpend, gradient?: number[]): number {
  const { p, q, gamma } = params;
  if (!(p > 0 && q > 0 && gamma > 0)) {
    gradient?.fill(Number.NaN);
    return Number.NEGATIVE_INFINITY;
  }
  const constant = -lgamma(q) + q * Math.log(gamma);
  const { x: xs, m: ms, logM, logX, w, xIndex } = rows;
  const perX = rows.distinctX.map((x) => constant + lgamma(p * x + q) - lgamma(p * x));
  let ll = 0;
  if (gradient === undefined) {
    for (let i = 0; i < w.length; i++) {
      const x = xs[i]!;
      const px = p * x;
      ll +=
        w[i]! *
        (perX[xIndex[i]!]! + (px - 1) * logM[i]! + px * logX[i]! - (px + q) * Math.log(gamma + ms[i]! * x));
    }
    return ll;
  }
  // Row sums: x (ln m + ln x − ln(γ+mx)), −ln(γ+mx) and −(px+q) γ/(γ+mx), each times the weight.
  let gP = 0;
  let gQ = 0;
  let gG = 0;
  for (let i = 0; i < w.length; i++) {
    const x = xs[i]!;
    const px = p * x;
    const wi = w[i]!;
    const spread = gamma + ms[i]! * x;
    const logSpread = Math.log(spread);
    ll += wi * (perX[xIndex[i]!]! + (px - 1) * logM[i]! + px * logX[i]! - (px + q) * logSpread);
    gP += wi * x * (logM[i]! + logX[i]! - logSpread);
    gQ -= wi * logSpread;
    gG -= (wi * (px + q) * gamma) / spread;
  }
  const psiQ = digamma(q);
  const logGamma = Math.log(gamma);
  for (let k = 0; k < rows.distinctX.length; k++) {
    const x = rows.distinctX[k]!;
    const wx = rows.xWeight[k]!;
    const psiPXQ = digamma(p * x + q);
    gP += wx * x * (psiPXQ - digamma(p * x));
    gQ += wx * (psiPXQ - psiQ + logGamma);
  }
  gradient[0] = p * gP;
  gradient[1] = q * gQ;
  gradient[2] = rows.totalWeight * q + gG;
  return ll;
}

export function gammaGammaLogLikelihood(
  params: GammaGammaParams,
  observations: Iterable<SpendObservation>,
): number {
  return rowsLogLikelihood(params, compileSpend(groupSpend(observations)));
}

export interface GammaGammaFitOptions extends LogParameterFitOptions {
  readonly initial?: GammaGammaParams;
}

export interface GammaGammaFit {
  readonly params: GammaGammaParams;
  readonly logLikelihood: number;
  /** Members used (x > 0 and m > 0). */
  readonly members: number;
  readonly iterations: number;
  readonly evaluations: number;
  readonly converged: boolean;
}

const paramsOf = (theta: readonly number[]): GammaGammaParams => ({
  p: theta[0] ?? 1,
  q: theta[1] ?? 1,
  gamma: theta[2] ?? 1,
});

function objectiveOf(rows: CompiledSpend, penalizer: number): Objective {
  return logParameterObjective(
    (theta, gradient) => rowsLogLikelihood(paramsOf(theta), rows, gradient),
    rows.totalWeight,
    penalizer,
  );
}

/**
 * The function `fitGammaGamma` minimises, over v = (ln p, ln q, ln γ): the mean negative
 * log-likelihood plus `penalizer` · (p² + q² + γ²), with its gradient.
 */
export function gammaGammaObjective(observations: Iterable<SpendObservation>, penalizer = 0): Objective {
  return objectiveOf(compileSpend(groupSpend(observations)), penalizer);
}

/**
 * Maximum-likelihood fit over log-parameters: BFGS with the analytic gradient, settled against
 * Nelder–Mead where it does not end at an interior optimum, as `fitBgNbd`.
 */
export function fitGammaGamma(
  observations: Iterable<SpendObservation>,
  options: GammaGammaFitOptions = {},
): GammaGammaFit {
  const rows = groupSpend(observations);
  const compiled = compileSpend(rows);
  const members = compiled.totalWeight;
  if (members <= 0) throw new RangeError("fitGammaGamma: no member with x > 0 and positive spend");
  // γ is on the money scale, so start it at the mean spend rather than at 1.
  const meanSpend = rows.reduce((s, r) => s + r.weight * r.monetary, 0) / members;
  const init = options.initial ?? { p: 1, q: 1, gamma: meanSpend };
  const res = fitLogParameters(
    objectiveOf(compiled, options.penalizer ?? 0),
    [Math.log(init.p), Math.log(init.q), Math.log(init.gamma)],
    options,
  );
  const params = paramsOf(res.x.map(Math.exp));
  return {
    params,
    logLikelihood: rowsLogLikelihood(params, compiled),
    members,
    iterations: res.iterations,
    evaluations: res.evaluations,
    converged: res.converged,
  };
}

/**
 * E[M | p, q, γ, x, m] = p(γ + x·m) / (p·x + q − 1): a weighted mean of the population mean pγ/(q−1)
 * and the member's own mean, leaning on the member's as x grows. With x = 0 it is the population mean.
 */
export function expectedAverageValue(params: GammaGammaParams, x: number, monetary: number): number {
  const { p, q, gamma } = params;
  if (!(q > 1)) throw new RangeError(`expected spend is undefined for q <= 1 (q=${q})`);
  return (p * (gamma + x * monetary)) / (p * x + q - 1);
}

export interface ClvOptions {
  /** Length of one discounting period in model time units (weeks: 52/12 ≈ 4.33 for months). */
  readonly periodLength: number;
  /** Number of periods in the horizon. */
  readonly periods: number;
  /** Discount rate per period, e.g. 0.01 for 1 % a month. */
  readonly discountRate: number;
}

export interface ClvMember {
  readonly x: number;
  readonly tx: number;
  readonly T: number;
  readonly monetary: number;
}

/**
 * Discounted customer lifetime value over `periods` periods. Discretisation (as in `lifetimes`):
 * the purchases expected in period i, E[Y(i·L)] − E[Y((i−1)·L)] from BG/NBD, are valued at the
 * Gamma-Gamma expected average value and discounted by (1 + d)^i, i.e. as if paid at the end of
 * period i. The result is in the unit of `monetary`.
 */
export function customerLifetimeValue(
  bg: BgNbdParams,
  gg: GammaGammaParams,
  member: ClvMember,
  options: ClvOptions,
): number {
  const { periodLength, periods, discountRate } = options;
  if (!(periodLength > 0) || !Number.isInteger(periods) || periods < 0 || !(discountRate > -1)) {
    throw new RangeError(`invalid CLV options ${JSON.stringify(options)}`);
  }
  const value = expectedAverageValue(gg, member.x, member.monetary);
  let clv = 0;
  let previous = 0;
  for (let i = 1; i <= periods; i++) {
    const cumulative = expectedPurchases(bg, i * periodLength, member.x, member.tx, member.T);
    clv += (value * (cumulative - previous)) / (1 + discountRate) ** i;
    previous = cumulative;
  }
  return clv;
}
