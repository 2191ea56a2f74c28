import type { Rational, Rounding } from "./types.ts";

// Exact integer/rational arithmetic for points. Floats never touch a points value: every
// award is floor/ceil/half-up/half-even of an exact rational, computed with numbers while
// the intermediate product is far from 2^53 and with BigInt otherwise.

const FAST_LIMIT = 2 ** 50;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A points amount computed exactly (as a bigint, or as a sum of numbers) lies outside
 * ±Number.MAX_SAFE_INTEGER: as a number it would be silently wrong, so it is refused. Not
 * retriable: the same input computes the same amount.
 */
export class AmountOutOfRangeError extends Error {
  readonly retriable = false;
  readonly code = "AMOUNT_OUT_OF_RANGE";
  constructor(
    /** The exact value, as decimal text. */
    readonly value: string,
    /** What was being computed, e.g. "base award of rule r1". */
    readonly where: string,
  ) {
    super(`${where}: ${value} is outside ±${Number.MAX_SAFE_INTEGER}`);
    this.name = "AmountOutOfRangeError";
  }
}

/** The bigint as a number, or AmountOutOfRangeError: never a rounded number. */
export function toSafePoints(big: bigint, where: string): number {
  if (big > MAX_SAFE || big < -MAX_SAFE) throw new AmountOutOfRangeError(big.toString(), where);
  return Number(big);
}

/** a + b for safe integers, or AmountOutOfRangeError when the sum is not a safe integer. */
export function addPoints(a: number, b: number, where: string): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) throw new AmountOutOfRangeError((BigInt(a) + BigInt(b)).toString(), where);
  return s;
}

const DECIMAL_RE = /^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,6}))?$/;

function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}

function gcdBig(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}

export function reduce(num: number, den: number): Rational {
  const g = gcd(num, den) || 1;
  return { num: num / g, den: den / g };
}

/** "1.25" -> 5/4. Null when the text is not a plain non-negative decimal (no exponent, no sign). */
export function parseDecimal(text: string): Rational | null {
  const m = DECIMAL_RE.exec(text);
  if (m === null) return null;
  const frac = m[2] ?? "";
  const den = 10 ** frac.length;
  const num = Number((m[1] ?? "0") + frac);
  if (!Number.isSafeInteger(num)) return null;
  return reduce(num, den);
}

export const MAX_RATIONAL_PART = 1_000_000_000;

/** Accepts a decimal string or {numerator, denominator} with positive integer parts ≤ 1e9. */
export function parseRational(value: unknown): Rational | null {
  if (typeof value === "string") return parseDecimal(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const n = (value as Record<string, unknown>).numerator;
    const d = (value as Record<string, unknown>).denominator;
    if (
      typeof n === "number" &&
      typeof d === "number" &&
      Number.isSafeInteger(n) &&
      Number.isSafeInteger(d) &&
      n >= 0 &&
      d > 0 &&
      n <= MAX_RATIONAL_PART &&
      d <= MAX_RATIONAL_PART
    ) {
      return reduce(n, d);
    }
  }
  return null;
}

export function formatRational(r: Rational): string {
  return `${r.num}/${r.den}`;
}

/** Inverse of formatRational ("3/2"); used to read recorded pricing back. */
export function parseRationalText(text: string): { num: bigint; den: bigint } {
  const m = /^([0-9]+)\/([1-9][0-9]*)$/.exec(text);
  if (m === null) throw new Error(`invalid rational "${text}"`);
  return { num: BigInt(m[1] ?? "0"), den: BigInt(m[2] ?? "1") };
}

function roundQR(q: number, r: number, den: number, mode: Rounding): number {
  if (r === 0) return q;
  switch (mode) {
    case "floor":
      return q;
    case "ceil":
      return q + 1;
    case "half-up":
      return 2 * r >= den ? q + 1 : q;
    case "half-even":
      return 2 * r > den || (2 * r === den && q % 2 !== 0) ? q + 1 : q;
  }
}

function roundQRBig(q: bigint, r: bigint, den: bigint, mode: Rounding): bigint {
  if (r === 0n) return q;
  switch (mode) {
    case "floor":
      return q;
    case "ceil":
      return q + 1n;
    case "half-up":
      return 2n * r >= den ? q + 1n : q;
    case "half-even":
      return 2n * r > den || (2n * r === den && q % 2n !== 0n) ? q + 1n : q;
  }
}

/**
 * round(a * num / den) for non-negative safe integers, exact; AmountOutOfRangeError when the
 * result is not a safe integer.
 */
export function mulDivRound(
  a: number,
  num: number,
  den: number,
  mode: Rounding,
  where = "mulDivRound",
): number {
  const p = a * num;
  if (p < FAST_LIMIT && den < FAST_LIMIT) {
    let q = Math.floor(p / den);
    let r = p - q * den;
    // p/den is a rounded float; nudge the quotient so that 0 <= r < den holds exactly.
    if (r < 0) {
      q -= 1;
      r += den;
    } else if (r >= den) {
      q += 1;
      r -= den;
    }
    return roundQR(q, r, den, mode);
  }
  return toSafePoints(mulDivRoundBig(BigInt(a), BigInt(num), BigInt(den), mode), where);
}

export function mulDivRoundBig(a: bigint, num: bigint, den: bigint, mode: Rounding): bigint {
  const p = a * num;
  return roundQRBig(p / den, p % den, den, mode);
}

/** Sum of rationals, reduced; BigInt so that many denominators cannot overflow. */
export function sumRationals(values: readonly Rational[]): { num: bigint; den: bigint } {
  let num = 0n;
  let den = 1n;
  for (const v of values) {
    num = num * BigInt(v.den) + BigInt(v.num) * den;
    den = den * BigInt(v.den);
    const g = gcdBig(num, den) || 1n;
    num /= g;
    den /= g;
  }
  return { num, den };
}

export function bigRationalText(r: { num: bigint; den: bigint }): string {
  return `${r.num}/${r.den}`;
}
