// Argument parsers for commander options: each names the flag and what it expects on failure.
import { UsageError } from "./errors.ts";

/** A whole number of at least `min`, or a UsageError naming the flag and `expected`. */
function intAtLeast(flag: string, min: number, expected: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new UsageError(`${flag} must be ${expected}, got ${value}`);
    return n;
  };
}

export function positiveInt(flag: string): (value: string) => number {
  return intAtLeast(flag, 1, "a positive integer");
}

export function nonNegativeInt(flag: string): (value: string) => number {
  return intAtLeast(flag, 0, "a whole number (0 or more)");
}

/** YYYY-MM-DD is the end of that UTC day (its events included); anything else must be ISO 8601 with a zone. */
export function parseAt(text: string): number | null {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (day) {
    const t = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    const d = new Date(t);
    if (d.getUTCFullYear() !== Number(day[1]) || d.getUTCMonth() !== Number(day[2]) - 1) return null;
    return t + 86_400_000 - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(text)) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

export function instant(flag: string): (value: string) => number {
  return (value) => {
    const t = parseAt(value);
    if (t === null)
      throw new UsageError(
        `${flag} must be a date YYYY-MM-DD (the end of that UTC day) or an ISO 8601 instant with a zone, got ${value}`,
      );
    return t;
  };
}

/** A calendar day YYYY-MM-DD, as the UTC midnight that starts it. */
export function day(flag: string): (value: string) => number {
  return (value) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : Number.NaN;
    if (!m || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== value)
      throw new UsageError(`${flag} must be a date YYYY-MM-DD, got ${value}`);
    return t;
  };
}

export function oneOf<T extends string>(flag: string, values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(values as readonly string[]).includes(value))
      throw new UsageError(`${flag} must be one of ${values.join(", ")}, got ${value}`);
    return value as T;
  };
}

/** A window bound: YYYY-MM-DD is that UTC day's midnight; anything else must be ISO 8601 with a zone. */
export function windowBound(flag: string): (value: string) => number {
  return (value) => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return day(flag)(value);
    const t = /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(t))
      throw new UsageError(
        `${flag} must be a date YYYY-MM-DD (UTC midnight) or an ISO 8601 instant with a zone, got ${value}`,
      );
    return t;
  };
}
