// churn-alert's progress in event time, written in-band on loyalty.churn-alerts.v1 (ADR 12).
// After the alerts of a step it writes one marker into every partition: a record with no value
// and the header below. A consumer that has read a marker with frontier F from a partition has
// read every alert of that partition with an event time at or before F. In-band, because only
// the order within a partition tells a reader which alerts came before the promise.

/** Record header of a frontier marker: event time in epoch milliseconds, decimal. */
export const FRONTIER_HEADER = "loyalty-frontier";

export function frontierHeaders(time: number): Record<string, string> {
  return { [FRONTIER_HEADER]: String(time) };
}

/** The frontier a value-less record carries, or null when it is not a marker. */
export function frontierOf(value: Buffer | null, headers: Readonly<Record<string, string>>): number | null {
  if (value !== null && value.length > 0) return null;
  const v = headers[FRONTIER_HEADER];
  if (v === undefined || !/^-?\d{1,16}$/.test(v)) return null;
  const t = Number(v);
  return Number.isSafeInteger(t) ? t : null;
}
