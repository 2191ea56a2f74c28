// The ingestor's state lives in PostgreSQL.
import { type Pool, type PoolClient, inTransaction } from "@loyalty/db";
import type { ConsumedMessage } from "@loyalty/stream-runtime";
import type { OrderSlot } from "./domain/index.ts";
import type { Output } from "./pipeline.ts";

export interface MemberRow {
  memberId: string;
  enrolledAt: number;
  enrolledVia: string;
  registered: boolean;
}

/** A held refund's original message, kept to dead-letter it byte for byte if it expires. */
export interface HeldMessage {
  topic: string;
  partition: number;
  offset: string;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

type Owner = { topic: string; partition: number };

interface StoredHeld {
  topic: string;
  partition: number;
  offset: string;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function toStored(h: HeldMessage): StoredHeld {
  return { ...h, key: h.key?.toString("base64") ?? null, value: h.value?.toString("base64") ?? null };
}

function fromStored(h: StoredHeld): HeldMessage {
  return {
    ...h,
    key: h.key === null ? null : Buffer.from(h.key, "base64"),
    value: h.value === null ? null : Buffer.from(h.value, "base64"),
  };
}

/** Outputs are stored as JSON; buffers inside held messages travel as base64. */
function outputsToJson(outputs: Output[]): unknown[] {
  return outputs.map((o) => (o.kind === "dlq" && o.held ? { ...o, held: toStored(o.held) } : o));
}

function outputsFromJson(raw: unknown[]): Output[] {
  return (raw as Array<Output & { held?: StoredHeld }>).map((o) =>
    o.kind === "dlq" && o.held ? { ...o, held: fromStored(o.held as unknown as StoredHeld) } : o,
  ) as Output[];
}

export class IngestTx {
  private readonly members = new Map<string, MemberRow>();
  private readonly slotRows = new Map<
    string,
    { slot: OrderSlot; hold: (Owner & { dueAt: number }) | null }
  >();
  private readonly holdRows = new Map<string, HeldMessage>();
  private readonly dropHeld = new Set<string>();
  private readonly owners = new Map<string, Owner>();
  private readonly clocks = new Map<string, { topic: string; partition: number; time: number }>();

  constructor(readonly client: PoolClient) {}

  async loadMembers(ids: string[]): Promise<Map<string, MemberRow>> {
    const r = await this.client.query<{
      member_id: string;
      enrolled_at: number;
      enrolled_via: string;
      registered: boolean;
    }>(
      "select member_id, enrolled_at, enrolled_via, registered from ingest_members where member_id = any($1)",
      [ids],
    );
    return new Map(
      r.rows.map((x) => [
        x.member_id,
        {
          memberId: x.member_id,
          enrolledAt: x.enrolled_at,
          enrolledVia: x.enrolled_via,
          registered: x.registered,
        },
      ]),
    );
  }

  upsertMember(m: MemberRow): void {
    this.members.set(m.memberId, m);
  }

  /** The batch's slots (locked), plus this partition's slots whose holds fall due by `dueBy`. */
  async loadSlots(
    keys: string[],
    due: { topic: string; partition: number; dueBy: number },
  ): Promise<Map<string, OrderSlot>> {
    const r = await this.client.query<{
      order_key: string;
      slot: OrderSlot;
      hold_topic: string | null;
      hold_partition: number | null;
    }>(
      `select order_key, slot, hold_topic, hold_partition from ingest_orders
        where order_key = any($1)
           or (hold_topic = $2 and hold_partition = $3 and hold_due_at <= $4)
        order by order_key for update`,
      [keys, due.topic, due.partition, Number.isFinite(due.dueBy) ? due.dueBy : 0],
    );
    const out = new Map<string, OrderSlot>();
    for (const row of r.rows) {
      out.set(row.order_key, row.slot);
      if (row.hold_topic !== null && row.hold_partition !== null)
        this.owners.set(row.order_key, { topic: row.hold_topic, partition: row.hold_partition });
    }
    return out;
  }

