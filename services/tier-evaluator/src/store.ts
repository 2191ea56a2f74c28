// Tier state: durable in PostgreSQL (the truth); Redis holds only the due index (a cache that
// may be cold, flushed or stale without changing any result).
//
// - tier_members: one row per member (record jsonb, version, due_at). Writes name the version
//   they replace; a mismatch (another writer) aborts the batch as retriable. Records are read
//   from here: a Redis copy of each record (written at every batch, read after a version check
//   against this table anyway) cost more to write than it saved on reads; copies written by
//   earlier versions (tier:m:<id>) expire with their 7-day TTL.
// - Redis tier:due:<partition> (sorted set by due_at) is the hot due index. Entries may be
//   stale (the record is checked when popped) but never missing: it is rebuilt from
//   tier_members at start, when its marker key is gone, or after a failed write; until then
//   the PostgreSQL index answers.
import type { TierChanged } from "@loyalty/contracts";
import { type Pool, type PoolClient, inTransaction } from "@loyalty/db";
import { type Logger, TransientError } from "@loyalty/stream-runtime";
import type { TierConfig } from "@loyalty/tiers";
import type { Redis } from "ioredis";
import type { MemberRecord } from "./domain/member.ts";

export const CONSUMER = "tier-evaluator";
const OUTBOX_LOCK = 7_340_301;
const DUE_READY = "tier:due:ready";

export interface Loaded {
  record: MemberRecord;
  version: number;
  partition: number;
}

export interface RecordWrite {
  memberId: string;
  partition: number;
  /** The version being replaced (0: a new member). */
  version: number;
  record: MemberRecord;
  dueAt: number | null;
}

export interface Commit {
  writes: RecordWrite[];
  processed: string[];
  clock?: { topic: string; partition: number; clock: number | null };
  changes: TierChanged[];
}

const dueKey = (p: number) => `tier:due:${p}`;

