// Special functions needed by the BTYD models. Plain double precision, no dependencies.

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln|Γ(x)| (Lanczos, g = 7, n = 9; ~1e-15 relative). Poles (x = 0, −1, −2, …) give +Infinity. */
export function lgamma(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum in its accurate range.
    const s = Math.sin(Math.PI * x);
    if (s === 0) return Number.POSITIVE_INFINITY;
    return Math.log(Math.PI / Math.abs(s)) - lgamma(1 - x);
  }
  const y = x - 1;
  let acc = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) acc += (LANCZOS[i] ?? 0) / (y + i);
  const t = y + LANCZOS_G + 0.5;
  return HALF_LOG_2PI + (y + 0.5) * Math.log(t) - t + Math.log(acc);
}

// Asymptotic series ψ(x) ~ ln x − 1/(2x) − Σ B_2k/(2k x^2k), coefficients B_2k/(2k) for k = 1..10. At
// x >= 6 the terms still shrink up to k ≈ 6π and the first omitted one (k = 11) is below 3e-15.
const DIGAMMA_SERIES = [
  1 / 12,
  -1 / 120,
  1 / 252,
  -1 / 240,
  1 / 132,
  -691 / 32760,
  1 / 12,
  -3617 / 8160,
  43867 / 14364,
  -174611 / 6600,
] as const;

/** ψ(x) = d/dx ln Γ(x) for x > 0 (~1e-15 absolute from x ≈ 1 on; NaN for x <= 0). */
export function digamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return x;
  // ψ(x) = ψ(x+1) − 1/x moves x into the range where the series converges fast enough.
  let y = x;
  let shift = 0;
  while (y < 6) {
    shift += 1 / y;
    y += 1;
  }
  const inv2 = 1 / (y * y);
  let series = 0;
  for (let k = DIGAMMA_SERIES.length - 1; k >= 0; k--) series = (series + DIGAMMA_SERIES[k]!) * inv2;
  return Math.log(y) - 0.5 / y - series - shift;
}

/** ln B(a, b). */
export function lbeta(a: number, b: number): number {
  return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/** ln(e^u + e^v) without overflow. */
export function logAddExp(u: number, v: number): number {
  if (u === Number.NEGATIVE_INFINITY) return v;
  if (v === Number.NEGATIVE_INFINITY) return u;
  const m = Math.max(u, v);
  return m + Math.log1p(Math.exp(-Math.abs(u - v)));
}

/** 1 / (1 + e^−u), stable for large |u|. */
export function logistic(u: number): number {
  if (u >= 0) return 1 / (1 + Math.exp(-u));
  const e = Math.exp(u);
  return e / (1 + e);
}

export interface Hyp2f1Options {
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
export function hyp2f1(a: number, b: number, c: number, z: number, options: Hyp2f1Options = {}): number {
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