  holdOwner(key: string): Owner | undefined {
    return this.owners.get(key);
  }

  setHoldOwner(key: string, owner: Owner): void {
    this.owners.set(key, owner);
  }

  saveSlot(key: string, slot: OrderSlot, hold: (Owner & { dueAt: number }) | null): void {
    if (!hold) this.owners.delete(key);
    this.slotRows.set(key, { slot, hold });
  }

  /**
   * Records each event id at its position unless it was seen before, and returns where the ones
   * seen before were first seen ("topic/partition/offset"). One insert claims the new ones (the
   * batch writes them anyway); only ids already present are looked up. Ids must be distinct.
   */
  async claimEvents(
    events: ReadonlyArray<{ eventId: string; offset: string }>,
    topic: string,
    partition: number,
  ) {
    const out = new Map<string, string>();
    if (events.length === 0) return out;
    const r = await this.client.query<{ event_id: string }>(
      `insert into ingest_events (event_id, src_topic, src_partition, src_offset)
       select e, $2, $3, o from unnest($1::text[], $4::bigint[]) as t(e, o)
       on conflict do nothing returning event_id`,
      [events.map((e) => e.eventId), topic, partition, events.map((e) => e.offset)],
    );
    if (r.rows.length === events.length) return out;
    const claimed = new Set(r.rows.map((x) => x.event_id));
    const known = events.filter((e) => !claimed.has(e.eventId)).map((e) => e.eventId);
    const prior = await this.client.query<{ event_id: string; pos: string }>(
      "select event_id, src_topic || '/' || src_partition || '/' || src_offset as pos from ingest_events where event_id = any($1)",
      [known],
    );
    for (const row of prior.rows) out.set(row.event_id, row.pos);
    return out;
  }

  holdMessage(eventId: string, m: ConsumedMessage): void {
    this.holdRows.set(eventId, {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      timestamp: m.timestamp,
      key: m.key,
      value: m.value,
      headers: m.headers,
    });
    this.dropHeld.delete(eventId);
  }

  dropHeldMessage(eventId: string): void {
    this.holdRows.delete(eventId);
    this.dropHeld.add(eventId);
  }

  async takeHeldMessage(eventId: string): Promise<HeldMessage | undefined> {
    const pending = this.holdRows.get(eventId);
    this.dropHeldMessage(eventId);
    if (pending) return pending;
    const r = await this.client.query<{
      src_topic: string;
      src_partition: number;
      src_offset: string;
      src_timestamp: number;
      msg_key: Buffer | null;
      msg_value: Buffer | null;
      headers: Record<string, string>;
    }>(
      "select src_topic, src_partition, src_offset::text, src_timestamp, msg_key, msg_value, headers from ingest_held_messages where event_id = $1",
      [eventId],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      topic: row.src_topic,
      partition: row.src_partition,
      offset: row.src_offset,
      timestamp: row.src_timestamp,
      key: row.msg_key,
      value: row.msg_value,
      headers: row.headers,
    };
  }

  async partitionTime(topic: string, partition: number): Promise<number> {
    const r = await this.client.query<{ event_time: number }>(
      "select event_time from ingest_partition_clock where src_topic = $1 and src_partition = $2",
      [topic, partition],
    );
    return r.rows[0]?.event_time ?? Number.NEGATIVE_INFINITY;
  }

  setPartitionTime(topic: string, partition: number, time: number): void {
    if (Number.isFinite(time)) this.clocks.set(`${topic}/${partition}`, { topic, partition, time });
  }

  async recordOutcomes(topic: string, partition: number, outputs: Map<string, Output[]>): Promise<void> {
    const offsets = [...outputs.keys()];
    if (offsets.length) {
      await this.client.query(
        `insert into ingest_outcomes (src_topic, src_partition, src_offset, outputs)
         select $1, $2, o, j from jsonb_to_recordset($3::jsonb) as t(o bigint, j jsonb)`,
        // One JSON document: pg would escape every quoted JSON text of a jsonb[] array literal.
        [topic, partition, JSON.stringify(offsets.map((o) => ({ o, j: outputsToJson(outputs.get(o)!) })))],
      );
    }
    await this.flush();
  }

