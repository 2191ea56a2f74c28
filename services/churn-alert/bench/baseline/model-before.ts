// BASELINE FOR bench/model.bench.ts ONLY: not used by the service.
//
// Verbatim copies (only the exports renamed with a `baseline` prefix, and the imports folded in) of
// hyp2f1, logistic, probabilityAlive and expectedPurchases from src/model/special.ts and
// src/model/bgnbd.ts as they were before "Churn model: robust special functions" (commit 92fdec3).
// Kept so that `pnpm bench:churn-model` measures the old and the new implementation in the same run
// on the same machine, rather than against figures from another day or machine. Do not fix bugs here:
// the old behaviour (30–50 ms a call at a degenerate fit, a RangeError for b > 2e6) is the point.

import type { BgNbdParams } from "../../src/model/index.ts";

/** 1 / (1 + e^−u), stable for large |u|. */
function logistic(u: number): number {
  if (u >= 0) return 1 / (1 + Math.exp(-u));
  const e = Math.exp(u);
  return e / (1 + e);
}

interface Hyp2f1Options {
  /** Hard cap on series terms; z close to 1 needs about ln(eps)/ln(z) terms. */
  readonly maxTerms?: number;
  readonly relTol?: number;
}

/**
 * Gauss hypergeometric 2F1(a, b; c; z) by its power series, for −1 < z < 1 (c not a non-positive
 * integer). Stops once a geometric bound on the remaining tail is below relTol·|sum|; the bound uses
 * max(|ratio|, |z|) because the term ratio tends to z; no stop while n is below the parameters. Throws if the cap is reached, rather than
 * returning a truncated value.
 */
export function baselineHyp2f1(
  a: number,
  b: number,
  c: number,
  z: number,
  options: Hyp2f1Options = {},
): number {
  const maxTerms = options.maxTerms ?? 2_000_000;
  const relTol = options.relTol ?? 1e-15;
  if (!(z > -1 && z < 1)) throw new RangeError(`hyp2f1: series needs |z| < 1, got z=${z}`);
  if (c <= 0 && Number.isInteger(c)) throw new RangeError("hyp2f1: c must not be a non-positive integer");
  if (z === 0) return 1;
  let term = 1;
  let sum = 1;
  const absZ = Math.abs(z);
  // Before n passes the parameters the ratios can still grow (e.g. after a + n crosses 0).
  const transient = Math.max(Math.abs(a), Math.abs(b), Math.abs(c));
  for (let n = 0; n < maxTerms; n++) {
    const ratio = (((a + n) * (b + n)) / ((c + n) * (n + 1))) * z;
    term *= ratio;
    sum += term;
    if (term === 0) return sum;
    if (!Number.isFinite(sum)) throw new RangeError("hyp2f1: series overflowed");
    const rho = Math.max(Math.abs(ratio), absZ);
    if (n >= transient && rho < 1 && (Math.abs(term) * rho) / (1 - rho) <= relTol * Math.abs(sum)) return sum;
  }
  throw new RangeError(`hyp2f1: no convergence within ${maxTerms} terms (a=${a}, b=${b}, c=${c}, z=${z})`);
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) (Fader, Hardie & Lee,
 * note 021). A member with no repeat purchase cannot have dropped out yet under the model: 1.
 */
export function baselineProbabilityAlive(p: BgNbdParams, x: number, tx: number, T: number): number {
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
export function baselineExpectedPurchases(
  p: BgNbdParams,
  t: number,
  x: number,
  tx: number,
  T: number,
): number {
  if (!(t >= 0)) throw new RangeError(`horizon must be >= 0, got ${t}`);
  if (t === 0) return 0;
  // The formula is 0/0 at a = 1; the limit is approached symmetrically.
  if (Math.abs(p.a - 1) < 1e-7) {
    const h = 1e-5;
    return (
      (baselineExpectedPurchases({ ...p, a: 1 + h }, t, x, tx, T) +
        baselineExpectedPurchases({ ...p, a: 1 - h }, t, x, tx, T)) /
      2
    );
  }
  const { r, alpha, a, b } = p;
  const z = t / (alpha + T + t);
  const c = a + b + x - 1;
  const series = baselineHyp2f1(a + b - 1 - r, a - 1, c, z);
  const bracket = 1 - Math.exp((a - 1) * Math.log1p(-z)) * series;
  return (c / (a - 1)) * bracket * baselineProbabilityAlive(p, x, tx, T);
}
