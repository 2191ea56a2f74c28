import type { DlqReasonCode } from "@loyalty/contracts";

export interface Accepted<T> {
  readonly ok: true;
  readonly value: T;
}

/** A rejection names a DLQ reason code and says, for a human, what exactly was wrong. */
export interface Rejection {
  readonly ok: false;
  readonly code: DlqReasonCode;
  readonly reason: string;
}

export type Result<T> = Accepted<T> | Rejection;

export function accept<T>(value: T): Accepted<T> {
  return { ok: true, value };
}

export function reject(code: DlqReasonCode, reason: string): Rejection {
  return { ok: false, code, reason };
}

/** Quotes a value for a reason text without letting a huge or binary value flood the DLQ. */
export function show(value: unknown): string {
  let text: string;
  if (value === undefined) return "undefined";
  if (typeof value === "bigint") text = `${value}n`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
