// The named steps of the tier evaluator: decode -> dedupe -> evaluate (per partition) ->
// commit (PostgreSQL, then Redis) -> relay (outbox to loyalty.tiers.v1).
import {
  type AvroCodec,
  type PointsMovement,
  type PurchaseEvent,
  type Topics,
  isRegistryFramed,
} from "@loyalty/contracts";
import {
  type BatchContext,
  type ConsumedMessage,
  type Logger,
  TransientError,
} from "@loyalty/stream-runtime";
import { type TierChange, type TierConfig, nextDueAt } from "@loyalty/tiers";
import { type InputCheck, type InputSource, fromPoints, fromPurchase, sourceFor } from "./domain/inputs.ts";
import { type MemberRecord, advanceRecord } from "./domain/member.ts";
import { toTierChanged } from "./domain/output.ts";
import { type PartitionItem, processPartition } from "./domain/partition.ts";
import type { OutboxRelay } from "./relay.ts";
import type { Loaded, RecordWrite, TierStore } from "./store.ts";

export interface PipelineOptions {
  config: TierConfig;
  mode: "event" | "wall";
  maxFutureMs: number;
  /** Wall mode: members evaluated per round of a tick. */
  tickBatch?: number;
}

export interface BatchStats {
  applied: number;
  seen: number;
  rejected: number;
  changes: number;
}

export class TierPipeline {
  readonly source: InputSource;
  readonly inputTopic: string;

  constructor(
    private readonly topics: Topics,
    private readonly codec: AvroCodec,
    private readonly store: TierStore,
    private readonly relay: OutboxRelay,
    private readonly opts: PipelineOptions,
    private readonly logger: Logger,
  ) {
    this.source = sourceFor(opts.config.metric);
    this.inputTopic = this.source === "points" ? topics.points.name : topics.purchases.name;
  }

  /** A batch of one topic-partition (the runner's unit), in offset order. */
  async handle(messages: ConsumedMessage[], ctx: BatchContext): Promise<BatchStats> {
    const stats: BatchStats = { applied: 0, seen: 0, rejected: 0, changes: 0 };
    const byPartition = new Map<number, ConsumedMessage[]>();
    for (const m of messages) {
      // The other topic carries nothing this programme's metric counts (see domain/inputs.ts).
      if (m.topic !== this.inputTopic) continue;
      const list = byPartition.get(m.partition);
      if (list) list.push(m);
      else byPartition.set(m.partition, [m]);
    }
    for (const [partition, list] of byPartition) {
      const s = await this.handlePartition(partition, list, ctx);
      stats.applied += s.applied;
      stats.seen += s.seen;
      stats.rejected += s.rejected;
      stats.changes += s.changes;
    }
    await this.relay.run();
    return stats;
  }

  private async decode(m: ConsumedMessage, ctx: BatchContext): Promise<InputCheck | null> {
    if (m.value === null || m.value.length === 0) {
      ctx.deadLetter(m, "EMPTY_PAYLOAD");
      return null;
    }
    if (!isRegistryFramed(m.value)) {
      ctx.deadLetter(m, "MALFORMED_AVRO", "not registry-framed Avro");
      return null;
    }
    let check: InputCheck;
    try {
      check =
        this.source === "points"
          ? fromPoints(await this.codec.decode<PointsMovement>(m.value))
          : fromPurchase(await this.codec.decode<PurchaseEvent>(m.value));
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      const status = (err as { status?: unknown }).status;
      if (status === 404 || /not found/i.test(text)) {
        ctx.deadLetter(m, "UNKNOWN_SCHEMA_ID", text);
        return null;
      }
      // The registry being unreachable is not the message's fault: retry, never dead-letter.
      if (typeof status === "number" || /ECONN|ETIMEDOUT|EAI_AGAIN|socket|network|fetch failed/i.test(text))
        throw new TransientError(`schema registry unavailable: ${text}`, err);
      ctx.deadLetter(m, "MALFORMED_AVRO", text);
      return null;
    }
    if (!check.ok) {
      ctx.deadLetter(m, check.code, check.reason);
      return null;
    }
    return check;
  }

