// Effective-dated FX rates and exact minor-unit conversion.
//
// Config: { baseCurrency: "USD", rounding?: "half-even", rates: [{ currency: "EUR",
// effectiveFrom: "2024-01-01", rate: "1.0832" }] } where rate = base units per 1 unit of the
// currency (1 EUR = 1.0832 USD). effectiveFrom is a date (00:00 UTC) or an ISO date-time with
// offset. The rate used for an event is the latest one whose effectiveFrom <= the rate time.

import { z } from "zod";
import { isCurrency, minorUnits } from "./currencies.ts";
import {
  type Decimal,
  ROUNDING_MODES,
  type RoundingMode,
  divRound,
  formatDecimal,
  parseDecimal,
  pow10,
} from "./money.ts";
import { isValidDate, parseIsoTimestamp } from "./timestamps.ts";

export interface FxRateConfig {
  readonly currency: string;
  readonly effectiveFrom: string;
  readonly rate: string;
}

export interface FxConfig {
  readonly baseCurrency: string;
  readonly rounding?: RoundingMode;
  readonly rates: readonly FxRateConfig[];
}

export interface FxRate {
  readonly from: number;
  readonly rate: Decimal;
  /** Canonical decimal text, carried on the event as fxRate. */
  readonly text: string;
}

export interface FxTable {
  readonly baseCurrency: string;
  readonly rounding: RoundingMode;
  /** Per currency, ascending by effective time. */
  readonly rates: ReadonlyMap<string, readonly FxRate[]>;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

function effectiveFromMillis(text: string): number | null {
  const d = DATE_RE.exec(text);
  if (d) {
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    return isValidDate(y, m, day) ? Date.UTC(y, m - 1, day) : null;
  }
  return parseIsoTimestamp(text);
}

const currencySchema = z.string().refine(isCurrency, { message: "not an ISO 4217 code" });

const configSchema = z
  .object({
    baseCurrency: currencySchema,
    rounding: z.enum(ROUNDING_MODES as [RoundingMode, ...RoundingMode[]]).default("half-even"),
    rates: z.array(
      z
        .object({
          currency: currencySchema,
          effectiveFrom: z.string().refine((s) => effectiveFromMillis(s) !== null, {
            message: "must be YYYY-MM-DD or an ISO-8601 date-time with offset",
          }),
          rate: z.string().refine((s) => (parseDecimal(s)?.units ?? 0n) > 0n, {
            message: "must be a positive plain decimal string such as 1.0832",
          }),
        })
        .strict(),
    ),
  })
  .strict();

/** Validates and indexes FX configuration. Throws on bad configuration (a start-up error, not a message rejection). */
export function compileFx(raw: unknown): FxTable {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid FX configuration at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  const { baseCurrency, rounding, rates } = parsed.data;
  const byCurrency = new Map<string, FxRate[]>();
  for (const [i, r] of rates.entries()) {
    if (r.currency === baseCurrency) {
      throw new Error(
        `invalid FX configuration at rates.${i}: ${r.currency} is the base currency (its rate is 1)`,
      );
    }
    const rate = parseDecimal(r.rate)!;
    const from = effectiveFromMillis(r.effectiveFrom)!;
    const list = byCurrency.get(r.currency) ?? [];
    if (list.some((x) => x.from === from)) {
      throw new Error(
        `invalid FX configuration at rates.${i}: two ${r.currency} rates effective from ${r.effectiveFrom}`,
      );
    }
    list.push({ from, rate, text: formatDecimal(rate) });
    byCurrency.set(r.currency, list);
  }
  for (const list of byCurrency.values()) list.sort((a, b) => a.from - b.from);
  return { baseCurrency, rounding, rates: byCurrency };
}

const ONE: FxRate = { from: Number.NEGATIVE_INFINITY, rate: { units: 1n, scale: 0 }, text: "1" };

/** The rate effective at `at` (epoch millis): "1" for the base currency, null when none applies. */
export function rateAt(table: FxTable, currency: string, at: number): FxRate | null {
  if (currency === table.baseCurrency) return ONE;
  const list = table.rates.get(currency);
  if (!list) return null;
  // Binary search for the last entry with from <= at.
  let lo = 0;
  let hi = list.length - 1;
  let found: FxRate | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const entry = list[mid]!;
    if (entry.from <= at) {
      found = entry;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * The exact quotient of a conversion, before rounding: base minor = amount * rate * 10^eBase
 * / 10^eFrom, as numerator / denominator over BigInt.
 */
export function conversionFraction(
  amountMinor: bigint,
  from: string,
  to: string,
  rate: Decimal,
): { num: bigint; den: bigint } {
  const eFrom = minorUnits(from);
  const eTo = minorUnits(to);
  if (eFrom === undefined || eTo === undefined) throw new Error(`no minor units known for ${from} or ${to}`);
  return { num: amountMinor * rate.units * pow10(eTo), den: pow10(rate.scale + eFrom) };
}

/** Converts minor units of `from` to minor units of `to`, rounded once with the given mode. */
export function convertMinor(
  amountMinor: bigint,
  from: string,
  to: string,
  rate: Decimal,
  mode: RoundingMode = "half-even",
): bigint {
  const { num, den } = conversionFraction(amountMinor, from, to, rate);
  return divRound(num, den, mode);
}

/**
 * Converts parts that add up to a whole so that the converted parts add up exactly to the
 * converted whole: each part is floored, and the units left over go one each to the parts
 * with the largest remainders (ties to the earlier part), which is deterministic.
 */
export function allocateConverted(
  partsMinor: readonly bigint[],
  from: string,
  to: string,
  rate: Decimal,
  mode: RoundingMode = "half-even",
): { total: bigint; parts: bigint[] } {
  let wholeNum = 0n;
  let den = 1n;
  const floors: bigint[] = [];
  const remainders: bigint[] = [];
  for (const part of partsMinor) {
    const f = conversionFraction(part, from, to, rate);
    den = f.den;
    wholeNum += f.num;
    floors.push(f.num / f.den);
    remainders.push(f.num % f.den);
  }
  if (partsMinor.length === 0) return { total: 0n, parts: [] };
  const total = divRound(wholeNum, den, mode);
  let left = total - floors.reduce((a, b) => a + b, 0n);
  const order = remainders
    .map((r, i) => ({ r, i }))
    .sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1))
    .map((x) => x.i);
  const parts = [...floors];
  // With rounding "down" nothing is left over; with half-even/half-up at most one unit per part.
  for (const i of order) {
    if (left <= 0n) break;
    parts[i] = parts[i]! + 1n;
    left--;
  }
  return { total, parts };
}
