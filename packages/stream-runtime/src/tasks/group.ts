// One task over all partitions (ADR 16, the "whole-group" shape): for a service whose decisions
// need every partition's records, e.g. a population fit. Each fetch's records of all partitions
// are handed to the topology in one call, at one time: the group's watermark (watermark.ts),
// the minimum of the partitions' stream times with ADR 8's idle rule. Per partition, stream_tasks
// keeps the next offsets and the stream time per lane, written in the transaction of the
// service's state; the batch's output is kept as the pending output of one of its partitions and
// re-sent after a crash between the two commits, as for per-partition tasks (recovery.ts).
// The service's state stays in its tables: the topology's step runs in the runtime's transaction.
import type { DlqReasonCode } from "@loyalty/contracts";
import { type Pool, type PoolClient, inTransaction } from "@loyalty/db";
import type { Kafka as KafkajsKafka } from "kafkajs";
import {
  type StreamAdmin,
  type StreamBatchPayload,
  type StreamConsumer,
  type StreamKafka,
  asStreamKafka,
  streamConsumer,
} from "../client.ts";
import type { DeadLetterPublisher } from "../dlq.ts";
import { LoyaltyError, isRetriable } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { type ConsumedMessage, toConsumed } from "../message.ts";
import type { RuntimeMetrics } from "../metrics.ts";
import type { BatchingProducer, OffsetCommit, OutMessage } from "../producer.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../retry.ts";
import { FetchGate, type Waiting, settleFetch } from "./fetch-gate.ts";
import { encodePending } from "./pending.ts";
import { type TaskWrite, loadTasks, saveTasks } from "./progress-store.ts";
import { recoverTasks } from "./recovery.ts";
import { NO_PROGRESS, type TaskOutput, type TaskProgress, advance, taskRecords } from "./task.ts";
import { IdleRule, type InputPosition, LaneClocks, punctuationTime } from "./watermark.ts";

/** A decoded record of a batch, with the event time it moves its lane to. */
export interface GroupRecord<R> {
  readonly record: ConsumedMessage;
  readonly value: R;
  readonly time: number;
}

/** When a step runs, and what it may ask of the runtime while it runs. */
export interface GroupStep {
  /**
   * Event mode: the group's watermark after this batch's records (null while a partition has
   * delivered nothing); in a punctuation, the latest time once the idle rule released the tail.
   * Wall mode: the wall clock.
   */
  readonly time: number | null;
  /** A time-driven step: no records. */
  readonly punctuation: boolean;
  /** Keeps the consumer's group membership during a long step. */
  heartbeat(): Promise<void>;
  /** True once the runner is stopping: a long step may stop at a consistent point. */
  readonly stopping: boolean;
}

/** What a whole-group service provides. */
export interface GroupTopology<R> {
  /**
   * Decide what a record is, with no I/O but the codec's: its value and event time, or null
   * after sending it to `out.deadLetter` (a dead letter does not move its lane's time).
   */
  decode(record: ConsumedMessage, out: TaskOutput): Promise<{ value: R; time: number } | null>;
  /** The record's lane within its partition (see watermark.ts); one lane when absent. */
  lane?(record: ConsumedMessage): string;
  /**
   * Applies a batch's records (partition order, offset order within each) and moves the service
   * to `at.time`, in the runtime's PostgreSQL transaction `tx`; output goes to `out`. Called with
   * no records in punctuations. May be called again with the same records if the transaction
   * is retried.
   */
  step(tx: PoolClient, records: readonly GroupRecord<R>[], at: GroupStep, out: TaskOutput): Promise<void>;
  /** The transaction of the last step has committed. */
  committed?(): void;
}

export interface GroupRunnerOptions<R> {
  service: string;
  /** The runtime's client (a service kit's kafkajs client stands for its own; see asStreamKafka). */
  kafka: StreamKafka | KafkajsKafka;
  groupId: string;
  /** Co-partitioned input topics. */
  topics: readonly string[];
  topology: GroupTopology<R>;
  producer: BatchingProducer;
  dlq: DeadLetterPublisher;
  pool: Pool;
  logger: Logger;
  metrics: RuntimeMetrics;
  clockMode: "event" | "wall";
  /** Event mode: how long the input must stand consumed to its end before the tail is released. */
  idleMs: number;
  /** How often the group punctuates (both modes: in event mode the idle rule needs it). */
  tickIntervalMs: number;
  retry?: RetryPolicy;
  sessionTimeoutMs?: number;
  /**
   * The least time between the starts of two batches, as Kafka Streams' `commit.interval.ms`
   * (FetchGate): fewer, larger transactions for a service off the latency-critical path. 0
   * (default): a batch as soon as records arrive.
   */
  commitIntervalMs?: number;
  /** Fault injection for crash tests: after the PostgreSQL commit, before the Kafka commit. */
  afterStateCommit?: () => void;
}

