// The ingestor's tables (migrations 100 and 101) as the sink of its tasks' state (ADR 16): read
// whole when partitions are assigned, written set-based, one statement per table per batch,
// in the runtime's transaction with the tasks' offsets and stream time.
import { type Pool, type PoolClient, copyUpsert, prepared } from "@loyalty/db";
import type { Task } from "@loyalty/stream-runtime";
import {
  type IngestState,
  type MemberRow,
  type OrderSlot,
  type SourceRecord,
  ingestState,
} from "./domain/index.ts";

/**
 * A held record's headers in ingest_held_messages.headers (jsonb): [[key, base64 | null], ...],
 * one entry per value, so that a refund dead-lettered after a restart keeps binary and repeated
 * headers byte for byte. Rows written before this form hold the text map ({ key: "a,b" }); they
 * are read as they are.
 */
type StoredHeaders = Array<[string, string | null]> | Record<string, string>;

function storedHeaders(r: SourceRecord): StoredHeaders {
  if (!r.headerEntries) return r.headers;
  return r.headerEntries.map((h): [string, string | null] => [
    h.key,
    h.value === null ? null : h.value.toString("base64"),
  ]);
}

function headersFrom(stored: StoredHeaders): Pick<SourceRecord, "headers" | "headerEntries"> {
  if (!Array.isArray(stored)) return { headers: stored };
  const headerEntries = stored.map(([key, v]) => ({
    key,
    value: v === null ? null : Buffer.from(v, "base64"),
  }));
  // The text form as the consumer builds it: a key's values joined with commas.
  const text = new Map<string, string[]>();
  for (const h of headerEntries) {
    const values = text.get(h.key) ?? [];
    values.push(h.value === null ? "null" : h.value.toString("utf8"));
    text.set(h.key, values);
  }
  const headers: Record<string, string> = {};
  for (const [key, values] of text)
    Object.defineProperty(headers, key, {
      value: values.join(","),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return { headers, headerEntries };
}

/**
 * The stored state of these partitions. Rows written before migration 101 have no partition
 * (it cannot be computed in SQL from a customer id): every task restores them, and the task
 * that owns them claims them when it next writes them.
 */
export async function restoreIngest(
  db: Pool,
  partitions: readonly number[],
): Promise<Map<number, IngestState>> {
  const ps = [...partitions];
  const [orders, members, held, events] = await Promise.all([
    db.query<{ partition: number | null; order_key: string; slot: OrderSlot }>(
      "select partition, order_key, slot from ingest_orders where partition = any($1::int[]) or partition is null",
      [ps],
    ),
    db.query<{
      partition: number | null;
      member_id: string;
      enrolled_at: number;
      enrolled_via: string;
      registered: boolean;
    }>(
      "select partition, member_id, enrolled_at, enrolled_via, registered from ingest_members where partition = any($1::int[]) or partition is null",
      [ps],
    ),
    db.query<{
      event_id: string;
      src_topic: string;
      src_partition: number;
      src_offset: string;
      src_timestamp: number;
      msg_key: Buffer | null;
      msg_value: Buffer | null;
      headers: StoredHeaders;
    }>(
      "select event_id, src_topic, src_partition, src_offset::text, src_timestamp, msg_key, msg_value, headers from ingest_held_messages where src_partition = any($1::int[])",
      [ps],
    ),
    db.query<{ src_partition: number; event_id: string }>(
      "select src_partition, event_id from ingest_events where src_partition = any($1::int[])",
      [ps],
    ),
  ]);
  const parts = new Map(
    ps.map((p) => [
      p,
      {
        slots: new Map<string, OrderSlot>(),
        held: new Map<string, SourceRecord>(),
        members: new Map<string, MemberRow>(),
        seen: new Set<string>(),
      },
    ]),
  );
  const each = (partition: number | null, fn: (s: NonNullable<ReturnType<typeof parts.get>>) => void) => {
    if (partition === null) for (const s of parts.values()) fn(s);
    else {
      const s = parts.get(partition);
      if (s) fn(s);
    }
  };
  // Legacy rows first: a row a task has claimed since wins over them.
  const legacyFirst = <T extends { partition: number | null }>(rows: T[]) =>
    [...rows].sort((a, b) => (a.partition === null ? 0 : 1) - (b.partition === null ? 0 : 1));
  for (const r of legacyFirst(orders.rows)) each(r.partition, (s) => s.slots.set(r.order_key, r.slot));
  for (const r of legacyFirst(members.rows))
    each(r.partition, (s) =>
      s.members.set(r.member_id, {
        memberId: r.member_id,
        enrolledAt: Number(r.enrolled_at),
        enrolledVia: r.enrolled_via,
        registered: r.registered,
      }),
    );
  for (const r of held.rows)
    each(r.src_partition, (s) =>
      s.held.set(r.event_id, {
        topic: r.src_topic,
        partition: r.src_partition,
        offset: r.src_offset,
        timestamp: Number(r.src_timestamp),
        key: r.msg_key,
        value: r.msg_value,
        ...headersFrom(r.headers),
      }),
    );
  for (const r of events.rows) each(r.src_partition, (s) => s.seen.add(r.event_id));
  return new Map([...parts].map(([p, s]) => [p, ingestState(s)]));
}

/** What changed in these tasks since their last committed flush: at most one statement per table. */
export async function flushIngest(tx: PoolClient, tasks: readonly Task<IngestState>[]): Promise<void> {
  const events: Array<{ id: string; r: SourceRecord }> = [];
  // Keyed maps: with input keyed as agreed no key is in two tasks, but one statement may not
  // update a row twice whatever the input.
  const slots = new Map<string, { p: number; s: OrderSlot }>();
  const members = new Map<string, { p: number; m: MemberRow }>();
  const held: Array<{ id: string; r: SourceRecord }> = [];
  const dropped: string[] = [];
  const counts = { accepted: 0, duplicates: 0, rejected: 0 };
  for (const t of tasks) {
    const { state } = t;
    const c = state.changes;
    for (const e of c.events) events.push({ id: e.eventId, r: e.record });
    for (const key of c.slots) {
      const s = state.slots.get(key);
      if (s) slots.set(key, { p: t.partition, s });
    }
    for (const id of c.members) {
      const m = state.members.get(id);
      if (m) members.set(id, { p: t.partition, m });
    }
    for (const id of c.held) {
      const r = state.held.get(id);
      if (r) held.push({ id, r });
      else dropped.push(id);
    }
    counts.accepted += c.counts.accepted;
    counts.duplicates += c.counts.duplicates;
    counts.rejected += c.counts.rejected;
  }

  if (events.length > 0)
    await tx.query(
      prepared(`insert into ingest_events (event_id, src_topic, src_partition, src_offset)
       select * from unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
       on conflict do nothing`),
      [
        events.map((e) => e.id),
        events.map((e) => e.r.topic),
        events.map((e) => e.r.partition),
        events.map((e) => e.r.offset),
      ],
    );
  // Staged with COPY and upserted from there (packages/db/src/copy.ts), not parsed from one JSON
  // document.
  await copyUpsert(
    tx,
    "ingest_orders",
    ["order_key", "partition", "slot"],
    [...slots].map(([k, v]) => [k, v.p, v.s]),
    { key: ["order_key"], set: "partition = excluded.partition, slot = excluded.slot" },
  );
  if (members.size > 0) {
    const rows = [...members.values()];
    await tx.query(
      prepared(`insert into ingest_members (member_id, partition, enrolled_at, enrolled_via, registered)
       select * from unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bool[])
       on conflict (member_id) do update
         set partition = excluded.partition, registered = ingest_members.registered or excluded.registered`),
      [
        rows.map((r) => r.m.memberId),
        rows.map((r) => r.p),
        rows.map((r) => r.m.enrolledAt),
        rows.map((r) => r.m.enrolledVia),
        rows.map((r) => r.m.registered),
      ],
    );
  }
  if (held.length > 0 || dropped.length > 0)
    await tx.query(
      prepared(`with dropped as (delete from ingest_held_messages where event_id = any($1::text[]))
       insert into ingest_held_messages
         (event_id, src_topic, src_partition, src_offset, src_timestamp, msg_key, msg_value, headers)
       select * from unnest($2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::bytea[], $8::bytea[], $9::jsonb[])
       on conflict (event_id) do nothing`),
      [
        dropped,
        held.map((h) => h.id),
        held.map((h) => h.r.topic),
        held.map((h) => h.r.partition),
        held.map((h) => h.r.offset),
        held.map((h) => h.r.timestamp),
        held.map((h) => h.r.key),
        held.map((h) => h.r.value),
        held.map((h) => JSON.stringify(storedHeaders(h.r))),
      ],
    );
  const names = Object.keys(counts).filter((k) => counts[k as keyof typeof counts] > 0);
  if (names.length > 0)
    await tx.query(
      prepared(`insert into ingest_counters (name, n) select * from unnest($1::text[], $2::bigint[])
       on conflict (name) do update set n = ingest_counters.n + excluded.n`),
      [names, names.map((n) => counts[n as keyof typeof counts])],
    );
}
