// Replay files -> upstream order JSON, exactly as a shop would send it to orders.v1.
//
// Formats:
// - cdnow-master: header line, then "customer_id YYYYMMDD number_of_cds dollar_value",
//   whitespace-separated, CRLF line endings;
// - cdnow-sample: no header, "master_id sample_id YYYYMMDD number_of_cds dollar_value", CRLF;
// - jsonl: one upstream JSON message per line.
// Line endings: a trailing \r is dropped, so CRLF and LF files parse alike.
//
// CDNOW rows become deterministic orders: replaying the same file twice yields the same
// orders. A customer may buy several times on one day (in the master file 1,774
// customer-days have 2 to 16 rows), so k = how many earlier rows of the same customer and
// day the file has:
//   orderId    = cdnow-<customerId>-<YYYYMMDD>-<k>
//   occurredAt = that day 00:00:00 UTC + k milliseconds (distinct, in file order, same day)
// The customer id is the master id as written (zero-padded, "00001"), in both files, so a
// sample row maps to the same order id as its master row.
//
// parseLine is a streaming step: it updates `state` (format detection and the per-day
// occurrence counts) in place; the caller owns the state for the duration of one file.

import type { DlqReasonCode } from "@loyalty/contracts";
import { type DecodeLimits, decodeJson } from "./decode.ts";
import { majorToMinor } from "./money.ts";
import { isValidDate } from "./timestamps.ts";

export type ReplayFormat = "cdnow-master" | "cdnow-sample" | "jsonl";

export const CDNOW_SOURCE = "cdnow";

export interface UpstreamOrderLineJson {
  lineId: string;
  sku: string;
  category: string | null;
  quantity: number;
  unitPriceMinor: number;
  lineTotalMinor: number;
}

/** An upstream ORDER_PLACED in the orders.v1 JSON shape. */
export interface UpstreamOrderJson {
  source: string;
  type: "ORDER_PLACED";
  orderId: string;
  revision: number;
  customerId: string;
  occurredAt: number;
  currency: string;
  totalMinor: number;
  lines: UpstreamOrderLineJson[];
}

export interface ReplayState {
  /** null until detected from the first non-blank line. */
  format: ReplayFormat | null;
  /** Whether a line other than a blank one has been seen (a header is only allowed first). */
  started: boolean;
  /** "<customerId> <YYYYMMDD>" -> rows seen so far. */
  readonly occurrences: Map<string, number>;
  readonly decodeLimits: Partial<DecodeLimits>;
}

export type ReplayRecord =
  | { readonly kind: "order"; readonly lineNumber: number; readonly order: UpstreamOrderJson }
  | { readonly kind: "json"; readonly lineNumber: number; readonly value: unknown; readonly payload: string }
  | { readonly kind: "skip"; readonly lineNumber: number; readonly why: "blank" | "header" }
  | {
      readonly kind: "error";
      readonly lineNumber: number;
      readonly code: DlqReasonCode;
      readonly reason: string;
      readonly payload: string;
    };

export function createReplayState(
  format: ReplayFormat | null = null,
  decodeLimits: Partial<DecodeLimits> = {},
): ReplayState {
  return { format, started: false, occurrences: new Map(), decodeLimits };
}

const HEADER_RE = /^\s*customer_id\b/i;
const MASTER_RE = /^\s*(\d+)\s+(\d{8})\s+(\d+)\s+(\S+)\s*$/;
const SAMPLE_RE = /^\s*(\d+)\s+(\d+)\s+(\d{8})\s+(\d+)\s+(\S+)\s*$/;

/** The format a file is in, from its first non-blank line; null when it is none of them. */
export function detectFormat(firstLine: string): ReplayFormat | null {
  const line = firstLine.replace(/\r$/, "");
  if (line.trimStart().startsWith("{")) return "jsonl";
  if (HEADER_RE.test(line) || MASTER_RE.test(line)) return "cdnow-master";
  if (SAMPLE_RE.test(line)) return "cdnow-sample";
  return null;
}