/**
 * A fetch delivered a partition the group did not restore (partitions were added to the input):
 * retriable, the restart restores every partition anew.
 */
export class GroupAssignmentError extends LoyaltyError {
  constructor(
    readonly groupId: string,
    readonly partition: number,
    readonly restored: number,
  ) {
    super(`group ${groupId} restored ${restored} partitions and was given partition ${partition}`, {
      retriable: true,
    });
  }
}

class Collector implements TaskOutput {
  readonly out: OutMessage[] = [];
  readonly dead: Array<{ message: ConsumedMessage; code: DlqReasonCode; reason?: string }> = [];
  produce(msg: OutMessage): void {
    this.out.push(msg);
  }
  deadLetter(message: ConsumedMessage, code: DlqReasonCode, reason?: string): void {
    this.dead.push({ message, code, ...(reason !== undefined ? { reason } : {}) });
  }
}

/** What is held of the group between batches: every partition's progress and lanes. */
interface Held {
  partitions: number;
  progress: Map<number, TaskProgress>;
  clocks: LaneClocks;
}

export class GroupTaskRunner<R> {
  private consumer: StreamConsumer | null = null;
  private admin: StreamAdmin | null = null;
  private held: Held | null = null;
  private readonly gate: FetchGate;
  private timer: NodeJS.Timeout | null = null;
  private healthy = false;
  private crashed: Error | null = null;
  private stopping = false;
  private readonly idle: IdleRule;
  /** The batch in flight, for heartbeats during a long step. */
  private beating: StreamBatchPayload | null = null;

  constructor(private readonly o: GroupRunnerOptions<R>) {
    this.gate = new FetchGate(
      (group) => this.runBatch(group),
      (err) => this.onFailure(err),
      o.commitIntervalMs ?? 0,
    );
    if (!o.producer.transactional) throw new TypeError("GroupTaskRunner needs a transactional producer");
    this.idle = new IdleRule(o.idleMs);
  }

  get isHealthy(): boolean {
    return this.healthy && this.crashed === null;
  }

  get failure(): Error | null {
    return this.crashed;
  }

  /** The group's watermark as held now; null before restore or while a partition is unheard. */
  get watermark(): number | null {
    return this.held?.clocks.watermark() ?? null;
  }

