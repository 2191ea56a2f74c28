// Readers for the CDNOW files (see <datasets>/cdnow/README.md).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PurchaseEvent } from "../../src/model/index.ts";
import { datasetDir } from "./datasets.ts";

export interface CdnowRow {
  readonly masterId: string;
  readonly sampleId: string;
  /** UTC midnight of the purchase date. */
  readonly time: number;
  readonly cds: number;
  readonly cents: number;
}

/** "29.33" → 2933 exactly: parsed as decimal digits, not through a binary float. */
export function dollarsToCents(text: string): number {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (m === null) throw new Error(`not a dollar amount: ${text}`);
  const frac = (m[3] ?? "").padEnd(3, "0");
  let cents = Number(m[2]) * 100 + Number(frac.slice(0, 2));
  // Half-up on the third decimal (the file has two, so this is only a safeguard).
  if (Number(frac[2]) >= 5) cents += 1;
  return m[1] === "-" ? -cents : cents;
}

export function readCdnowSample(): CdnowRow[] {
  const text = readFileSync(join(datasetDir("cdnow"), "CDNOW_sample.txt"), "utf8");
  const rows: CdnowRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const [masterId, sampleId, date, cds, dollars] = f as [string, string, string, string, string];
    const y = Number(date.slice(0, 4));
    const mo = Number(date.slice(4, 6));
    const d = Number(date.slice(6, 8));
    rows.push({
      masterId,
      sampleId,
      time: Date.UTC(y, mo - 1, d),
      cds: Number(cds),
      cents: dollarsToCents(dollars),
    });
  }
  return rows;
}

/** One purchase event per line; ids are derived from the line so replays are reproducible. */
export function cdnowPurchaseEvents(rows: readonly CdnowRow[]): Map<string, PurchaseEvent[]> {
  const byMember = new Map<string, PurchaseEvent[]>();
  rows.forEach((row, i) => {
    const id = String(Number(row.sampleId));
    const list = byMember.get(id) ?? [];
    list.push({
      type: "purchase",
      eventId: `cdnow-sample-${i + 1}`,
      orderId: `order-${i + 1}`,
      eventTime: row.time,
      amountMinor: row.cents,
    });
    byMember.set(id, list);
  });
  return byMember;
}

export interface SummaryRow {
  readonly id: string;
  readonly frequency: number;
  readonly recency: number;
  readonly T: number;
}

export function readCdnowSummary(): SummaryRow[] {
  const text = readFileSync(join(datasetDir("cdnow"), "cdnow_customers_summary.csv"), "utf8");
  const [header, ...lines] = text.trim().split(/\r?\n/);
  if (header?.trim() !== "ID,frequency,recency,T") throw new Error(`unexpected header: ${header}`);
  return lines.map((l) => {
    const [id, frequency, recency, T] = l.split(",");
    return { id: String(id), frequency: Number(frequency), recency: Number(recency), T: Number(T) };
  });
}
