// stream_tasks (migration 002): each task's progress and pending output, read when a partition is
// assigned and written in the same transaction as the service's state (ADR 16).
import { type Pool, type PoolClient, prepared } from "@loyalty/db";
import { LoyaltyError } from "../errors.ts";
import type { TaskProgress } from "./task.ts";

export interface StoredTask {
  progress: TaskProgress;
  /** The output of the batch that last committed this task (see pending.ts). */
  pending: Buffer | null;
}

/**
 * Another instance has committed this task since this one restored it: this instance lost the
 * partition in a rebalance and must not write it. Retriable: a restart restores the task anew.
 */
export class TaskFencedError extends LoyaltyError {
  constructor(
    readonly groupId: string,
    readonly partitions: number[],
  ) {
    super(`tasks ${partitions.join(", ")} of group ${groupId} were committed by another instance`, {
      retriable: true,
    });
  }
}

function toProgress(row: {
  offsets: Record<string, string>;
  stream_time: number | null;
  seq: string;
  lanes: Record<string, number> | null;
}): TaskProgress {
  const offsets = new Map<string, bigint>();
  for (const [topic, offset] of Object.entries(row.offsets)) offsets.set(topic, BigInt(offset));
  return {
    offsets,
    streamTime: row.stream_time ?? Number.NEGATIVE_INFINITY,
    seq: BigInt(row.seq),
    ...(row.lanes !== null ? { lanes: new Map(Object.entries(row.lanes)) } : {}),
  };
}

export async function loadTasks(
  db: Pool | PoolClient,
  groupId: string,
  partitions: readonly number[],
): Promise<Map<number, StoredTask>> {
  const r = await db.query<{
    partition: number;
    offsets: Record<string, string>;
    stream_time: number | null;
    seq: string;
    pending: Buffer | null;
    lanes: Record<string, number> | null;
  }>(
    "select partition, offsets, stream_time, seq::text as seq, pending, lanes from stream_tasks where group_id = $1 and partition = any($2::int[])",
    [groupId, partitions],
  );
  return new Map(r.rows.map((row) => [row.partition, { progress: toProgress(row), pending: row.pending }]));
}

export interface TaskWrite {
  partition: number;
  progress: TaskProgress;
  /** The seq this instance restored or last committed: the row must still be at it. */
  expectedSeq: bigint;
  pending: Buffer | null;
}

/** One statement for all of a batch's tasks; throws TaskFencedError if any moved on meanwhile. */
export async function saveTasks(
  tx: PoolClient,
  groupId: string,
  writes: readonly TaskWrite[],
): Promise<void> {
  if (writes.length === 0) return;
  const offsets = writes.map((w) =>
    JSON.stringify(Object.fromEntries([...w.progress.offsets].map(([t, o]) => [t, o.toString()]))),
  );
  // Each task's pending output is a parameter of its own: pg sends a Buffer parameter as binary,
  // while in a bytea[] parameter every byte went as hex text for the server to parse back (a
  // batch's output is megabytes in a replay).
  const pendings = `array[${writes.map((_, i) => `$${8 + i}::bytea`).join(", ")}]`;
  // Prepared: one text per number of tasks in a batch, at most the group's partition count.
  const r = await tx.query<{ partition: number }>(
    prepared(`insert into stream_tasks as s (group_id, partition, offsets, stream_time, seq, pending, lanes)
     select $1, t.partition, t.offsets, t.stream_time, t.seq, t.pending, t.lanes
       from unnest($2::int[], $3::jsonb[], $4::bigint[], $5::bigint[], ${pendings}, $7::jsonb[])
         as t(partition, offsets, stream_time, seq, pending, lanes)
     on conflict (group_id, partition) do update
       set offsets = excluded.offsets, stream_time = excluded.stream_time, seq = excluded.seq,
           pending = excluded.pending, lanes = excluded.lanes, updated_at = now()
       where s.seq = (select e.expected from unnest($2::int[], $6::bigint[]) as e(partition, expected)
                       where e.partition = excluded.partition)
     returning partition`),
    [
      groupId,
      writes.map((w) => w.partition),
      offsets,
      writes.map((w) => (Number.isFinite(w.progress.streamTime) ? w.progress.streamTime : null)),
      writes.map((w) => w.progress.seq.toString()),
      writes.map((w) => w.expectedSeq.toString()),
      writes.map((w) => (w.progress.lanes ? JSON.stringify(Object.fromEntries(w.progress.lanes)) : null)),
      ...writes.map((w) => w.pending),
    ],
  );
  if (r.rows.length !== writes.length) {
    const written = new Set(r.rows.map((x) => x.partition));
    throw new TaskFencedError(
      groupId,
      writes.map((w) => w.partition).filter((p) => !written.has(p)),
    );
  }
}
