// Relays tier_outbox to loyalty.tiers.v1, exactly once.
//
// Changes are written to tier_outbox in the same PostgreSQL transaction as the state that
// produced them (batches and timer ticks alike). The relay sends the rows after its position in
// a Kafka transaction that also commits the new position as the offset of a consumer group of
// its own (`<group>-outbox`, on partition 0 of the tiers topic): records and position become
// visible together or not at all. After a crash the position read back from Kafka is exactly
// what read_committed consumers have seen, so nothing is lost and nothing is sent twice.
// One relay per engine at a time: a PostgreSQL advisory lock elects it.
import type { Topics } from "@loyalty/contracts";
import type { AvroCodec, TierChanged } from "@loyalty/contracts";
import type { Pool, PoolClient } from "@loyalty/db";
import type { Logger } from "@loyalty/stream-runtime";
import { CompressionTypes, type Kafka, Partitioners, type Producer } from "kafkajs";
import type { QueryResult } from "pg";

// Advisory locks are database-wide: the second key keeps namespaces (schemas) apart.
const RELAY_LOCK = 7_340_302;

interface OutboxRow {
  seq: number;
  member_id: string;
  effective_at: number;
  payload: TierChanged;
}
const BATCH = 2000;

export class OutboxRelay {
  private readonly producer: Producer;
  private position: number | null = null;
  private lockClient: PoolClient | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly sentListeners: Array<(sent: readonly TierChanged[]) => void> = [];

  constructor(
    private readonly kafka: Kafka,
    private readonly pool: Pool,
    private readonly codec: AvroCodec,
    private readonly topics: Topics,
    private readonly positionGroup: string,
    transactionalId: string,
    private readonly logger: Logger,
  ) {
    this.producer = kafka.producer({
      // Same keyed partitioning as every other producer of the engine (murmur2, Java-compatible).
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      allowAutoTopicCreation: false,
      retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5_000 },
    });
  }

  /** Called with the changes of each committed relay transaction (metrics): each change once. */
  onSent(listener: (sent: readonly TierChanged[]) => void): void {
    this.sentListeners.push(listener);
  }

  /** Connecting fences an earlier incarnation with the same transactional id. */
  async start(intervalMs = 1000): Promise<void> {
    await this.producer.connect();
    await this.run();
    // Rows another instance wrote (or a tick whose relay failed) still go out when idle.
    this.timer = setInterval(() => {
      void this.run().catch((err) => this.logger.warn({ err }, "outbox relay failed; will retry"));
    }, intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    await this.release();
    await this.producer.disconnect();
  }

  /** Sends every outbox row after the relay's position. Serialised; safe to call often. */
  run(): Promise<number> {
    const next = this.chain.then(
      () => this.runOnce(),
      () => this.runOnce(),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async runOnce(): Promise<number> {
    const pending = await this.pool.query<{ n: number }>(
      "select count(*)::int as n from (select 1 from tier_outbox limit 1) x",
    );
    if (pending.rows[0]!.n === 0) return 0;
    if (!(await this.acquire())) return 0;
    if (this.position === null) this.position = await this.readPosition();
    let sent = 0;
    for (;;) {
      const rows: QueryResult<OutboxRow> = await this.pool.query<OutboxRow>(
        "select seq, member_id, effective_at, payload from tier_outbox where seq > $1 order by seq limit $2",
        [this.position, BATCH],
      );
      if (rows.rows.length === 0) break;
      const messages = [];
      for (const r of rows.rows) {
        messages.push({
          key: r.member_id,
          value: await this.codec.encode(this.topics.tiers, r.payload),
          timestamp: String(r.effective_at),
        });
      }
      const last: number = rows.rows[rows.rows.length - 1]!.seq;
      const txn = await this.producer.transaction();
      try {
        await txn.send({
          topic: this.topics.tiers.name,
          messages,
          acks: -1,
          compression: CompressionTypes.None,
        });
        await txn.sendOffsets({
          consumerGroupId: this.positionGroup,
          topics: [{ topic: this.topics.tiers.name, partitions: [{ partition: 0, offset: String(last) }] }],
        });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => undefined);
        // The outcome may be unknown (a commit that timed out): read the position back from
        // Kafka before sending anything again.
        this.position = null;
        throw err;
      }
      this.position = last;
      sent += rows.rows.length;
      const changes = rows.rows.map((r) => r.payload);
      for (const l of this.sentListeners) {
        try {
          l(changes);
        } catch {
          // An observer (metrics) never turns a relayed pass into a failed one.
        }
      }
    }
    // Sent rows are only kept until the position is durable in Kafka; the copy in PostgreSQL
    // is a lower bound used if that offset ever expires.
    await this.pool.query("delete from tier_outbox where seq <= $1", [this.position]);
    await this.pool.query(
      `insert into tier_settings (key, value) values ('relay_position', $1::jsonb)
       on conflict (key) do update set value = excluded.value, updated_at = now()`,
      [JSON.stringify({ seq: this.position })],
    );
    return sent;
  }

  private async readPosition(): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    let fromKafka = -1;
    try {
      const offsets = await admin.fetchOffsets({
        groupId: this.positionGroup,
        topics: [this.topics.tiers.name],
      });
      const p0 = offsets[0]?.partitions.find((p) => p.partition === 0);
      if (p0) fromKafka = Number(p0.offset);
    } finally {
      await admin.disconnect();
    }
    const r = await this.pool.query<{ value: { seq: number } }>(
      "select value from tier_settings where key = 'relay_position'",
    );
    const fromPg = r.rows[0]?.value.seq ?? -1;
    const position = Math.max(fromKafka, fromPg, 0);
    this.logger.info({ position, fromKafka, fromPg }, "outbox relay position");
    return position;
  }

  private async acquire(): Promise<boolean> {
    if (this.lockClient) return true;
    const c = await this.pool.connect();
    try {
      const r = await c.query<{ ok: boolean }>(
        "select pg_try_advisory_lock($1, hashtext(current_schema())) as ok",
        [RELAY_LOCK],
      );
      if (!r.rows[0]?.ok) {
        c.release();
        return false;
      }
    } catch (err) {
      c.release();
      throw err;
    }
    // Broken connection = lost lock: drop it and re-read the position on the next run.
    c.on("error", () => {
      this.lockClient = null;
      this.position = null;
    });
    this.lockClient = c;
    this.position = null;
    return true;
  }

  private async release(): Promise<void> {
    const c = this.lockClient;
    this.lockClient = null;
    if (!c) return;
    await c
      .query("select pg_advisory_unlock($1, hashtext(current_schema()))", [RELAY_LOCK])
      .catch(() => undefined);
    c.release();
  }
}