/** Parses line `index` (0-based) of a file. */
export function parseLine(rawLine: string, index: number, state: ReplayState): ReplayRecord {
  const lineNumber = index + 1;
  const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
  if (line.trim() === "") return { kind: "skip", lineNumber, why: "blank" };
  const first = !state.started;
  state.started = true;
  if (state.format === null) {
    state.format = detectFormat(line);
    if (state.format === null) {
      return error(
        lineNumber,
        "SCHEMA_VIOLATION",
        "first line is neither CDNOW (master/sample) nor JSON Lines",
        line,
      );
    }
  }
  switch (state.format) {
    case "jsonl": {
      const decoded = decodeJson(line, state.decodeLimits);
      if (!decoded.ok) return error(lineNumber, decoded.code, decoded.reason, line);
      return { kind: "json", lineNumber, value: decoded.value, payload: line };
    }
    case "cdnow-master": {
      if (first && HEADER_RE.test(line)) return { kind: "skip", lineNumber, why: "header" };
      const m = MASTER_RE.exec(line);
      if (!m)
        return error(
          lineNumber,
          "SCHEMA_VIOLATION",
          "expected: customer_id YYYYMMDD number_of_cds dollar_value",
          line,
        );
      return cdnowOrder(lineNumber, m[1]!, m[2]!, m[3]!, m[4]!, state, line);
    }
    case "cdnow-sample": {
      const m = SAMPLE_RE.exec(line);
      if (!m) {
        return error(
          lineNumber,
          "SCHEMA_VIOLATION",
          "expected: master_id sample_id YYYYMMDD number_of_cds dollar_value",
          line,
        );
      }
      return cdnowOrder(lineNumber, m[1]!, m[3]!, m[4]!, m[5]!, state, line);
    }
  }
}

/** Convenience over a whole text (tests, small files): every non-skipped record, in order. */
export function parseText(text: string, format: ReplayFormat | null = null): ReplayRecord[] {
  const state = createReplayState(format);
  const out: ReplayRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const r = parseLine(lines[i]!, i, state);
    if (r.kind !== "skip") out.push(r);
  }
  return out;
}

function error(lineNumber: number, code: DlqReasonCode, reason: string, line: string): ReplayRecord {
  return { kind: "error", lineNumber, code, reason: `line ${lineNumber}: ${reason}`, payload: line };
}

function cdnowOrder(
  lineNumber: number,
  customerId: string,
  yyyymmdd: string,
  cds: string,
  dollars: string,
  state: ReplayState,
  line: string,
): ReplayRecord {
  const year = Number(yyyymmdd.slice(0, 4));
  const month = Number(yyyymmdd.slice(4, 6));
  const day = Number(yyyymmdd.slice(6, 8));
  if (!isValidDate(year, month, day))
    return error(lineNumber, "INVALID_TIMESTAMP", `${yyyymmdd} is not a date`, line);
  // Exact: "11.77" -> 1177 through the decimal digits, never through a float.
  const cents = majorToMinor(dollars, 2);
  if (cents === null || cents > BigInt(Number.MAX_SAFE_INTEGER)) {
    return error(
      lineNumber,
      "INVALID_AMOUNT",
      `dollar value ${JSON.stringify(dollars)} is not an amount with at most 2 decimals`,
      line,
    );
  }
  const quantity = Number(cds);
  if (!Number.isSafeInteger(quantity) || quantity > 2_147_483_647) {
    return error(lineNumber, "INVALID_AMOUNT", `number of CDs ${cds} is out of range`, line);
  }
  const dayKey = `${customerId} ${yyyymmdd}`;
  const k = state.occurrences.get(dayKey) ?? 0;
  state.occurrences.set(dayKey, k + 1);
  const total = Number(cents);
  return {
    kind: "order",
    lineNumber,
    order: {
      source: CDNOW_SOURCE,
      type: "ORDER_PLACED",
      orderId: `cdnow-${customerId}-${yyyymmdd}-${k}`,
      revision: 0,
      customerId,
      occurredAt: Date.UTC(year, month - 1, day) + k,
      currency: "USD",
      totalMinor: total,
      lines: [
        {
          lineId: "1",
          sku: "CD",
          category: "music",
          quantity,
          unitPriceMinor: quantity === 0 ? total : Math.floor(total / quantity),
          lineTotalMinor: total,
        },
      ],
    },
  };
}
