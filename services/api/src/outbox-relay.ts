// Relays api_outbox to loyalty.points.v1. Rows are written in the same PostgreSQL transaction
// as the ledger rows they describe (so only committed changes are ever sent), sent in seq order
// by an idempotent producer (acks=all), and deleted only after the broker acknowledged them.
// A crash between the acknowledgement and the delete re-sends those rows with the same event ids
// (ledger entry ids), which downstream consumers dedupe on: at-least-once with stable ids (ADR 9).
// One relay at a time per namespace: a transaction-scoped advisory lock elects it, so rows of a
// member (whose writes are serialised by the balance lock) leave in commit order.
import type { AvroCodec, PointsMovement, TopicSpec } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import type { Logger } from "@loyalty/stream-runtime";
import { CompressionTypes, type Kafka, Partitioners, type Producer } from "kafkajs";

const RELAY_LOCK = 5_090_001;

export class OutboxRelay {
  private readonly producer: Producer;
  private chain: Promise<unknown> = Promise.resolve();
  private pending = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly sentListeners: Array<(sent: readonly PointsMovement[]) => void> = [];

  constructor(
    kafka: Kafka,
    private readonly pool: Pool,
    private readonly codec: AvroCodec,
    private readonly topic: TopicSpec,
    private readonly logger: Logger,
    private readonly batch = 500,
  ) {
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // The idempotent producer must retry until the broker answers (kafkajs warns otherwise).
      retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5_000 },
    });
  }

  /** Called with the movements of each pass the broker acknowledged and the outbox let go (metrics). */
  onSent(listener: (sent: readonly PointsMovement[]) => void): void {
    this.sentListeners.push(listener);
  }

  async start(intervalMs: number): Promise<void> {
    await this.producer.connect();
    this.timer = setInterval(() => this.nudge(), intervalMs);
    this.timer.unref();
    this.nudge();
  }

  /** Asks for a relay pass soon; passes coalesce, so calling it per request is cheap. */
  nudge(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    this.chain = this.chain.then(async () => {
      this.pending = false;
      try {
        while ((await this.runOnce()) === this.batch);
      } catch (err) {
        this.logger.warn({ err }, "outbox relay failed; will retry");
      }
    });
  }

  /** Sends everything committed so far (shutdown's last step before closing clients). */
  async drain(): Promise<number> {
    await this.chain;
    let sent = 0;
    for (;;) {
      const n = await this.runOnce();
      sent += n;
      if (n < this.batch) return sent;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    await this.producer.disconnect();
  }

  /** One pass: returns how many rows were sent (0 when another instance holds the relay). */
  async runOnce(): Promise<number> {
    const c = await this.pool.connect();
    try {
      await c.query("begin");
      const lock = await c.query<{ ok: boolean }>(
        "select pg_try_advisory_xact_lock($1, hashtext(current_schema())) as ok",
        [RELAY_LOCK],
      );
      if (!lock.rows[0]?.ok) {
        await c.query("rollback");
        return 0;
      }
      const rows = await c.query<{
        seq: number;
        member_id: string;
        event_time: number;
        payload: PointsMovement;
      }>("select seq, member_id, event_time, payload from api_outbox order by seq limit $1", [this.batch]);
      if (rows.rows.length === 0) {
        await c.query("commit");
        return 0;
      }
      const messages = await Promise.all(
        rows.rows.map(async (r) => ({
          key: r.member_id,
          value: await this.codec.encode(this.topic, r.payload),
          timestamp: String(r.event_time),
        })),
      );
      await this.producer.send({
        topic: this.topic.name,
        acks: -1,
        compression: CompressionTypes.None,
        messages,
      });
      // A delete, not a "sent" mark: no new row version and index entries per row sent.
      await c.query("delete from api_outbox where seq = any($1::bigint[])", [rows.rows.map((r) => r.seq)]);
      await c.query("commit");
      const sent = rows.rows.map((r) => r.payload);
      for (const l of this.sentListeners) {
        try {
          l(sent);
        } catch {
          // An observer (metrics) never turns a relayed pass into a failed one.
        }
      }
      return rows.rows.length;
    } catch (err) {
      await c.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
}
