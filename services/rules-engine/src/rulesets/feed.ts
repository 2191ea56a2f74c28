import type { RuleSetPublished } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import { type Logger, type ServiceKit, TransientError } from "@loyalty/stream-runtime";
import { type Admin, type Consumer, Partitioners, type Producer } from "kafkajs";
import type { RuleSetRegistry } from "../engine/registry.ts";
import { validateRuleSet } from "../rules/validate.ts";
import { readRuleSetSource } from "./files.ts";
import { normalisePublication, publication, sendPublication } from "./topic.ts";

// Every instance reads loyalty.rules.v1 from the beginning with its own consumer group (one
// shared group would hand the topic to one instance only) and keeps every version in a
// RuleSetRegistry, effective in event time from its publishedAt. Versions are also written to
// PostgreSQL: the topic is compacted, the history replays are priced with must not be.
//
// Freshness: before a batch, an instance makes sure it has read every publication made before
// the batch's newest event time (minus RULES_PUBLISH_SKEW_MS for clock skew between the
// publisher and the topic). Historic replays never wait; live events cost one offsets request.

export interface RulesFeedOptions {
  group: string;
  skewMs: number;
}

export class RulesFeed {
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  /** Next offset to read, per partition, once read. */
  private readonly consumed = new Map<number, number>();
  private verifiedAt = Number.NEGATIVE_INFINITY;
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
    const consumer = this.kit.kafka.consumer({ groupId: this.opts.group, allowAutoTopicCreation: false });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (m.value) await this.onPublication(m.value);
          this.consumed.set(batch.partition, Number(m.offset) + 1);
        }
        if (batch.offsetLag() === "0") this.consumed.set(batch.partition, Number(batch.highWatermark));
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }

  private async loadHistory(pool: Pool): Promise<void> {
    const r = await pool.query<{
      rule_set_id: string;
      version: number;
      published_at: Date;
      checksum: string;
      rule_set_json: string;
    }>(
      "select rule_set_id, version, published_at, checksum, rule_set_json from rule_sets where rule_set_id = $1 order by version",
      [this.registry.ruleSetId],
    );
    for (const row of r.rows) {
      const res = this.registry.add({
        ruleSetId: row.rule_set_id,
        version: row.version,
        publishedAt: row.published_at.getTime(),
        checksum: row.checksum,
        ruleSetJson: row.rule_set_json,
      });
      if (res.outcome !== "added")
        this.logger.warn({ version: row.version, res }, "stored rule set not loaded");
    }
  }

  private async onPublication(value: Buffer): Promise<void> {
    let p: RuleSetPublished;
    try {
      p = normalisePublication(await this.kit.codec.decode<RuleSetPublished>(value));
    } catch (err) {
      this.logger.error({ err }, "undecodable rule-set publication ignored");
      return;
    }
    const res = this.registry.add(p);
    if (res.outcome === "added") {
      await this.kit.pool.query(
        `insert into rule_sets (rule_set_id, version, published_at, checksum, rule_set_json)
         values ($1, $2, $3, $4, $5) on conflict do nothing`,
        [p.ruleSetId, p.version, new Date(p.publishedAt).toISOString(), p.checksum, p.ruleSetJson],
      );
      this.logger.info(
        { ruleSetId: p.ruleSetId, version: p.version, publishedAt: p.publishedAt },
        "rule set loaded",
      );
    } else if (res.outcome === "conflict" || res.outcome === "invalid") {
      this.logger.error(
        { ruleSetId: p.ruleSetId, version: p.version, ...res },
        "rule-set publication refused",
      );
    }
  }

  /** Waits until every publication in the topic right now has been read. */
  async catchUp(timeoutMs = 30_000, heartbeat?: () => Promise<void>): Promise<void> {
    if (!this.admin) throw new Error("rules feed not started");
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

  /** Before pricing events up to `eventTime`: every version published by then is known. */
  async ensureFresh(eventTime: number, heartbeat: () => Promise<void>): Promise<void> {
    if (this.registry.size > 0 && eventTime < this.verifiedAt - this.opts.skewMs) return;
    const at = Date.now();
    await this.catchUp(30_000, heartbeat);
    this.verifiedAt = at;
    // No rule set at all: wait for one rather than pay nothing (bootstrap disabled).
    while (this.registry.size === 0) {
      this.logger.warn({ topic: this.topic }, "no rule set published yet; waiting");
      await heartbeat();
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /**
   * First start on an empty topic: publish the standard programme, once across instances
   * (an advisory lock, then a re-check of the topic under it).
   */
  async bootstrap(dir: string): Promise<void> {
    await this.catchUp();
    if (this.registry.size > 0) return;
    const client = await this.kit.pool.connect();
    let producer: Producer | null = null;
    try {
      await client.query("select pg_advisory_lock(hashtext($1))", [`rules-bootstrap:${this.topic}`]);
      await this.catchUp();
      if (this.registry.size > 0) return;
      const src = readRuleSetSource(dir);
      const v = validateRuleSet(src.json, this.registry.programme);
      if (!v.ok) throw new Error(`bootstrap rule set ${src.path} is invalid: ${JSON.stringify(v.errors)}`);
      if (v.ruleSet.id !== this.registry.ruleSetId)
        throw new Error(
          `bootstrap rule set id ${v.ruleSet.id} is not RULE_SET_ID ${this.registry.ruleSetId}`,
        );
      producer = this.kit.kafka.producer({
        allowAutoTopicCreation: false,
        idempotent: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      await sendPublication(
        producer,
        this.kit.codec,
        this.kit.topics.rules,
        publication(v.ruleSet, Date.now()),
      );
      this.logger.info({ dir, version: v.ruleSet.version }, "published the bootstrap rule set");
      await this.catchUp();
    } finally {
      await producer?.disconnect().catch(() => undefined);
      await client
        .query("select pg_advisory_unlock(hashtext($1))", [`rules-bootstrap:${this.topic}`])
        .catch(() => undefined);
      client.release();
    }
  }
}