  private async flush(): Promise<void> {
    const c = this.client;
    if (this.members.size) {
      const ms = [...this.members.values()];
      await c.query(
        `insert into ingest_members (member_id, enrolled_at, enrolled_via, registered)
         select * from unnest($1::text[], $2::bigint[], $3::text[], $4::bool[])
         on conflict (member_id) do update set registered = ingest_members.registered or excluded.registered`,
        [
          ms.map((m) => m.memberId),
          ms.map((m) => m.enrolledAt),
          ms.map((m) => m.enrolledVia),
          ms.map((m) => m.registered),
        ],
      );
    }
    if (this.slotRows.size) {
      const keys = [...this.slotRows.keys()];
      const rows = keys.map((k) => this.slotRows.get(k)!);
      await c.query(
        `insert into ingest_orders (order_key, slot, hold_topic, hold_partition, hold_due_at)
         select * from jsonb_to_recordset($1::jsonb)
           as x(k text, s jsonb, ht text, hp int, hd bigint)
         on conflict (order_key) do update set slot = excluded.slot, hold_topic = excluded.hold_topic,
           hold_partition = excluded.hold_partition, hold_due_at = excluded.hold_due_at`,
        [
          JSON.stringify(
            keys.map((k, i) => {
              const r = rows[i]!;
              return {
                k,
                s: r.slot,
                ht: r.hold?.topic ?? null,
                hp: r.hold?.partition ?? null,
                hd: r.hold?.dueAt ?? null,
              };
            }),
          ),
        ],
      );
    }
    if (this.dropHeld.size)
      await c.query("delete from ingest_held_messages where event_id = any($1)", [[...this.dropHeld]]);
    for (const [id, h] of this.holdRows) {
      await c.query(
        `insert into ingest_held_messages (event_id, src_topic, src_partition, src_offset, src_timestamp, msg_key, msg_value, headers)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (event_id) do nothing`,
        [id, h.topic, h.partition, h.offset, h.timestamp, h.key, h.value, JSON.stringify(h.headers)],
      );
    }
    for (const k of this.clocks.values()) {
      await c.query(
        `insert into ingest_partition_clock (src_topic, src_partition, event_time) values ($1, $2, $3)
         on conflict (src_topic, src_partition) do update set event_time = greatest(ingest_partition_clock.event_time, excluded.event_time)`,
        [k.topic, k.partition, k.time],
      );
    }
  }

  async addCounters(counts: Record<string, number>): Promise<void> {
    const names = Object.keys(counts).filter((k) => (counts[k] ?? 0) > 0);
    if (!names.length) return;
    await this.client.query(
      `insert into ingest_counters (name, n) select * from unnest($1::text[], $2::bigint[])
       on conflict (name) do update set n = ingest_counters.n + excluded.n`,
      [names, names.map((n) => counts[n])],
    );
  }

  async pruneOutcomes(topic: string, partition: number, before: string): Promise<void> {
    await this.client.query(
      "delete from ingest_outcomes where src_topic = $1 and src_partition = $2 and src_offset < $3",
      [topic, partition, before],
    );
  }
}

export class IngestStore {
  constructor(private readonly pool: Pool) {}

  transaction(fn: (tx: IngestTx) => Promise<void>): Promise<void> {
    return inTransaction(this.pool, (client) => fn(new IngestTx(client)));
  }

  async recordedOutcomes(
    topic: string,
    partition: number,
    offsets: string[],
  ): Promise<Map<string, Output[]>> {
    const r = await this.pool.query<{ src_offset: string; outputs: unknown[] }>(
      "select src_offset::text, outputs from ingest_outcomes where src_topic = $1 and src_partition = $2 and src_offset = any($3::bigint[])",
      [topic, partition, offsets],
    );
    return new Map(r.rows.map((row) => [row.src_offset, outputsFromJson(row.outputs)]));
  }
}