function chunks<T>(a: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

export class TierStore {
  private dueIndexReady = false;

  constructor(
    readonly pool: Pool,
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  async saveSettings(config: TierConfig, clockMode: string, inputTopic: string): Promise<void> {
    await this.pool.query(
      `insert into tier_settings (key, value) values ('programme', $1::jsonb)
       on conflict (key) do update set value = excluded.value, updated_at = now()`,
      [JSON.stringify({ config, clockMode, inputTopic })],
    );
  }

  /** Which of these input event ids were already applied. */
  async processed(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const r = await this.pool.query<{ event_id: string }>(
      "select event_id from processed_events where consumer = $1 and event_id = any($2::text[])",
      [CONSUMER, ids],
    );
    return new Set(r.rows.map((x) => x.event_id));
  }

  async partitionClock(topic: string, partition: number): Promise<number | null> {
    const r = await this.pool.query<{ clock: number | null }>(
      "select clock from tier_partitions where topic = $1 and partition = $2",
      [topic, partition],
    );
    return r.rows[0]?.clock ?? null;
  }

  async partitions(topic: string): Promise<number[]> {
    const r = await this.pool.query<{ partition: number }>(
      "select partition from tier_partitions where topic = $1 order by partition",
      [topic],
    );
    return r.rows.map((x) => x.partition);
  }

  /** Members of `partition` whose due time is strictly before `before` (at most `limit`). */
  async dueBefore(partition: number, before: number, limit = 100_000): Promise<Array<[string, number]>> {
    if (await this.dueIndexUsable()) {
      try {
        const flat = await this.redis.zrangebyscore(
          dueKey(partition),
          "-inf",
          `(${before}`,
          "WITHSCORES",
          "LIMIT",
          0,
          limit,
        );
        const out: Array<[string, number]> = [];
        for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, Number(flat[i + 1])]);
        return out;
      } catch (err) {
        this.logger.warn({ err }, "redis due index unavailable, using PostgreSQL");
        this.dueIndexReady = false;
      }
    }
    const r = await this.pool.query<{ member_id: string; due_at: number }>(
      `select member_id, due_at from tier_members
        where partition = $1 and due_at is not null and due_at < $2 order by due_at limit $3`,
      [partition, before, limit],
    );
    return r.rows.map((x) => [x.member_id, x.due_at]);
  }

  private async dueIndexUsable(): Promise<boolean> {
    if (this.dueIndexReady) {
      try {
        // A flushed Redis loses the marker with the index.
        if ((await this.redis.exists(DUE_READY)) === 1) return true;
      } catch {
        /* treated as not ready */
      }
      this.dueIndexReady = false;
    }
    try {
      await this.rebuildDueIndex();
    } catch (err) {
      this.logger.warn({ err }, "could not rebuild the redis due index");
    }
    return this.dueIndexReady;
  }

  /** Adds every durable due time to Redis. Never deletes: a stale entry is harmless, a missing one is not. */
  async rebuildDueIndex(): Promise<number> {
    let n = 0;
    let after = "";
    for (;;) {
      const r = await this.pool.query<{ member_id: string; partition: number; due_at: number }>(
        `select member_id, partition, due_at from tier_members
          where due_at is not null and member_id > $1 order by member_id limit 5000`,
        [after],
      );
      if (r.rows.length === 0) break;
      const pipe = this.redis.pipeline();
      for (const row of r.rows) pipe.zadd(dueKey(row.partition), row.due_at, row.member_id);
      await pipe.exec();
      n += r.rows.length;
      after = r.rows[r.rows.length - 1]!.member_id;
    }
    await this.redis.set(DUE_READY, "1");
    this.dueIndexReady = true;
    return n;
  }

  /** Records by member id. */
  async load(memberIds: readonly string[]): Promise<Map<string, Loaded>> {
    const out = new Map<string, Loaded>();
    if (memberIds.length === 0) return out;
    const r = await this.pool.query<{
      member_id: string;
      version: number;
      partition: number;
      record: MemberRecord;
    }>("select member_id, version, partition, record from tier_members where member_id = any($1::text[])", [
      memberIds,
    ]);
    for (const row of r.rows)
      out.set(row.member_id, { record: row.record, version: row.version, partition: row.partition });
    return out;
  }

  /** One PostgreSQL transaction for a batch's (or a tick's) effects, then the Redis due index. */
  async commit(c: Commit): Promise<void> {
    await inTransaction(this.pool, async (tx) => {
      await this.writeRecords(tx, c.writes);
      if (c.processed.length > 0) {
        const r = await tx.query(
          `insert into processed_events (consumer, event_id)
           select $1, unnest($2::text[]) on conflict do nothing`,
          [CONSUMER, c.processed],
        );
        if (r.rowCount !== c.processed.length)
          throw new TransientError("input events were applied concurrently by another consumer; retrying");
      }
      if (c.clock) {
        await tx.query(
          `insert into tier_partitions (topic, partition, clock) values ($1, $2, $3)
           on conflict (topic, partition) do update set clock = excluded.clock`,
          [c.clock.topic, c.clock.partition, c.clock.clock],
        );
      }
      if (c.changes.length > 0) {
        // Outbox sequence numbers become visible in order: writers take turns.
        await tx.query("select pg_advisory_xact_lock($1, hashtext(current_schema()))", [OUTBOX_LOCK]);
        await tx.query(
          `insert into tier_outbox (seq, event_id, member_id, effective_at, payload)
           select nextval('tier_outbox_seq'), e, m, t, p
             from (select * from unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[])
                     with ordinality as u(e, m, t, p, o) order by o) s
           on conflict (event_id) do nothing`,
          [
            c.changes.map((x) => x.eventId),
            c.changes.map((x) => x.memberId),
            c.changes.map((x) => x.effectiveAt),
            c.changes.map((x) => JSON.stringify(x)),
          ],
        );
      }
    });
    await this.indexDue(c.writes);
  }

  private async writeRecords(tx: PoolClient, writes: RecordWrite[]): Promise<void> {
    for (const part of chunks(writes, 2000)) {
      // One JSON document rather than six arrays: PostgreSQL parses it much faster than an
      // array literal of quoted JSON texts.
      const rows = part.map((w) => ({
        member_id: w.memberId,
        partition: w.partition,
        version: w.version + 1,
        tier: w.record.state.tier,
        due_at: w.dueAt,
        record: w.record,
      }));
      const r = await tx.query(
        `insert into tier_members (member_id, partition, version, tier, due_at, record)
         select member_id, partition, version, tier, due_at, record
           from jsonb_to_recordset($1::jsonb)
             as x(member_id text, partition int, version bigint, tier text, due_at bigint, record jsonb)
         on conflict (member_id) do update
           set partition = excluded.partition, version = excluded.version, tier = excluded.tier,
               due_at = excluded.due_at, record = excluded.record, updated_at = now()
         where tier_members.version = excluded.version - 1`,
        [JSON.stringify(rows)],
      );
      if (r.rowCount !== part.length) {
        throw new TransientError(
          "a member's tier state changed under this batch (version conflict); retrying",
        );
      }
    }
  }

  /** The Redis due index follows each committed write. */
  private async indexDue(writes: RecordWrite[]): Promise<void> {
    if (writes.length === 0) return;
    try {
      const pipe = this.redis.pipeline();
      for (const w of writes) {
        if (w.dueAt === null) pipe.zrem(dueKey(w.partition), w.memberId);
        else pipe.zadd(dueKey(w.partition), w.dueAt, w.memberId);
      }
      const res = await pipe.exec();
      if (res?.some(([err]) => err)) throw res.find(([err]) => err)![0];
    } catch (err) {
      // PostgreSQL has it all; the index is rebuilt before it is used again.
      this.logger.warn({ err }, "redis write failed; the due index will be rebuilt");
      this.dueIndexReady = false;
    }
  }
}
