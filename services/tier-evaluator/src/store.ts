// The tier evaluator's tables (ADR 16: PostgreSQL is where a task's state is restored from and
// flushed to; the runtime's stream_tasks row, written in the same transaction, holds the
// offsets and stream time the state reflects).
//
// - tier_members: one row per member: record (jsonb), tier and due_at (read by the CLI and
//   tests), partition (what a task restores), version (number of writes).
// - tier_settings: the programme the service runs and its consumer group (read by the CLI).
import { type Pool, type PoolClient, copyUpsert } from "@loyalty/db";
import { type TierConfig, nextDueAt } from "@loyalty/tiers";
import type { MemberRecord } from "./domain/member.ts";
import type { TierTaskState } from "./domain/task.ts";

export interface Settings {
  config: TierConfig;
  clockMode: "event" | "wall";
  inputTopic: string;
  /** The consumer group whose stream_tasks rows carry the evaluator's stream time. */
  groupId: string;
}

export async function saveSettings(pool: Pool, s: Settings): Promise<void> {
  await pool.query(
    `insert into tier_settings (key, value) values ('programme', $1::jsonb)
     on conflict (key) do update set value = excluded.value, updated_at = now()`,
    [JSON.stringify(s)],
  );
}

/** The members of these partitions, per partition. */
export async function loadMembers(
  db: Pool | PoolClient,
  partitions: readonly number[],
): Promise<Map<number, Array<[string, MemberRecord]>>> {
  const out = new Map<number, Array<[string, MemberRecord]>>();
  if (partitions.length === 0) return out;
  const r = await db.query<{ member_id: string; partition: number; record: MemberRecord }>(
    "select member_id, partition, record from tier_members where partition = any($1::int[])",
    [partitions],
  );
  for (const row of r.rows) {
    const list = out.get(row.partition);
    if (list) list.push([row.member_id, row.record]);
    else out.set(row.partition, [[row.member_id, row.record]]);
  }
  return out;
}

/**
 * One statement for every member that changed in these tasks since their last committed flush.
 * The records travel as one JSON array (PostgreSQL parses that much faster than an array
 * literal of quoted JSON texts), the other columns as arrays, zipped by position.
 */
export async function writeMembers(
  tx: PoolClient,
  tasks: ReadonlyArray<{ partition: number; state: TierTaskState }>,
  config: TierConfig,
): Promise<number> {
  const rows = new Map<string, { partition: number; record: MemberRecord }>();
  for (const t of tasks)
    for (const m of t.state.dirty) {
      const record = t.state.records.get(m);
      if (record) rows.set(m, { partition: t.partition, record });
    }
  if (rows.size === 0) return 0;
  // Staged with COPY and upserted from there (packages/db/src/copy.ts): a JSON array of records
  // parsed whole by jsonb_array_elements cost two to three times the backend CPU.
  await copyUpsert(
    tx,
    "tier_members",
    ["member_id", "partition", "version", "tier", "due_at", "record"],
    [...rows].map(([m, { partition, record }]) => [
      m,
      partition,
      1,
      record.state.tier,
      nextDueAt(record.state, config),
      record,
    ]),
    {
      key: ["member_id"],
      set: `partition = excluded.partition, version = tier_members.version + 1, tier = excluded.tier,
            due_at = excluded.due_at, record = excluded.record, updated_at = now()`,
    },
  );
  return rows.size;
}
