// A task (ADR 16): partition `partition` of a consumer group's co-partitioned input topics, its
// state in memory, and its progress: the next offset of each input topic, its stream time and
// the sequence number of the batch that last committed it. Pure: no I/O here.
import type { DlqReasonCode } from "@loyalty/contracts";
import type { ConsumedMessage } from "../message.ts";
import type { OutMessage } from "../producer.ts";

export interface TaskProgress {
  /** topic -> next offset to process; records below it are in the state already. */
  readonly offsets: ReadonlyMap<string, bigint>;
  /** The highest record timestamp processed (event time, epoch ms); -Infinity before any. */
  readonly streamTime: number;
  /** The batch that last committed this task; 0 for a task never committed. */
  readonly seq: bigint;
  /**
   * The highest event time per lane: whole-group tasks, each sub-stream of the partition (see
   * watermark.ts); per-partition tasks, the lanes their topology marks (TaskTopology.mark).
   */
  readonly lanes?: ReadonlyMap<string, number>;
}

export const NO_PROGRESS: TaskProgress = {
  offsets: new Map(),
  streamTime: Number.NEGATIVE_INFINITY,
  seq: 0n,
};

/** What a service sees of a task. */
export interface Task<S> {
  readonly partition: number;
  /** The service's state of this partition, in memory; only this task changes it. */
  state: S;
  /** Event time of this task: the highest record timestamp it has processed. */
  readonly streamTime: number;
  /**
   * The highest event time a lane of this task's input has marked (TaskTopology.mark), as of the
   * last committed batch; -Infinity before any. E.g. the rules engine's churn-alert frontier.
   */
  laneTime(lane: string): number;
}

/** Where a task's decisions go: output records and dead letters, sent when the batch commits. */
export interface TaskOutput {
  produce(msg: OutMessage): void;
  deadLetter(message: ConsumedMessage, code: DlqReasonCode, reason?: string): void;
}

/**
 * The records of one task in one batch, in the order the task processes them: offset order
 * within each topic, and by timestamp across its topics (ties: topic order given, then offset).
 * Records below the task's offsets (already in its state) are left out.
 */
export function taskRecords(
  progress: TaskProgress,
  byTopic: ReadonlyMap<string, readonly ConsumedMessage[]>,
  topicOrder: readonly string[],
): ConsumedMessage[] {
  const lists: ConsumedMessage[][] = [];
  for (const topic of topicOrder) {
    const list = byTopic.get(topic);
    if (!list || list.length === 0) continue;
    const from = progress.offsets.get(topic);
    lists.push(from === undefined ? [...list] : list.filter((m) => BigInt(m.offset) >= from));
  }
  if (lists.length === 1) return lists[0] ?? [];
  const out: ConsumedMessage[] = [];
  const heads = lists.map(() => 0);
  for (;;) {
    let pick = -1;
    let best = Number.POSITIVE_INFINITY;
    lists.forEach((list, i) => {
      const m = list[heads[i] ?? 0];
      if (m !== undefined && m.timestamp < best) {
        best = m.timestamp;
        pick = i;
      }
    });
    if (pick === -1) return out;
    const list = lists[pick] ?? [];
    const at = heads[pick] ?? 0;
    const m = list[at];
    if (m === undefined) return out;
    out.push(m);
    heads[pick] = at + 1;
  }
}

/** Progress after a batch: every delivered record of the task counted, stream time never back. */
export function advance(
  progress: TaskProgress,
  byTopic: ReadonlyMap<string, readonly ConsumedMessage[]>,
  processed: readonly ConsumedMessage[],
  seq: bigint,
): TaskProgress {
  const offsets = new Map(progress.offsets);
  for (const [topic, list] of byTopic) {
    const last = list[list.length - 1];
    if (last === undefined) continue;
    const next = BigInt(last.offset) + 1n;
    const before = offsets.get(topic);
    if (before === undefined || next > before) offsets.set(topic, next);
  }
  let streamTime = progress.streamTime;
  for (const m of processed)
    if (Number.isFinite(m.timestamp) && m.timestamp > streamTime) streamTime = m.timestamp;
  return { offsets, streamTime, seq, ...(progress.lanes ? { lanes: progress.lanes } : {}) };
}

/** Lane times after a batch: each lane at the highest time its records marked, never back. */
export function markLanes(
  lanes: ReadonlyMap<string, number> | undefined,
  marks: Iterable<{ lane: string; time: number }>,
): ReadonlyMap<string, number> | undefined {
  let out: Map<string, number> | undefined;
  for (const { lane, time } of marks) {
    const before = (out ?? lanes)?.get(lane);
    if (!Number.isFinite(time) || (before !== undefined && time <= before)) continue;
    out ??= new Map(lanes);
    out.set(lane, time);
  }
  return out ?? lanes;
}

/**
 * A task's input for a batch: what it held back (TaskHold) before what was fetched, per topic in
 * offset order; a fetched record at or below the last held offset of its topic is dropped (it
 * was delivered before and is held already).
 */
export function withHeld(
  held: ReadonlyMap<string, readonly ConsumedMessage[]>,
  fetched: ReadonlyMap<string, readonly ConsumedMessage[]>,
): Map<string, ConsumedMessage[]> {
  const out = new Map<string, ConsumedMessage[]>();
  for (const [topic, list] of fetched) out.set(topic, [...list]);
  for (const [topic, list] of held) {
    const last = list[list.length - 1];
    if (last === undefined) continue;
    const after = (out.get(topic) ?? []).filter((m) => BigInt(m.offset) > BigInt(last.offset));
    out.set(topic, [...list, ...after]);
  }
  return out;
}
