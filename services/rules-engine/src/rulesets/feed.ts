import { type DlqReasonCode, type RuleSetPublished, isRegistryFramed } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import {
  type ConsumedMessage,
  type Logger,
  type ServiceKit,
  TransientError,
  toConsumed,
} from "@loyalty/stream-runtime";
import { type Admin, type Consumer, type KafkaMessage, Partitioners, type Producer } from "kafkajs";
import type { Candidate, PublicationAudit, RuleSetRegistry } from "../engine/registry.ts";
import { type TrustedKeys, verifyPublication } from "./signing.ts";
import { normalisePublication } from "./topic.ts";

// The engine only reads loyalty.rules.v1: the `publisher` principal alone may write it (ADR 17,
// docs/security.md). Every instance reads loyalty.rules.v1 from the beginning with its own consumer group (one
// shared group would hand the topic to one instance only) and keeps every accepted version in a
// RuleSetRegistry. Versions are also written to PostgreSQL (rule_sets): the topic is compacted,
// the history replays are priced with must not be.
//
// Acceptance (RuleSetRegistry.admit): signed by a key in RULES_PUBLIC_KEYS, a version greater
// than the newest running one, valid. Anything else (unsigned, unknown key, bad signature,
// replayed, version-lowering, invalid, undecodable, empty) is dead-lettered once (the first
// instance to record it in rule_set_rejections sends it) and changes nothing.
//
// Effective time: the engine's own stream time when a version is first accepted, never the
// publisher's clock: just after every event time this instance has priced or is about to price
// (ensureFresh's argument) and every event time any instance has committed (the newest
// event_time in rules_priced_events, which also covers a restart), in
// event mode and wall mode alike (wall mode's stream time is its events' times too). It is stored
// in rule_sets.effective_at; the first instance to store a version decides it for all, and a
// restart loads it from there, so a replay prices the same. While a version is being installed,
// ensureFresh waits, so no batch prices past its effective time with the older version.
//
// Freshness: before a batch, an instance makes sure it has read every publication made before
// the batch's newest event time (minus RULES_PUBLISH_SKEW_MS). Historic replays never wait; live
// events cost one offsets request. Correctness does not depend on it (a late read only makes
// the effective time later); it makes a publication take effect promptly.

export interface RulesFeedOptions {
  group: string;
  skewMs: number;
  /** Public keys whose signatures are accepted (RULES_PUBLIC_KEYS). */
  keys: TrustedKeys;
}

export class RulesFeed {
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private producer: Producer | null = null;
  /** Next offset to read, per partition, once read. */
  private readonly consumed = new Map<number, number>();
  private verifiedAt = Number.NEGATIVE_INFINITY;
  /** The newest event time this instance has priced or is about to price. */
  private pricedUpTo = Number.NEGATIVE_INFINITY;
  /** Set while a version is being installed: batches wait for it. */
  private installing: Promise<void> | null = null;
  private readonly topic: string;
  private readonly logger: Logger;

  constructor(
    private readonly kit: ServiceKit,
    private readonly registry: RuleSetRegistry,
    private readonly opts: RulesFeedOptions,
  ) {
    this.topic = kit.topics.rules.name;
    this.logger = kit.logger;
  }

