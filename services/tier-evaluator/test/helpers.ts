import { type TierChange, type TierConfig, defaultTierConfig, nextDueAt } from "@loyalty/tiers";
import type { TierInput } from "../src/domain/inputs.ts";
import type { MemberRecord } from "../src/domain/member.ts";
import { type PartitionItem, processPartition } from "../src/domain/partition.ts";

export const at = (iso: string): number => {
  const t = Date.parse(iso.includes("T") ? iso : `${iso}T00:00:00Z`);
  if (Number.isNaN(t)) throw new Error(`bad date ${iso}`);
  return t;
};

let seq = 0;
export function input(
  memberId: string,
  kind: TierInput["kind"],
  time: string | number,
  value: number,
  orderId: string | null = null,
): TierInput {
  seq++;
  return {
    eventId: `e${seq}`,
    memberId,
    eventTime: typeof time === "number" ? time : at(time),
    kind,
    value,
    orderId: orderId ?? (kind === "purchase" || kind === "points-earned" ? `o${seq}` : null),
  };
}

/**
 * One partition run through processPartition in batches of the given sizes, with an in-memory
 * stand-in for the store (records, due index, clock, processed ids) exactly as the pipeline
 * uses it: the due candidates are those due before the batch's end clock.
 */
export class MemoryPartition {
  records = new Map<string, MemberRecord>();
  clock: number | null = null;
  processed = new Set<string>();
  changes: TierChange[] = [];

  constructor(readonly config: TierConfig = defaultTierConfig) {}

  run(inputs: TierInput[], batchSizes: number[] = [inputs.length]): TierChange[] {
    let i = 0;
    let b = 0;
    while (i < inputs.length) {
      const size = Math.max(1, batchSizes[b++ % batchSizes.length] ?? inputs.length);
      this.batch(inputs.slice(i, i + size));
      i += size;
    }
    return this.changes;
  }

  batch(inputs: TierInput[]): TierChange[] {
    const fresh = new Set<string>();
    const items: PartitionItem[] = inputs.map((x) => {
      if (this.processed.has(x.eventId) || fresh.has(x.eventId))
        return { kind: "seen", eventTime: x.eventTime };
      fresh.add(x.eventId);
      return { kind: "apply", input: x };
    });
    let end = this.clock;
    for (const x of inputs) if (end === null || x.eventTime > end) end = x.eventTime;
    const due: Array<[string, number]> = [];
    for (const [m, r] of this.records) {
      const d = nextDueAt(r.state, this.config);
      if (d !== null && end !== null && d < end) due.push([m, d]);
    }
    const r = processPartition({ config: this.config, clock: this.clock, records: this.records, due, items });
    for (const [m, rec] of r.updated) this.records.set(m, rec);
    for (const id of fresh) this.processed.add(id);
    this.clock = r.clock;
    this.changes.push(...r.changes);
    return r.changes;
  }

  tier(memberId: string): string | undefined {
    return this.records.get(memberId)?.state.tier;
  }
}

/** Another member's purchase: moves the partition's clock without touching `memberId`. */
export function tickAt(time: string, who = "clock-driver"): TierInput {
  return input(who, "purchase", time, 1);
}