  private async handlePartition(partition: number, messages: ConsumedMessage[], ctx: BatchContext) {
    const stats: BatchStats = { applied: 0, seen: 0, rejected: 0, changes: 0 };
    const t0 = performance.now();
    const inputs = [];
    for (const m of messages) {
      const c = await this.decode(m, ctx);
      if (c?.ok) inputs.push(c.input);
      else stats.rejected++;
    }
    const t1 = performance.now();
    const done = await this.store.processed(inputs.map((i) => i.eventId));
    const fresh = new Set<string>();
    const items: PartitionItem[] = inputs.map((input) => {
      if (done.has(input.eventId) || fresh.has(input.eventId)) {
        stats.seen++;
        return { kind: "seen", eventTime: input.eventTime };
      }
      fresh.add(input.eventId);
      stats.applied++;
      return { kind: "apply", input };
    });

    const event = this.opts.mode === "event";
    const clockBefore = event ? await this.store.partitionClock(this.inputTopic, partition) : null;
    const ceiling = Date.now() + this.opts.maxFutureMs;
    let clockEnd = clockBefore;
    for (const i of items) {
      const t = i.kind === "apply" ? i.input.eventTime : i.eventTime;
      if (t <= ceiling && (clockEnd === null || t > clockEnd)) clockEnd = t;
    }
    const due = event && clockEnd !== null ? await this.store.dueBefore(partition, clockEnd) : [];
    const ids = new Set<string>(inputs.map((i) => i.memberId));
    for (const [m] of due) ids.add(m);
    const loaded = await this.store.load([...ids]);
    // An index entry from the member's previous partition is not this partition's business.
    const dueHere = due.filter(([m]) => loaded.get(m)?.partition === partition);
    const records = new Map<string, MemberRecord>();
    for (const [m, l] of loaded) records.set(m, l.record);

    const t2 = performance.now();
    const result = processPartition({
      config: this.opts.config,
      clock: clockBefore,
      records,
      due: dueHere,
      items,
      clockCeiling: ceiling,
      driveClock: event,
    });
    stats.changes = result.changes.length;
    const t3 = performance.now();
    await this.store.commit({
      writes: this.writes(result.updated, loaded, partition),
      processed: [...fresh],
      clock: { topic: this.inputTopic, partition, clock: event ? result.clock : null },
      changes: result.changes.map(toTierChanged),
    });
    const t4 = performance.now();
    await ctx.heartbeat();
    this.logger.debug(
      {
        partition,
        size: messages.length,
        ...stats,
        ms: {
          decode: Math.round(t1 - t0),
          read: Math.round(t2 - t1),
          evaluate: Math.round(t3 - t2),
          commit: Math.round(t4 - t3),
        },
      },
      "batch evaluated",
    );
    return stats;
  }

  private writes(
    updated: Map<string, MemberRecord>,
    loaded: Map<string, Loaded>,
    partition: number,
  ): RecordWrite[] {
    const out: RecordWrite[] = [];
    // Every updated member either had an event here or was due here: it lives in this partition.
    for (const [memberId, record] of updated) {
      out.push({
        memberId,
        partition,
        version: loaded.get(memberId)?.version ?? 0,
        record,
        dueAt: nextDueAt(record.state, this.opts.config),
      });
    }
    return out;
  }

  /**
   * Time-driven work. Event mode: evaluations already ran at their stream positions in
   * handle(); only the relay is left. Wall mode: every member due by now, everywhere.
   */
  async tick(ctx: BatchContext): Promise<number> {
    if (this.opts.mode === "event") {
      await this.relay.run();
      return 0;
    }
    const now = ctx.clock.now();
    const limit = this.opts.tickBatch ?? 2000;
    let total = 0;
    for (const partition of await this.store.partitions(this.inputTopic)) {
      for (;;) {
        const due = await this.store.dueBefore(partition, now + 1, limit);
        if (due.length === 0) break;
        const loaded = await this.store.load(due.map(([m]) => m));
        const writes: RecordWrite[] = [];
        const changes: TierChange[] = [];
        for (const [m, dueAt] of due) {
          const l = loaded.get(m);
          if (!l || l.partition !== partition) continue;
          const actual = nextDueAt(l.record.state, this.opts.config);
          if (actual === null || actual > now) {
            // Stale hot index entry: rewrite it from the record.
            if (actual !== dueAt)
              writes.push({ memberId: m, partition, version: l.version, record: l.record, dueAt: actual });
            continue;
          }
          const step = advanceRecord(l.record, now, this.opts.config);
          changes.push(...step.changes);
          writes.push({
            memberId: m,
            partition,
            version: l.version,
            record: step.record,
            dueAt: nextDueAt(step.record.state, this.opts.config),
          });
        }
        if (writes.length === 0) break; // only entries of other partitions or gone members
        await this.store.commit({ writes, processed: [], changes: changes.map(toTierChanged) });
        total += changes.length;
        await ctx.heartbeat();
        if (due.length < limit) break;
      }
    }
    await this.relay.run();
    if (total > 0)
      this.logger.info({ changes: total, at: new Date(now).toISOString() }, "tier evaluations ran");
    return total;
  }
}