  async start(): Promise<void> {
    await this.loadHistory(this.kit.pool);
    this.admin = this.kit.kafka.admin();
    await this.admin.connect();
    this.producer = this.kit.kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();
    const consumer = this.kit.kafka.consumer({ groupId: this.opts.group, allowAutoTopicCreation: false });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          await this.onRecord(batch.partition, m);
          this.consumed.set(batch.partition, Number(m.offset) + 1);
        }
        if (batch.offsetLag() === "0") this.consumed.set(batch.partition, Number(batch.highWatermark));
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }

  /** The versions this engine accepted before: trusted as stored (they were verified then). */
  private async loadHistory(pool: Pool): Promise<void> {
    const r = await pool.query<{
      rule_set_id: string;
      version: number;
      effective_at: Date;
      published_at: Date;
      checksum: string;
      rule_set_json: string;
      publisher: string | null;
      key_id: string | null;
      digest: string | null;
      signature: Buffer | null;
      source_partition: number | null;
      source_offset: string | null;
    }>(
      `select rule_set_id, version, effective_at, published_at, checksum, rule_set_json, publisher, key_id,
              digest, signature, source_partition, source_offset
         from rule_sets where rule_set_id = $1 order by version`,
      [this.registry.ruleSetId],
    );
    for (const row of r.rows) {
      const audit: PublicationAudit | null =
        row.publisher !== null &&
        row.key_id !== null &&
        row.digest !== null &&
        row.signature !== null &&
        row.source_partition !== null &&
        row.source_offset !== null
          ? {
              publisher: row.publisher,
              keyId: row.key_id,
              digest: row.digest,
              signature: row.signature,
              publishedAt: row.published_at.getTime(),
              partition: row.source_partition,
              offset: String(row.source_offset),
            }
          : null;
      const res = this.registry.add({
        ruleSetId: row.rule_set_id,
        version: row.version,
        effectiveAt: row.effective_at.getTime(),
        checksum: row.checksum,
        ruleSetJson: row.rule_set_json,
        audit,
      });
      if (res.outcome !== "added")
        this.logger.warn({ version: row.version, res }, "stored rule set not loaded");
    }
  }

  private async onRecord(partition: number, m: KafkaMessage): Promise<void> {
    const consumed = toConsumed(this.topic, partition, m);
    const decoded = await this.decode(consumed);
    if (!decoded.ok) {
      await this.refuse(consumed, null, decoded.code, decoded.reason);
      return;
    }
    const p = decoded.publication;
    const verdict = this.registry.admit(p, { partition, offset: m.offset }, (x) =>
      verifyPublication(x, this.opts.keys),
    );
    if (verdict.kind === "other-id" || verdict.kind === "already-running") return;
    if (verdict.kind === "reject") {
      await this.refuse(consumed, p, verdict.code, verdict.detail);
      return;
    }
    await this.accept(verdict.candidate);
  }

  private async decode(
    m: ConsumedMessage,
  ): Promise<
    { ok: true; publication: RuleSetPublished } | { ok: false; code: DlqReasonCode; reason: string }
  > {
    if (m.value === null || m.value.length === 0)
      return { ok: false, code: "EMPTY_PAYLOAD", reason: "rule-set record has no value" };
    if (!isRegistryFramed(m.value))
      return { ok: false, code: "MALFORMED_AVRO", reason: "not registry-framed Avro" };
    try {
      return {
        ok: true,
        publication: normalisePublication(await this.kit.codec.decode<RuleSetPublished>(m.value)),
      };
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      const status = (err as { status?: unknown }).status;
      if (status === 404 || /not found/i.test(text))
        return { ok: false, code: "UNKNOWN_SCHEMA_ID", reason: text };
      // The registry being unreachable is not the record's fault: retried, never dead-lettered.
      if (typeof status === "number" || /ECONN|ETIMEDOUT|EAI_AGAIN|socket|network|fetch failed/i.test(text))
        throw new TransientError(`schema registry unavailable: ${text}`, err);
      return { ok: false, code: "MALFORMED_AVRO", reason: text };
    }
  }

  /**
   * Installs an accepted version from its effective time. The time is fixed (and batches held,
   * see ensureFresh) in one synchronous step; the stored row's time wins if another instance
   * stored the version first.
   */
  private async accept(c: Candidate): Promise<void> {
    const inStore = await this.newestPricedInStore();
    let release: () => void = () => undefined;
    this.installing = new Promise<void>((r) => {
      release = r;
    });
    try {
      const effectiveAt = this.registry.effectiveTimeFor(Math.max(this.pricedUpTo, inStore) + 1);
      await this.kit.pool.query(
        `insert into rule_sets (rule_set_id, version, published_at, effective_at, checksum, rule_set_json,
                                publisher, key_id, digest, signature, source_partition, source_offset, accepted_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now()) on conflict do nothing`,
        [
          c.ruleSetId,
          c.version,
          new Date(c.audit.publishedAt).toISOString(),
          new Date(effectiveAt).toISOString(),
          c.checksum,
          c.ruleSetJson,
          c.audit.publisher,
          c.audit.keyId,
          c.audit.digest,
          c.audit.signature,
          c.audit.partition,
          c.audit.offset,
        ],
      );
      const stored = await this.kit.pool.query<{ effective_at: Date; digest: string | null }>(
        "select effective_at, digest from rule_sets where rule_set_id = $1 and version = $2",
        [c.ruleSetId, c.version],
      );
      const row = stored.rows[0];
      if (row === undefined) throw new TransientError(`rule set ${c.ruleSetId} v${c.version} not stored`);
      if (row.digest !== null && row.digest !== c.audit.digest) {
        // Another instance accepted another record of this version first: that one runs.
        this.logger.warn(
          { ruleSetId: c.ruleSetId, version: c.version },
          "another record of this version was accepted first",
        );
        return;
      }
      this.registry.install(c, row.effective_at.getTime());
      this.logger.info(
        {
          ruleSetId: c.ruleSetId,
          version: c.version,
          effectiveAt: row.effective_at.toISOString(),
          publisher: c.audit.publisher,
          keyId: c.audit.keyId,
          digest: c.audit.digest,
        },
        "rule set accepted",
      );
    } finally {
      this.installing = null;
      release();
    }
  }

  /**
   * The newest event time any instance has committed as priced (rules_priced_events): covers
   * this instance after a restart and other instances' committed batches. One scan per accepted
   * publication (rare). Not there (a store without that table): -Infinity.
   */
  private async newestPricedInStore(): Promise<number> {
    const r = await this.kit.pool.query<{ t: string | null }>(
      `select case when to_regclass('rules_priced_events') is null then null
              else (select (extract(epoch from max(event_time)) * 1000)::bigint::text from rules_priced_events) end as t`,
    );
    const t = r.rows[0]?.t;
    return t === null || t === undefined ? Number.NEGATIVE_INFINITY : Number(t);
  }

  /**
   * Dead-letters a refused publication once: the instance whose insert into rule_set_rejections
   * succeeds sends it, in the same PostgreSQL transaction (a crash before the commit sends it
   * again on the next read: at least once).
   */
  private async refuse(
    m: ConsumedMessage,
    p: RuleSetPublished | null,
    code: DlqReasonCode,
    reason: string,
  ): Promise<void> {
    const client = await this.kit.pool.connect();
    let sent = false;
    try {
      await client.query("begin");
      const ins = await client.query(
        `insert into rule_set_rejections (source_topic, source_partition, source_offset, rule_set_id, version,
                                          reason_code, reason, publisher, key_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`,
        [
          m.topic,
          m.partition,
          m.offset,
          p?.ruleSetId ?? null,
          p !== null && Number.isSafeInteger(p.version) ? p.version : null,
          code,
          reason,
          p?.publisher ?? null,
          p?.keyId ?? null,
        ],
      );
      if (ins.rowCount === 1) {
        const out = await this.kit.dlq.toMessage({ message: m, code, reason });
        if (this.producer === null) throw new TransientError("rules feed not started");
        await this.producer.send({
          topic: out.topic,
          acks: -1,
          messages: [
            {
              key: out.key,
              value: out.value,
              ...(out.timestamp === undefined ? {} : { timestamp: String(out.timestamp) }),
            },
          ],
        });
        sent = true;
      }
      await client.query("commit");
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    if (sent)
      this.logger.warn(
        {
          code,
          reason,
          partition: m.partition,
          offset: m.offset,
          ruleSetId: p?.ruleSetId,
          version: p?.version,
        },
        "rule-set publication refused and dead-lettered",
      );
  }

  /** Waits until every publication in the topic right now has been read. */
  async catchUp(timeoutMs = 30_000, heartbeat?: () => Promise<void>): Promise<void> {
    if (!this.admin) throw new TransientError("rules feed not started");
    const started = Date.now();
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    for (;;) {
      const behind = offsets.filter(
        (o) => o.high !== o.low && (this.consumed.get(o.partition) ?? 0) < Number(o.high),
      );
      if (behind.length === 0) return;
      if (Date.now() - started > timeoutMs)
        throw new TransientError(`rules topic not read to its end after ${timeoutMs} ms`);
      await heartbeat?.();
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Before pricing events up to `eventTime`: every version published by then is known, and no
   * version is half installed. The pipeline calls it with each batch's newest event time before
   * pricing the batch: from then on, a version accepted takes effect after that time. (Caught up
   * first, then raised: a publication read by this call is effective for this batch's events.)
   */
  async ensureFresh(eventTime: number, heartbeat: () => Promise<void>): Promise<void> {
    if (!(this.registry.size > 0 && eventTime < this.verifiedAt - this.opts.skewMs)) {
      const at = Date.now();
      await this.catchUp(30_000, heartbeat);
      this.verifiedAt = at;
      // No rule set at all (nothing published yet: the engine never publishes one itself): wait
      // for one rather than price with nothing. The batch is neither priced nor committed, so
      // its purchases are priced once a rule set arrives.
      while (this.registry.size === 0) {
        this.logger.warn({ topic: this.topic }, "no rule set published yet; waiting");
        await heartbeat();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    // Synchronously with the check below: a version whose effective time is fixed after this
    // line takes effect after eventTime; one fixed before it is installed before we return.
    if (eventTime > this.pricedUpTo) this.pricedUpTo = eventTime;
    while (this.installing !== null) await this.installing;
  }
}
