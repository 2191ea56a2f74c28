// Special functions needed by the BTYD models. Plain double precision, no dependencies.

import { ModelNumericError } from "./errors.ts";

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
  /** Hard cap on series terms; z close to 1 needs about ln(relTol)/ln(z) terms. */
  readonly maxTerms?: number;
  /** Bound on the truncation error relative to the sum (the rounding of the sum comes on top). */
  readonly relTol?: number;
}

/**
 * Gauss hypergeometric 2F1(a, b; c; z) for real z < 1 (c not a non-positive integer).
 *
 * For 0 <= z < 1 the power series is summed directly; for z < 0 Pfaff's transformation
 *   2F1(a, b; c; z) = (1−z)^(−a) · 2F1(a, c−b; c; z/(z−1))   (or the same with a and b swapped)
 * moves the argument to w = z/(z−1) in (0, 1) (for −1 <= z < 0 into (0, 1/2]), where the terms no
 * longer alternate in sign through z.
 *
 * Stopping rule: once n is past every sign change of a+n, b+n, c+n, each of (a+m)/(c+m) and
 * (b+m)/(1+m) is monotone in m and tends to 1, so all later term ratios are at most
 *   ρ = |z| · max(1, (a+n)/(c+n)) · max(1, (b+n)/(n+1))
 * (or the same with a and b swapped, whichever is smaller),
 * and with ρ < 1 the tail after the current term is at most |term|·ρ/(1−ρ). The series ends when that
 * bound is below relTol·|sum|: on relative contribution, so terms that underflow (to a subnormal or
 * to 0) end it too, and huge parameters cost nothing when their ratios are already below |z|.
 * Throws ModelNumericError: `domain` (z >= 1, NaN, c a pole), `overflow`, `no-convergence` (cap).
 */
export function hyp2f1(a: number, b: number, c: number, z: number, options: Hyp2f1Options = {}): number {
  const maxTerms = options.maxTerms ?? 2_000_000;
  const relTol = options.relTol ?? 1e-16;
  if (!(Number.isFinite(a) && Number.isFinite(b) && Number.isFinite(c))) {
    throw new ModelNumericError("domain", `hyp2f1: parameters must be finite (a=${a}, b=${b}, c=${c})`);
  }
  if (!(z < 1) || Number.isNaN(z) || z === Number.NEGATIVE_INFINITY) {
    throw new ModelNumericError("domain", `hyp2f1: needs finite z < 1, got z=${z}`);
  }
  if (c <= 0 && Number.isInteger(c)) {
    throw new ModelNumericError("domain", `hyp2f1: c must not be a non-positive integer (c=${c})`);
  }
  if (z === 0 || a === 0 || b === 0) return 1;
  if (z >= 0) return hyp2f1Series(a, b, c, z, maxTerms, relTol);
  // Pfaff: of the two forms take the one whose new parameter is smaller (fewer transient terms).
  const w = z / (z - 1);
  const swap = Math.abs(c - a) + Math.abs(b) < Math.abs(c - b) + Math.abs(a);
  const [p, q] = swap ? [b, c - a] : [a, c - b];
  const series = hyp2f1Series(p, q, c, w, maxTerms, relTol);
  const scale = Math.exp(-p * Math.log1p(-z));
  const value = scale * series;
  if (!Number.isFinite(value)) {
    throw new ModelNumericError("overflow", `hyp2f1: result overflows (a=${a}, b=${b}, c=${c}, z=${z})`);
  }
  return value;
}

/** The power series for 0 <= z < 1 (see hyp2f1). */
function hyp2f1Series(a: number, b: number, c: number, z: number, maxTerms: number, relTol: number): number {
  let term = 1;
  let sum = 1;
  // Past this index a+n, b+n and c+n keep their signs (all positive).
  const settled = Math.max(0, -a, -b, -c);
  for (let n = 0; n < maxTerms; n++) {
    term *= (((a + n) * (b + n)) / ((c + n) * (n + 1))) * z;
    if (term === 0) return sum;
    sum += term;
    if (!Number.isFinite(sum)) {
      throw new ModelNumericError("overflow", `hyp2f1: series overflowed (a=${a}, b=${b}, c=${c}, z=${z})`);
    }
    // `term` is term m = n+1; the ratios still to come are those of m, m+1, …
    const m = n + 1;
    if (m > settled) {
      // Either pairing of the numerator's factors with (c+m) and (1+m) gives a bound; take the tighter.
      const rho =
        z *
        Math.min(
          Math.max(1, (a + m) / (c + m)) * Math.max(1, (b + m) / (m + 1)),
          Math.max(1, (b + m) / (c + m)) * Math.max(1, (a + m) / (m + 1)),
        );
      if (rho < 1) {
        const tail = (Math.abs(term) * rho) / (1 - rho);
        if (tail <= relTol * Math.abs(sum) || tail < Number.MIN_VALUE) return sum;
      }
    }
  }
  throw new ModelNumericError(
    "no-convergence",
    `hyp2f1: no convergence within ${maxTerms} terms (a=${a}, b=${b}, c=${c}, z=${z})`,
  );
}
