// Reference values in 90-digit decimal arithmetic (decimal.js), computed from the textbook formulas
// without any of the transformations the implementation uses, so that a test comparing the two can
// fail: 2F1 by its plain power series, E[Y(t)] by eq. 10 of Fader, Hardie & Lee (2005) as printed
// (the bracket 1 − (…)·2F1 cancels up to log10(b) digits at a degenerate fit, which 90 digits absorb),
// P(alive) by its closed form.

import { Decimal } from "decimal.js";
import type { BgNbdParams } from "../../src/model/index.ts";

export const Dec = Decimal.clone({ precision: 90, rounding: Decimal.ROUND_HALF_EVEN });
type Dec = InstanceType<typeof Dec>;

/** Truncation error target of the reference series, relative to the sum. */
const REF_TOL = new Dec("1e-70");

/**
 * 2F1(a, b; c; z) for |z| < 1 by the power series, summed in 90 digits until a bound on the tail is
 * below 1e-70 of the sum. The bound: past every sign change of a+m, b+m, c+m, the factors
 * (a+m)/(c+m) and (b+m)/(m+1) (or the other pairing) are monotone towards 1, so the later term ratios
 * are at most ρ = |z|·max(1, ·)·max(1, ·), and the tail after a term is at most |term|·ρ/(1−ρ).
 */
export function hyp2f1Ref(a: number, b: number, c: number, z: number): Dec {
  if (!(Math.abs(z) < 1)) throw new Error(`hyp2f1Ref: |z| < 1 only, got ${z}`);
  return hyp2f1RefDec(new Dec(a), new Dec(b), new Dec(c), new Dec(z));
}

/** P(alive | x, t_x, T) = 1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)). */
export function probabilityAliveRef(p: BgNbdParams, x: number, tx: number, T: number): Dec {
  if (x === 0) return new Dec(1);
  const alpha = new Dec(p.alpha);
  const odds = new Dec(p.a)
    .div(new Dec(p.b).plus(x - 1))
    .times(alpha.plus(T).div(alpha.plus(tx)).pow(new Dec(p.r).plus(x)));
  return new Dec(1).div(odds.plus(1));
}

/**
 * E[Y(t) | x, t_x, T] by eq. 10 as printed:
 *   (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)] · P(alive),
 *   z = t/(α+T+t). Needs a ≠ 1.
 */
export function expectedPurchasesRef(p: BgNbdParams, t: number, x: number, tx: number, T: number): Dec {
  const { r, alpha, a, b } = p;
  const aT = new Dec(alpha).plus(T);
  const z = new Dec(t).div(aT.plus(t));
  const g = new Dec(a).plus(b).plus(x - 1);
  const f = hyp2f1RefDec(new Dec(r).plus(x), new Dec(b).plus(x), g, z);
  const power = aT.div(aT.plus(t)).pow(new Dec(r).plus(x));
  const bracket = new Dec(1).minus(power.times(f));
  return g
    .div(new Dec(a).minus(1))
    .times(bracket)
    .times(probabilityAliveRef(p, x, tx, T));
}

function hyp2f1RefDec(A: Dec, B: Dec, C: Dec, Z: Dec, maxTerms = 200_000): Dec {
  if (C.isInteger() && C.lte(0)) throw new Error("hyp2f1Ref: c is a pole");
  const one = new Dec(1);
  const absZ = Z.abs();
  const settled = Math.max(0, -A.toNumber(), -B.toNumber(), -C.toNumber());
  let term = new Dec(1);
  let sum = new Dec(1);
  for (let n = 0; n < maxTerms; n++) {
    term = term
      .times(A.plus(n))
      .times(B.plus(n))
      .div(C.plus(n).times(n + 1))
      .times(Z);
    if (term.isZero()) return sum;
    sum = sum.plus(term);
    const m = n + 1;
    if (m > settled) {
      const maxOne = (v: Dec) => (v.gt(one) ? v : one);
      const p1 = maxOne(A.plus(m).div(C.plus(m))).times(maxOne(B.plus(m).div(m + 1)));
      const p2 = maxOne(B.plus(m).div(C.plus(m))).times(maxOne(A.plus(m).div(m + 1)));
      const rho = absZ.times(p1.lt(p2) ? p1 : p2);
      if (rho.lt(one) && term.abs().times(rho).div(one.minus(rho)).lte(REF_TOL.times(sum.abs()))) return sum;
    }
  }
  throw new Error(`hyp2f1Ref: no convergence in ${maxTerms} terms (a=${A}, b=${B}, c=${C}, z=${Z})`);
}

/** |got − want| / |want|, in double (the reference rounded once). */
export function relError(got: number, want: Dec): number {
  return new Dec(got).minus(want).abs().div(want.abs()).toNumber();
}