  async start(): Promise<void> {
    const { groupId, logger } = this.o;
    const kafka = asStreamKafka(this.o.kafka);
    const consumer = streamConsumer(kafka, {
      groupId,
      sessionTimeoutMs: this.o.sessionTimeoutMs ?? 30_000,
      maxBytesPerPartition: 1024 * 1024,
      fromBeginning: true,
      onAssign: (assignment) => {
        this.healthy = true;
        // Restored anew after every rebalance: another instance may have written meanwhile.
        void this.gate.serial(async () => {
          this.held = null;
        });
        logger.info({ assignment: Object.fromEntries(assignment) }, "joined consumer group");
      },
    });
    this.consumer = consumer;
    this.o.producer.bindGroup(groupId, consumer);
    this.admin = kafka.admin();
    await this.admin.connect();
    await this.o.producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.o.topics] });
    await consumer.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1024,
      eachBatch: (payload) => this.gate.gather(payload),
    });
    const tick = () =>
      this.gate.serial(() => this.punctuate()).catch((err) => logger.error({ err }, "punctuation failed"));
    // A catch-up paused by the last shutdown resumes at once, not at the next record.
    void tick();
    this.timer = setInterval(() => void tick(), this.o.tickIntervalMs);
  }

  /** A batch that failed for good (see FetchGate): the service stops, as kafkajs's CRASH did. */
  private onFailure(err: unknown): void {
    const retriable = isRetriable(err);
    this.o.logger.error({ err, restart: retriable }, "consumer crashed");
    if (!retriable) {
      this.crashed = err instanceof Error ? err : new TypeError(String(err));
      this.healthy = false;
    }
  }

  /**
   * First phase of shutdown: take no new batch; a long step pauses; wait for it to commit, then
   * leave the group (in that order: see FetchGate.close).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.gate.close();
    await this.gate.drained();
    if (this.consumer) await this.consumer.disconnect();
    await this.gate.drained();
    await this.admin?.disconnect();
    this.healthy = false;
  }

  /** Every partition of the input, restored from stream_tasks, pending output re-sent. */
  private async restore(): Promise<Held> {
    if (this.held) return this.held;
    const admin = this.admin;
    if (!admin) throw new TypeError("restore() before start()");
    const meta = await admin.fetchTopicMetadata({ topics: [...this.o.topics] });
    const partitions = Math.max(0, ...meta.map((t) => t.partitions.length));
    const all = Array.from({ length: partitions }, (_, p) => p);
    const stored = await loadTasks(this.o.pool, this.o.groupId, all);
    await recoverTasks(
      {
        admin,
        groupId: this.o.groupId,
        topics: this.o.topics,
        producer: this.o.producer,
        logger: this.o.logger,
        retry: this.o.retry ?? DEFAULT_RETRY,
      },
      stored,
    );
    const clocks = new LaneClocks(partitions);
    const progress = new Map<number, TaskProgress>();
    for (const p of all) {
      const got = stored.get(p)?.progress ?? NO_PROGRESS;
      progress.set(p, got);
      if (got.lanes) clocks.restore(p, got.lanes);
    }
    this.idle.reset();
    this.held = { partitions, progress, clocks };
    this.o.logger.info({ partitions, watermark: clocks.watermark() }, "group task restored");
    return this.held;
  }

  private stepContext(time: number | null, punctuation: boolean): GroupStep {
    const stopping = () => this.stopping;
    return {
      time,
      punctuation,
      heartbeat: async () => {
        await this.beating?.heartbeat();
      },
      get stopping() {
        return stopping();
      },
    };
  }

  private async runBatch(group: Waiting[]): Promise<void> {
    const live = group.filter((w) => w.payload.isRunning() && !w.payload.isStale());
    if (live.length === 0) return;
    const started = process.hrtime.bigint();
    try {
      const held = await this.restore();
      const byPartition = new Map<number, Map<string, ConsumedMessage[]>>();
      for (const { payload } of live) {
        const { topic, partition } = payload.batch;
        if (partition >= held.partitions)
          throw new GroupAssignmentError(this.o.groupId, partition, held.partitions);
        let byTopic = byPartition.get(partition);
        if (!byTopic) {
          byTopic = new Map();
          byPartition.set(partition, byTopic);
        }
        byTopic.set(
          topic,
          payload.batch.messages.map((m) => toConsumed(topic, partition, m)),
        );
      }
      const dead = new Collector();
      const records: GroupRecord<R>[] = [];
      const next = new Map<number, TaskProgress>();
      const clocks = new LaneClocks(held.partitions);
      for (let p = 0; p < held.partitions; p++) clocks.restore(p, held.clocks.lanesOf(p));
      for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) {
        const byTopic = byPartition.get(partition);
        const progress = held.progress.get(partition) ?? NO_PROGRESS;
        if (!byTopic) continue;
        for (const r of taskRecords(progress, byTopic, this.o.topics)) {
          const d = await this.o.topology.decode(r, dead);
          if (d === null) continue;
          records.push({ record: r, value: d.value, time: d.time });
          clocks.observe(partition, this.o.topology.lane?.(r) ?? "", d.time);
        }
        const moved = advance(progress, byTopic, [], progress.seq + 1n);
        next.set(partition, {
          ...moved,
          streamTime: clocks.streamTime(partition),
          lanes: clocks.lanesOf(partition),
        });
        for (const [topic, list] of byTopic) this.o.metrics.processed.inc({ topic }, list.length);
      }
      const time = this.o.clockMode === "wall" ? Date.now() : clocks.watermark();
      this.beating = live[0]?.payload ?? null;
      await this.commit(held, next, records, this.stepContext(time, false), dead);
      held.clocks = clocks;
      await settleFetch(live, this.o.metrics, started, clocks.watermark() ?? 0);
      this.o.logger.debug({ partitions: byPartition.size, records: records.length }, "batch committed");
    } catch (err) {
      // The state stored may be behind what is held: restore it before the next step, and send
      // what PostgreSQL holds as pending, not what was buffered for Kafka.
      this.held = null;
      this.o.producer.discard();
      this.o.metrics.failed.inc({ retriable: String(isRetriable(err)) });
      throw err;
    } finally {
      this.beating = null;
    }
  }

  /** Time-driven step: the watermark, or the tail once the input has stood idle; wall mode: now. */
  private async punctuate(): Promise<void> {
    if (this.stopping) return;
    try {
      const held = await this.restore();
      const time =
        this.o.clockMode === "wall"
          ? Date.now()
          : await punctuationTime(
              held.clocks,
              this.idle,
              () => this.positions(held),
              () => performance.now(),
            );
      // The output rides on a partition that has offsets to commit with it (its batch seq).
      const carrier = [...held.progress].find(([, p]) => p.offsets.size > 0);
      const next = new Map<number, TaskProgress>();
      if (carrier) next.set(carrier[0], { ...carrier[1], seq: carrier[1].seq + 1n });
      await this.commit(held, next, [], this.stepContext(time, true), new Collector());
    } catch (err) {
      this.held = null;
      this.o.producer.discard();
      throw err;
    }
  }

  /** Where every input partition stands: next offset held, end offset from the broker. */
  private async positions(held: Held): Promise<InputPosition[]> {
    const admin = this.admin;
    if (!admin) throw new TypeError("positions() before start()");
    const out: InputPosition[] = [];
    for (const topic of this.o.topics) {
      for (const o of await admin.fetchTopicOffsets(topic)) {
        const next = held.progress.get(o.partition)?.offsets.get(topic) ?? 0n;
        out.push({ topic, partition: o.partition, next, high: BigInt(o.high) });
      }
    }
    return out;
  }

  /**
   * One PostgreSQL transaction: the topology's step and the progress of the partitions in
   * `next` (the first of them carries the step's output as pending); then, if there is output
   * or progress, one Kafka transaction with the output and those partitions' offsets.
   */
  private async commit(
    held: Held,
    next: Map<number, TaskProgress>,
    records: readonly GroupRecord<R>[],
    at: GroupStep,
    dead: Collector,
  ): Promise<void> {
    const deadLetters: OutMessage[] = [];
    for (const d of dead.dead) {
      deadLetters.push(await this.o.dlq.toMessage(d));
      this.o.metrics.deadLettered.inc({ code: d.code });
    }
    const retry = this.o.retry ?? DEFAULT_RETRY;
    let output: OutMessage[] = [];
    await withRetry(
      () =>
        inTransaction(this.o.pool, async (tx) => {
          const out = new Collector();
          await this.o.topology.step(tx, records, at, out);
          output = [...out.out, ...deadLetters];
          // A punctuation with no output changes no progress: nothing for stream_tasks or Kafka.
          if (records.length === 0 && output.length === 0) {
            next.clear();
            return;
          }
          const writes: TaskWrite[] = [];
          let first = true;
          for (const [partition, progress] of next) {
            writes.push({
              partition,
              progress,
              expectedSeq: held.progress.get(partition)?.seq ?? 0n,
              pending: first && output.length > 0 ? encodePending(output) : null,
            });
            first = false;
          }
          await saveTasks(tx, this.o.groupId, writes);
        }),
      retry,
    );
    for (const [partition, progress] of next) held.progress.set(partition, progress);
    this.o.topology.committed?.();
    // Output before any record was consumed has no partition to keep it pending: sent as is.
    if (next.size === 0 && output.length === 0) return;
    this.o.afterStateCommit?.();
    const committing = process.hrtime.bigint();
    for (const m of output) this.o.producer.add(m);
    const offsets: OffsetCommit[] = [];
    for (const [partition, progress] of next)
      for (const [topic, offset] of progress.offsets)
        offsets.push({ topic, partition, offset: offset.toString(), metadata: progress.seq.toString() });
    await withRetry(() => this.o.producer.commitWithOffsets(this.o.groupId, offsets), retry);
    this.o.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - committing) / 1e9);
  }
}
