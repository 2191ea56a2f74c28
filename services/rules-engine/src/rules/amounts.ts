import type { ProgrammeConfig } from "./types.ts";

// The programme's amount limits (issue 21: safe amounts). Every ledger amount is an integer
// within Number.MAX_SAFE_INTEGER (arith.ts refuses anything else); on top of that a programme
// bounds what one award and one member's day may earn. The validator rejects a rule that can
// exceed them (a rate or multiplier priced on an order of maxOrderAmountMinor); the engine
// dead-letters an event whose awards would exceed them instead of writing them.

export interface AmountLimits {
  maxPointsPerEntry: number;
  maxPointsPerMemberPerDay: number;
  maxOrderAmountMinor: number;
}

export const DEFAULT_AMOUNT_LIMITS: Readonly<AmountLimits> = Object.freeze({
  maxPointsPerEntry: 1_000_000,
  maxPointsPerMemberPerDay: 10_000_000,
  maxOrderAmountMinor: 10_000_000,
});

const KEYS = ["maxPointsPerEntry", "maxPointsPerMemberPerDay", "maxOrderAmountMinor"] as const;

/** The programme's limits, defaults filled in. */
export function amountLimitsOf(p: Partial<ProgrammeConfig> | undefined): AmountLimits {
  return {
    maxPointsPerEntry: p?.maxPointsPerEntry ?? DEFAULT_AMOUNT_LIMITS.maxPointsPerEntry,
    maxPointsPerMemberPerDay: p?.maxPointsPerMemberPerDay ?? DEFAULT_AMOUNT_LIMITS.maxPointsPerMemberPerDay,
    maxOrderAmountMinor: p?.maxOrderAmountMinor ?? DEFAULT_AMOUNT_LIMITS.maxOrderAmountMinor,
  };
}

/** Problems with a programme's limits (keys absent take the defaults); empty when valid. */
export function amountLimitProblems(p: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of KEYS) {
    if (!Object.hasOwn(p, key) || p[key] === undefined) continue;
    const v = p[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1)
      problems.push(
        `"${key}" must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(v)}`,
      );
  }
  if (problems.length > 0) return problems;
  const l = amountLimitsOf(p as Partial<ProgrammeConfig>);
  if (l.maxPointsPerEntry > l.maxPointsPerMemberPerDay)
    problems.push(
      `"maxPointsPerEntry" (${l.maxPointsPerEntry}) must not exceed "maxPointsPerMemberPerDay" (${l.maxPointsPerMemberPerDay})`,
    );
  return problems;
}
