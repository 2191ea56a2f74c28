// Event times: epoch milliseconds, or an ISO-8601 date-time that states its offset. A local
// time without an offset is refused: guessing the upstream's zone would shift points days.

import { type Result, accept, reject, show } from "./result.ts";

/** 1970-01-01T00:00:00Z, inclusive. */
export const MIN_EVENT_TIME = 0;
/** 2100-01-01T00:00:00Z, exclusive. */
export const MAX_EVENT_TIME = Date.UTC(2100, 0, 1);

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export function isValidDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/** Parses an ISO-8601 date-time with Z or a ±HH:MM offset to epoch millis (sub-millisecond digits truncate). */
export function parseIsoTimestamp(text: string): number | null {
  const m = ISO_RE.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, "0").slice(0, 3));
  if (!isValidDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  const zone = m[8]!;
  if (zone !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 18 || om > 59 || oh * 60 + om > 18 * 60) return null;
    offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  return utc - offsetMinutes * 60_000;
}

/** An event time from a JSON number, an ISO string, or a Date (Avro with logical types). */
export function timestampValue(v: unknown, path: string): Result<number> {
  let millis: number;
  if (v === undefined || v === null) return reject("INVALID_TIMESTAMP", `${path} is missing`);
  if (typeof v === "number") {
    if (!Number.isInteger(v))
      return reject("INVALID_TIMESTAMP", `${path} must be whole epoch milliseconds, got ${v}`);
    millis = v;
  } else if (typeof v === "string") {
    const parsed = parseIsoTimestamp(v);
    if (parsed === null) {
      const what = ISO_RE.test(v)
        ? "has an impossible date, time or offset"
        : "is not an ISO-8601 date-time with an offset (e.g. 2024-05-01T12:00:00Z)";
      return reject("INVALID_TIMESTAMP", `${path} ${show(v)} ${what}`);
    }
    millis = parsed;
  } else if (v instanceof Date) {
    millis = v.getTime();
    if (Number.isNaN(millis)) return reject("INVALID_TIMESTAMP", `${path} is an invalid Date`);
  } else {
    return reject(
      "INVALID_TIMESTAMP",
      `${path} must be epoch milliseconds or an ISO-8601 string, got ${show(v)}`,
    );
  }
  if (millis < MIN_EVENT_TIME || millis >= MAX_EVENT_TIME) {
    return reject("INVALID_TIMESTAMP", `${path} ${show(v)} is outside 1970-01-01 .. 2099-12-31 (UTC)`);
  }
  return accept(millis);
}
