// Exact decimal arithmetic for money and FX rates. Everything is BigInt on integer units;
// a float never touches an amount.

/** half-even (banker's) is the default; half-up rounds halves away from zero; down truncates toward zero. */
export type RoundingMode = "half-even" | "half-up" | "down";

export const ROUNDING_MODES: readonly RoundingMode[] = ["half-even", "half-up", "down"];

/** value = units / 10^scale. */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

// Digits cap: a rate or amount longer than this is configuration or input gone wrong.
const DECIMAL_RE = /^(\d{1,30})(?:\.(\d{1,30}))?$/;

/** Parses a non-negative plain decimal ("12", "1.0832", "0.00"); no sign, exponent or spaces. */
export function parseDecimal(text: string): Decimal | null {
  const m = DECIMAL_RE.exec(text);
  if (!m) return null;
  const intPart = m[1] ?? "0";
  const frac = m[2] ?? "";
  return { units: BigInt(intPart + frac), scale: frac.length };
}

/** Canonical text: no leading zeros, no trailing fractional zeros ("1.0800" -> "1.08", "1.0" -> "1"). */
export function formatDecimal(d: Decimal): string {
  const negative = d.units < 0n;
  let digits = (negative ? -d.units : d.units).toString();
  let scale = d.scale;
  while (scale > 0 && digits.endsWith("0") && digits.length > 1) {
    digits = digits.slice(0, -1);
    scale--;
  }
  if (digits === "0") return "0";
  if (scale > 0) {
    digits = digits.padStart(scale + 1, "0");
    digits = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

export function pow10(n: number): bigint {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`pow10 needs a non-negative integer, got ${n}`);
  return 10n ** BigInt(n);
}

/** num / den rounded with the given mode; den must be positive. Negative num rounds symmetrically. */
export function divRound(num: bigint, den: bigint, mode: RoundingMode = "half-even"): bigint {
  if (den <= 0n) throw new RangeError("divRound needs a positive denominator");
  if (num < 0n) return -divRound(-num, den, mode);
  const q = num / den;
  const r = num % den;
  if (r === 0n || mode === "down") return q;
  const twice = 2n * r;
  if (twice > den) return q + 1n;
  if (twice < den) return q;
  if (mode === "half-up") return q + 1n;
  return q % 2n === 0n ? q : q + 1n;
}

/**
 * A decimal money string in major units ("11.77") to minor units of a currency with the
 * given exponent, exactly: more fractional digits than the exponent allows is an error, not
 * a rounding.
 */
export function majorToMinor(text: string, exponent: number): bigint | null {
  const d = parseDecimal(text);
  if (!d || d.scale > exponent) return null;
  return d.units * pow10(exponent - d.scale);
}

export function isSafeMinor(v: bigint): boolean {
  return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER);
}
