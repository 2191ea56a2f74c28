// Pure lot arithmetic for the member summary (no I/O). Which lots a redemption takes and what a
// cancellation puts back is the ledger owner's: services/rules-engine/src/engine/lots.ts.

export interface OpenLot {
  lotId: string;
  remaining: number;
  expiresAt: number;
}

export const DAY_MS = 86_400_000;

/** Points that expire within each horizon (cumulative; lots already due count in every one). */
export function expiringWithin(
  lots: readonly OpenLot[],
  now: number,
  days: readonly number[],
): { days: number; points: number }[] {
  return days.map((d) => ({
    days: d,
    points: lots
      .filter((l) => l.remaining > 0 && l.expiresAt <= now + d * DAY_MS)
      .reduce((s, l) => s + l.remaining, 0),
  }));
}

/** `months` calendar months after `ms` (UTC), clamped to the month's last day (Jan 31 + 1 = Feb 28/29). */
export function addMonthsUtc(ms: number, months: number): number {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return Date.UTC(
    y,
    m,
    Math.min(d.getUTCDate(), last),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
}
