// The deterministic core of event-time mode: one input partition's messages, in offset order,
// with time-driven evaluations interleaved at exact stream positions.
//
// The partition's clock is the highest event time seen so far in that partition (a function of
// the partition's own message sequence, nothing else). After each message moves the clock to C,
// every member of the partition due strictly before C is advanced to C - 1 before the message is
// applied. Because the positions at which evaluations run depend only on the partition's content,
// the same partition gives the same tier changes whatever the batch boundaries, the speed, the
// other partitions' progress, a rebalance or a crash and restart (the clock is stored with the
// state it produced). Pure: no I/O, no wall clock.
import { type TierChange, type TierConfig, nextDueAt } from "@loyalty/tiers";
import type { TierInput } from "./inputs.ts";
import { type MemberRecord, advanceRecord, applyInput, newRecord } from "./member.ts";

export type PartitionItem =
  /** A new input to apply. */
  | { kind: "apply"; input: TierInput }
  /** An input already applied (a redelivery or an upstream duplicate): it only moves the clock. */
  | { kind: "seen"; eventTime: number };

export interface PartitionBatch {
  config: TierConfig;
  /** The partition's clock before the batch; null before its first message. */
  clock: number | null;
  /** Records of the batch's members and of the due candidates; absent members are new. */
  records: Map<string, MemberRecord>;
  /** Members whose stored due time is before the batch's end clock (a superset is fine). */
  due: Iterable<readonly [memberId: string, dueAt: number]>;
  items: readonly PartitionItem[];
  /**
   * Event times above this do not move the clock (a guard against one future-dated event
   * evaluating a whole partition years ahead); null: no guard.
   */
  clockCeiling?: number | null;
  /** false (wall-clock mode): time is the timer's business; events are only applied. */
  driveClock?: boolean;
}

export interface PartitionResult {
  clock: number | null;
  /** Every record that changed. */
  updated: Map<string, MemberRecord>;
  /** In the order they happened. */
  changes: TierChange[];
}

/** Minimal binary heap on [due, memberId], ordered by due then member id (a total order). */
class DueHeap {
  private readonly a: [number, string][] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): [number, string] | undefined {
    return this.a[0];
  }
  push(due: number, member: string): void {
    const a = this.a;
    a.push([due, member]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: [number, string], y: [number, string]): boolean {
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
}

export function processPartition(b: PartitionBatch): PartitionResult {
  const { config } = b;
  const drive = b.driveClock ?? true;
  const ceiling = b.clockCeiling ?? null;
  const records = new Map(b.records);
  const updated = new Map<string, MemberRecord>();
  const changes: TierChange[] = [];
  const heap = new DueHeap();
  let clock = b.clock;

  if (drive) for (const [m, due] of b.due) heap.push(due, m);

  const set = (m: string, r: MemberRecord, c: TierChange[]) => {
    records.set(m, r);
    updated.set(m, r);
    for (const x of c) changes.push(x);
  };
  const schedule = (m: string, r: MemberRecord) => {
    if (!drive) return;
    // Pushed whatever the due time: the clock may pass it later in this batch.
    const due = nextDueAt(r.state, config);
    if (due !== null) heap.push(due, m);
  };
  // Everyone due strictly before the clock: to C - 1, so that an event at exactly C, still
  // possible in this partition, is applied after them exactly as if it had come first.
  const drain = () => {
    if (clock === null) return;
    for (let top = heap.peek(); top !== undefined && top[0] < clock; top = heap.peek()) {
      heap.pop();
      const [due, m] = top;
      const r = records.get(m);
      if (r === undefined) continue;
      const actual = nextDueAt(r.state, config);
      if (actual !== due) {
        // A stale index entry: the record has moved on since.
        if (actual !== null && actual < clock) heap.push(actual, m);
        continue;
      }
      const step = advanceRecord(r, clock - 1, config);
      set(m, step.record, step.changes);
      schedule(m, step.record);
    }
  };

  for (const item of b.items) {
    const t = item.kind === "apply" ? item.input.eventTime : item.eventTime;
    if (drive && (ceiling === null || t <= ceiling) && (clock === null || t > clock)) {
      clock = t;
      drain();
    }
    if (item.kind === "seen") continue;
    const m = item.input.memberId;
    const base = records.get(m) ?? newRecord(m, config);
    const step = applyInput(base, item.input, config);
    if (step.record !== base) set(m, step.record, step.changes);
    schedule(m, step.record);
    drain();
  }
  return { clock, updated, changes };
}
