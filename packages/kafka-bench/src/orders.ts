// The CDNOW master file as the ingestor's replay publishes it (services/ingestor/src/replay.ts and
// domain/replay-formats.ts): one JSON order per line, keyed by customer id, record timestamp = the
// order's time, sent in event-time order. Re-implemented here (a benchmark may not import a
// service); the bench checks the count, 69,659, and the first order against the replay's shape.
import { readFileSync } from "node:fs";
import { cdnow } from "@loyalty/datasets";

export interface BenchRecord {
  key: string;
  value: string;
  /** Epoch milliseconds as a decimal string (kafkajs' type). */
  timestamp: string;
}

const MASTER_RE = /^\s*(\d+)\s+(\d{8})\s+(\d+)\s+(\d+(?:\.\d+)?)\s*$/;

export function cdnowOrders(file: string = cdnow.master()): BenchRecord[] {
  const occurrences = new Map<string, number>();
  const out: Array<{ r: BenchRecord; at: number; i: number }> = [];
  const lines = readFileSync(file, "utf8").split("\n");
  for (const raw of lines) {
    const m = MASTER_RE.exec(raw.replace(/\r$/, ""));
    if (!m) continue; // the header line and the final empty line
    const [, customerId, yyyymmdd, cds, dollars] = m as unknown as [string, string, string, string, string];
    const day = `${customerId} ${yyyymmdd}`;
    const k = occurrences.get(day) ?? 0;
    occurrences.set(day, k + 1);
    const at =
      Date.UTC(Number(yyyymmdd.slice(0, 4)), Number(yyyymmdd.slice(4, 6)) - 1, Number(yyyymmdd.slice(6, 8))) +
      k;
    const [whole, frac = ""] = dollars.split(".");
    const total = Number(whole) * 100 + Number(frac.padEnd(2, "0"));
    const quantity = Number(cds);
    const order = {
      source: "cdnow",
      type: "ORDER_PLACED",
      orderId: `cdnow-${customerId}-${yyyymmdd}-${k}`,
      revision: 0,
      customerId,
      occurredAt: at,
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
    };
    out.push({
      r: { key: customerId, value: JSON.stringify(order), timestamp: String(at) },
      at,
      i: out.length,
    });
  }
  // The replay sends CDNOW in event-time order (stable: one day's orders keep file order).
  out.sort((a, b) => a.at - b.at || a.i - b.i);
  return out.map((x) => x.r);
}

export const CDNOW_MASTER_ORDERS = 69_659;
