// Calendar days in an IANA time zone. Days are compared through "wall-clock" milliseconds (the
// local date and time read as if it were UTC), so every calendar day is exactly 24 h long and DST
// shifts cannot make a customer's recency or age jump by an hour.

export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws a RangeError for an unknown IANA zone name. */
export function assertTimeZone(timeZone: string): void {
  formatterFor(timeZone);
}

/** Local date and time at `epochMs` in `timeZone`, expressed as milliseconds of the same wall clock in UTC. */
export function wallClockMs(epochMs: number, timeZone: string): number {
  if (!Number.isFinite(epochMs)) throw new RangeError(`not a finite timestamp: ${epochMs}`);
  if (timeZone === "UTC") return epochMs;
  const parts = formatterFor(timeZone).formatToParts(new Date(epochMs));
  const get = (type: Intl.DateTimeFormatPartTypes): number => {
    const p = parts.find((x) => x.type === type);
    if (p === undefined) throw new Error(`Intl gave no ${type} for ${timeZone}`);
    return Number(p.value);
  };
  const millis = ((epochMs % 1000) + 1000) % 1000;
  return (
    Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second")) + millis
  );
}

/** Days since 1970-01-01 of the local calendar day containing `epochMs`. */
export function dayIndexAt(epochMs: number, timeZone: string): number {
  return Math.floor(wallClockMs(epochMs, timeZone) / DAY_MS);
}

/** "YYYY-MM-DD" for a day index. */
export function dayKeyOfIndex(dayIndex: number): string {
  return new Date(dayIndex * DAY_MS).toISOString().slice(0, 10);
}

export function dayIndexOfKey(key: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key);
  if (m === null) throw new RangeError(`not a day key: ${key}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS;
}

export function dayKeyAt(epochMs: number, timeZone: string): string {
  return dayKeyOfIndex(dayIndexAt(epochMs, timeZone));
}
