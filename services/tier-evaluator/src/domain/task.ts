// The state of one tier-evaluator task (ADR 16: one input partition) and the pure steps on it.
// The members' records live in memory with an index of their due times; a batch of records runs
// through processPartition (the same deterministic core as before tasks, with the task's stream
// time as its clock), a wall-clock punctuation advances the members due by then. Pure: no I/O,
// no wall clock; the state is changed in place and what changed is remembered for the flush.
import { type TierChange, type TierConfig, nextDueAt } from "@loyalty/tiers";
import { DueIndex } from "./due.ts";
import { type MemberRecord, advanceRecord } from "./member.ts";
import { type PartitionItem, itemTime, processPartition } from "./partition.ts";

export interface TierTaskState {
  records: Map<string, MemberRecord>;
  /** nextDueAt of every record that has one. */
  due: DueIndex;
  /** Members whose record changed since the last committed flush. */
  dirty: Set<string>;
  /**
   * processPartition's clock after the last step, in memory only: the task's stream time moves
   * only when a batch commits, and a batch may be decided in several calls (poison isolation).
   * Null after a restore: the task's stream time is the clock then.
   */
  clock: number | null;
}

export function emptyTaskState(): TierTaskState {
  return { records: new Map(), due: new DueIndex(), dirty: new Set(), clock: null };
}

export function restoredTaskState(
  rows: Iterable<readonly [memberId: string, record: MemberRecord]>,
  config: TierConfig,
): TierTaskState {
  const s = emptyTaskState();
  for (const [m, r] of rows) {
    s.records.set(m, r);
    s.due.set(m, nextDueAt(r.state, config));
  }
  return s;
}

export interface StepOptions {
  config: TierConfig;
  /** The task's stream time before these items (-Infinity before its first record). */
  streamTime: number;
  /** Event mode: items move the clock and due members are evaluated at their stream positions. */
  drive: boolean;
}

/**
 * Applies a task's items (its records in order) to its state; returns the tier changes in the
 * order they happened. The same items give the same changes however they are split into calls.
 */
export function stepTask(
  state: TierTaskState,
  items: readonly PartitionItem[],
  o: StepOptions,
): TierChange[] {
  const { config, drive } = o;
  let start = Number.isFinite(o.streamTime) ? o.streamTime : null;
  if (state.clock !== null && (start === null || state.clock > start)) start = state.clock;
  let end = start;
  if (drive)
    for (const item of items) {
      const t = itemTime(item);
      if (end === null || t > end) end = t;
    }
  // processPartition drains exactly the members due before its final clock: those, and the
  // members of the items, are all it reads.
  const due = drive && end !== null ? state.due.popBefore(end) : [];
  const records = new Map<string, MemberRecord>();
  for (const [m] of due) {
    const r = state.records.get(m);
    if (r) records.set(m, r);
  }
  for (const item of items) {
    if (item.kind !== "apply") continue;
    const r = state.records.get(item.input.memberId);
    if (r) records.set(item.input.memberId, r);
  }
  const result = processPartition({
    config,
    clock: start,
    records,
    due,
    items,
    driveClock: drive,
  });
  for (const [m, r] of result.updated) {
    state.records.set(m, r);
    state.dirty.add(m);
    state.due.set(m, nextDueAt(r.state, config));
  }
  // A popped member processPartition did not update is still due when it was.
  for (const [m] of due) {
    const r = state.records.get(m);
    if (r && !result.updated.has(m)) state.due.set(m, nextDueAt(r.state, config));
  }
  if (drive) state.clock = result.clock;
  return result.changes;
}

/** Wall-clock mode: every member due by `now` advanced to `now`, by due time then member id. */
export function punctuateTask(state: TierTaskState, now: number, config: TierConfig): TierChange[] {
  const changes: TierChange[] = [];
  for (const [m] of state.due.popBefore(now + 1)) {
    const r = state.records.get(m);
    if (!r) continue;
    const step = advanceRecord(r, now, config);
    state.records.set(m, step.record);
    state.dirty.add(m);
    state.due.set(m, nextDueAt(step.record.state, config));
    for (const c of step.changes) changes.push(c);
  }
  return changes;
}
