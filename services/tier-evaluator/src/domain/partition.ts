// The deterministic core of event-time mode: one input partition's messages, in offset order,
// with time-driven evaluations interleaved at exact stream positions.
//
// The partition's clock is the highest event time seen so far in that partition (a function of
// the partition's own message sequence, nothing else). After each message moves the clock to C,
// every member of the partition due strictly before C is advanced to C - 1 before the message is
// applied. Because the positions at which evaluations run depend only on the partition's content,
// the same partition gives the same tier changes whatever the batch boundaries, the speed, the
// other partitions' progress, a rebalance or a crash and restart (the clock is the task's stream
// time, stored with the state it produced: ADR 16). Pure: no I/O, no wall clock.
import { type TierChange, type TierConfig, nextDueAt } from "@loyalty/tiers";
import { DueHeap } from "./due.ts";
import type { TierInput } from "./inputs.ts";
import { type MemberRecord, advanceRecord, applyInput, newRecord } from "./member.ts";

export type PartitionItem =
  /**
   * A new input to apply. `at`: its place in stream time (the record's timestamp, which the
   * stream runtime's task stream time follows); default: the input's event time.
   */
  | { kind: "apply"; input: TierInput; at?: number }
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

/** Where an item sits in stream time: what moves the clock. */
export function itemTime(item: PartitionItem): number {
  return item.kind === "apply" ? (item.at ?? item.input.eventTime) : item.eventTime;
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
    const t = itemTime(item);
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
