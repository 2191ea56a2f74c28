// UTC calendar arithmetic on epoch millis. Everything here is UTC on purpose: a fixed clock
// keeps bucket boundaries and evaluation dates identical on every machine.

export const DAY_MS = 86_400_000;

/** UTC day number (days since 1970-01-01) of an epoch-millis instant. */
export function utcDay(time: number): number {
  return Math.floor(time / DAY_MS);
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one; Date.UTC normalises month overflow.
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * Adds calendar months, clamping the day of month (Jan 31 + 1 month = Feb 28/29) and keeping
 * the time of day. Always computed from the original instant so repeated anniversaries do not drift.
 */
export function addMonthsUtc(time: number, months: number): number {
  const d = new Date(time);
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(d.getUTCDate(), daysInMonth(year, month));
  return Date.UTC(year, month, day) + (time - utcDay(time) * DAY_MS);
}

/** Calendar month ordinal (year * 12 + month); differences of two give whole months ignoring the day. */
export function monthIndex(time: number): number {
  const d = new Date(time);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Start (00:00 UTC on the 1st) of the first period boundary strictly after `time`, periods aligned to January. */
export function nextPeriodStartUtc(time: number, periodMonths: number): number {
  const d = new Date(time);
  const month = d.getUTCMonth();
  const periodStart = month - (month % periodMonths);
  return Date.UTC(d.getUTCFullYear(), periodStart + periodMonths, 1);
}
