import type { DlqReasonCode } from "@loyalty/contracts";
import type { Kafka as KafkajsKafka } from "kafkajs";
import {
  type StreamBatchPayload,
  type StreamConsumer,
  type StreamKafka,
  asStreamKafka,
  streamConsumer,
} from "./client.ts";
import type { Clock, StreamClock } from "./clock.ts";
import type { DeadLetterPublisher, DeadLetterRequest } from "./dlq.ts";
import { PoisonMessageError, isRetriable } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { type ConsumedMessage, toConsumed } from "./message.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import type { BatchingProducer, OutMessage } from "./producer.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "./retry.ts";
import { FetchGate, type Waiting } from "./tasks/fetch-gate.ts";

export interface BatchContext {
  readonly clock: Clock;
  /** Buffered; sent only if the whole batch succeeds, before its offsets are committed. */
  produce(msg: OutMessage): void;
  /** Buffered like produce(): the poison message is dead-lettered and the partition moves on. */
  deadLetter(message: ConsumedMessage, code: DlqReasonCode, reason?: string): void;
  heartbeat(): Promise<void>;
  /**
   * Offsets below this one are committed in Kafka with their output. A handler re-run on part
   * of a chunk (a poison message being narrowed down) sees the chunk's start here, not its own.
   */
  readonly committedBefore: string;
  /**
   * Aborted when shutdown begins. Long work (an event-time catch-up over years) may end early at
   * a point its effects are consistent at, so the batch commits within the shutdown timeout.
   */
  readonly signal: AbortSignal;
  /**
   * Stop at `offset`: the records from it on (this chunk's and the rest of the batch) are not
   * processed now and must have no effects. The runner commits what came before, pauses the
   * partition, and delivers them again after `ConsumerRunner.resume()` (an event-time join
   * waiting for its other input; ADR 12). Holding is not consuming: nothing waits outside Kafka.
   */
  hold(offset: string): void;
}

/**
 * Applies a batch's effects. It must be idempotent on the messages' event ids: after a crash
 * the batch is delivered again, since offsets are committed only after effects are durable.
 */
export type BatchHandler = (messages: ConsumedMessage[], ctx: BatchContext) => Promise<void>;

export interface ConsumerRunnerOptions {
  service: string;
  /** The runtime's client (a service kit's kafkajs client stands for its own; see asStreamKafka). */
  kafka: StreamKafka | KafkajsKafka;
  groupId: string;
  topics: string[];
  handler: BatchHandler;
  producer: BatchingProducer;
  dlq: DeadLetterPublisher;
  logger: Logger;
  metrics: RuntimeMetrics;
  clock: StreamClock;
  maxBatch?: number;
  sessionTimeoutMs?: number;
  retry?: RetryPolicy;
  fromBeginning?: boolean;
  /** Time-driven work (expiries, downgrades, churn scans), run after each batch and, in wall mode, on a timer. */
  onTick?: (ctx: BatchContext) => Promise<void>;
  tickIntervalMs?: number;
  /** Tick on the timer in event mode too (a stage that must notice its input has gone quiet). */
  timerTicks?: boolean;
  /** Also tick once at start, in either clock mode: work paused at the last shutdown resumes without new input. */
  tickOnStart?: boolean;
  /** Called after each chunk's effects and offsets are committed (table maintenance). */
  afterCommit?: () => void;
  /**
   * Hand the handler every partition one fetch delivered in one call (the task runner's
   * FetchGate), in chunks of `maxBatch` that mix partitions: one handler transaction and one
   * offset commit per fetch instead of one per partition. For handlers keyed by record, not by
   * partition (read models); such a handler must not hold() (the batch fails if it does).
   * Without it, each call holds one partition's records.
   */
  gather?: boolean;
  /**
   * With `gather`: the least time between the starts of two batches, as Kafka Streams'
   * `commit.interval.ms` (FetchGate): fewer, larger transactions for a read model off the
   * latency-critical path. 0 (default): a batch as soon as records arrive.
   */
  commitIntervalMs?: number;
}

class Attempt implements BatchContext {
  readonly out: OutMessage[] = [];
  readonly dead: DeadLetterRequest[] = [];
  held: string | null = null;
  constructor(
    readonly clock: Clock,
    readonly heartbeat: () => Promise<void>,
    readonly committedBefore: string,
    readonly signal: AbortSignal,
  ) {}
  produce(msg: OutMessage): void {
    this.out.push(msg);
  }
  deadLetter(message: ConsumedMessage, code: DlqReasonCode, reason?: string): void {
    this.dead.push({ message, code, ...(reason !== undefined ? { reason } : {}) });
  }
  hold(offset: string): void {
    if (this.held === null || BigInt(offset) < BigInt(this.held)) this.held = offset;
  }
}

export class ConsumerRunner {
  private consumer: StreamConsumer | null = null;
  private healthy = false;
  private crashed: Error | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly stopping = new AbortController();
  /** "topic:partition" of partitions paused by a hold, until resume(). */
  private readonly held = new Set<string>();
  /** Resumed before the batch holding them had finished: that hold does not pause. */
  private readonly released = new Set<string>();
  /** Gathers the partitions of one fetch into one batch (the `gather` option). */
  private readonly gate: FetchGate;

  constructor(private readonly o: ConsumerRunnerOptions) {
    this.gate = new FetchGate(
      (group) => this.serial(() => this.onGathered(group)),
      (err) => this.onFailure(err),
      o.commitIntervalMs ?? 0,
    );
  }

  get isHealthy(): boolean {
    return this.healthy && this.crashed === null;
  }

  async start(): Promise<void> {
    const { groupId, topics, logger } = this.o;
    const kafka = asStreamKafka(this.o.kafka);
    const consumer = streamConsumer(kafka, {
      groupId,
      sessionTimeoutMs: this.o.sessionTimeoutMs ?? 30_000,
      maxBytesPerPartition: 4 * 1024 * 1024,
      fromBeginning: this.o.fromBeginning ?? true,
      onAssign: (assignment) => {
        this.healthy = true;
        for (const [topic, partitions] of assignment) this.o.clock.assign?.(topic, [...partitions]);
        logger.info({ assignment: Object.fromEntries(assignment) }, "joined consumer group");
      },
    });
    this.consumer = consumer;
    if (this.o.producer.transactional) this.o.producer.bindGroup(groupId, consumer);
    await this.o.producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics });
    const gather = this.o.gather === true;
    await consumer.run({
      eachBatchAutoResolve: false,
      // Gathering: one worker per partition, and the calls of one turn are one batch (FetchGate).
      partitionsConsumedConcurrently: gather ? 1024 : 1,
      eachBatch: (payload) => (gather ? this.gate.gather(payload) : this.onBatch(payload)),
    });
    if (this.o.onTick && this.o.tickOnStart) this.tickInBackground();
    if (this.o.onTick && (this.o.clock.mode === "wall" || this.o.timerTicks)) {
      this.tickTimer = setInterval(() => this.tickInBackground(), this.o.tickIntervalMs ?? 1000);
    }
  }

  /** A tick outside any batch (start, timer), queued behind the batch in flight. */
  private tickInBackground(): void {
    void this.serial(() => this.tick(async () => undefined)).catch((err) =>
      this.o.logger.error({ err }, "tick failed"),
    );
  }

  /** Batches and timer ticks never overlap: both touch the same per-member state. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * First phase of shutdown: take no new batch, wait for the one in flight to commit, then leave
   * the group (in that order: a batch commits through the consumer's native handle, which
   * disconnect() frees; see FetchGate.close).
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.gate.close();
    await this.gate.drained();
    await this.chain;
    if (this.consumer) await this.consumer.disconnect();
    await this.chain;
    this.healthy = false;
  }

  get failure(): Error | null {
    return this.crashed;
  }

  /**
   * Fetches a held partition again, from its first held record (see BatchContext.hold). Called
   * while the batch that holds it is still running (the condition it waits for came true
   * meanwhile), that batch commits its prefix without pausing.
   */
  resume(topic: string, partition: number): void {
    const key = `${topic}:${partition}`;
    if (this.held.delete(key)) this.consumer?.resume([{ topic, partitions: [partition] }]);
    else this.released.add(key);
  }

  /**
   * The client re-delivers a batch whose handler threw (it seeks back to the first record not
   * resolved) and never crashes, unlike kafkajs: a failure that retrying cannot mend (a
   * non-retriable error after the batch's own retries) is recorded here as the runner's
   * failure, which stops the service (`operate` in service.ts), as kafkajs's CRASH did.
   */
  private async onBatch(p: StreamBatchPayload): Promise<void> {
    // Stopping: left unresolved and uncommitted, for the partition's next owner.
    if (this.stopping.signal.aborted) return;
    try {
      await this.onBatchBeating(p);
    } catch (err) {
      this.onFailure(err);
      throw err;
    }
  }

  private onFailure(err: unknown): void {
    const retriable = isRetriable(err);
    this.o.logger.error({ err, restart: retriable }, "consumer crashed");
    if (!retriable) {
      this.crashed = err instanceof Error ? err : new Error(String(err));
      this.healthy = false;
    }
  }

  /**
   * The `gather` option's batch: every partition of one fetch, in chunks of `maxBatch` records;
   * after each chunk the offsets of every topic-partition in it commit at once (with its output
   * when the producer is transactional). The FetchGate heartbeats while it runs.
   */
  private async onGathered(group: Waiting[]): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const live = group.filter((w) => w.payload.isRunning() && !w.payload.isStale());
    if (live.length === 0) return;
    const started = process.hrtime.bigint();
    const byKey = new Map<string, StreamBatchPayload>();
    const all: ConsumedMessage[] = [];
    for (const { payload } of live) {
      const { topic, partition, messages } = payload.batch;
      byKey.set(`${topic}:${partition}`, payload);
      for (const m of messages) all.push(toConsumed(topic, partition, m));
    }
    if (all.length === 0) return;
    const heartbeat = () => live[0]?.payload.heartbeat() ?? Promise.resolve();
    const max = this.o.maxBatch ?? 2000;
    for (let i = 0; i < all.length; i += max) {
      const chunk = all.slice(i, i + max);
      const first = chunk[0];
      if (first === undefined) break;
      const heldAt = await this.processChunk(chunk, heartbeat, first.offset);
      if (heldAt !== null)
        throw new TypeError(`${this.o.groupId}: hold() in a gathering ConsumerRunner (the gather option)`);
      // The last record of each topic-partition in the chunk, and its greatest timestamp.
      const lastOf = new Map<string, { m: ConsumedMessage; maxTs: number }>();
      for (const m of chunk) {
        const key = `${m.topic}:${m.partition}`;
        const seen = lastOf.get(key);
        lastOf.set(key, { m, maxTs: Math.max(seen?.maxTs ?? Number.NEGATIVE_INFINITY, m.timestamp) });
      }
      const next = [...lastOf.values()].map(({ m }) => ({
        topic: m.topic,
        partition: m.partition,
        offset: (BigInt(m.offset) + 1n).toString(),
      }));
      await this.commit(next);
      const isLastChunk = i + max >= all.length;
      for (const [key, { m, maxTs }] of lastOf) {
        const payload = byKey.get(key);
        payload?.resolveOffset(m.offset);
        const caughtUp = isLastChunk && payload?.batch.offsetLag() === "0";
        this.o.clock.observe?.(m.topic, m.partition, maxTs, caughtUp);
      }
      await heartbeat();
      this.o.afterCommit?.();
      const perTopic = new Map<string, number>();
      for (const m of chunk) perTopic.set(m.topic, (perTopic.get(m.topic) ?? 0) + 1);
      for (const [topic, n] of perTopic) this.o.metrics.processed.inc({ topic }, n);
      if (this.o.onTick) await this.tick(heartbeat);
    }
    for (const { payload } of live)
      this.o.metrics.lag.set(
        { topic: payload.batch.topic, partition: String(payload.batch.partition) },
        Number(payload.batch.offsetLag()),
      );
    this.o.metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.o.metrics.watermark.set(this.o.clock.now());
  }

  /** Commits offsets: with the buffered output in one transaction, or after flushing it. */
  private async commit(next: Array<{ topic: string; partition: number; offset: string }>): Promise<void> {
    const committing = process.hrtime.bigint();
    if (this.o.producer.transactional) {
      // Output, dead letters and offsets commit together, or not at all.
      await withRetry(
        () => this.o.producer.commitWithOffsets(this.o.groupId, next),
        this.o.retry ?? DEFAULT_RETRY,
      );
    } else {
      await withRetry(() => this.o.producer.flush(), this.o.retry ?? DEFAULT_RETRY);
      if (this.consumer === null) throw new TypeError("a batch before start()");
      await this.consumer.commitOffsets(next);
    }
    this.o.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - committing) / 1e9);
  }

  private async onBatchBeating(p: StreamBatchPayload): Promise<void> {
    // A slow batch (a loaded machine, a slow database) must not outlive the group session:
    // heartbeat while it runs, or the member is evicted and its transaction fenced, over and over.
    // Also while it waits its turn behind a long timer tick (a churn catch-up), which has no
    // heartbeat of its own.
    const beat = setInterval(() => {
      p.heartbeat().catch(() => undefined);
    }, 1000);
    try {
      await this.serial(() => this.onBatchInner(p));
    } finally {
      clearInterval(beat);
    }
  }

  private async onBatchInner(p: StreamBatchPayload): Promise<void> {
    const { batch } = p;
    const max = this.o.maxBatch ?? 2000;
    const key = `${batch.topic}:${batch.partition}`;
    // A batch fetched before its partition was held: nothing of it is resolved, so it comes again.
    if (this.held.has(key)) return;
    const all = batch.messages.map((m) => toConsumed(batch.topic, batch.partition, m));
    for (let i = 0; i < all.length; i += max) {
      if (!p.isRunning() || p.isStale()) return;
      const started = process.hrtime.bigint();
      const whole = all.slice(i, i + max);
      const heldAt = await this.processChunk(whole, p.heartbeat, whole[0]!.offset);
      const chunk = heldAt === null ? whole : whole.filter((m) => BigInt(m.offset) < BigInt(heldAt));
      // Paused before anything of it is resolved: the next fetch starts at the held record.
      if (heldAt !== null && !this.released.delete(key)) {
        this.held.add(key);
        p.pause();
      }
      const last = chunk[chunk.length - 1];
      if (last === undefined) {
        // Held at its first record: nothing processed, nothing to commit (a dead letter or an
        // output belongs to a processed record, so there is none either).
        this.o.metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, all.length - i);
        return;
      }
      const next = [
        { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
      ];
      await this.commit(next);
      p.resolveOffset(last.offset);
      await p.heartbeat();
      this.o.afterCommit?.();

      const isLastChunk = heldAt === null && i + max >= all.length;
      const caughtUp = isLastChunk && batch.offsetLag() === "0";
      let maxTs = Number.NEGATIVE_INFINITY;
      for (const m of chunk) if (m.timestamp > maxTs) maxTs = m.timestamp;
      this.o.clock.observe?.(batch.topic, batch.partition, maxTs, caughtUp);

      const m = this.o.metrics;
      m.processed.inc({ topic: batch.topic }, chunk.length);
      m.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      m.lag.set(
        { topic: batch.topic, partition: String(batch.partition) },
        isLastChunk ? Number(batch.offsetLag()) : all.length - i - chunk.length,
      );
      m.watermark.set(this.o.clock.now());
      if (this.o.onTick) await this.tick(p.heartbeat);
      if (heldAt !== null) return;
    }
  }

  private async tick(heartbeat: () => Promise<void>): Promise<void> {
    const onTick = this.o.onTick;
    if (!onTick) return;
    await withRetry(async () => {
      // A tick consumes nothing: no offset is in question.
      const attempt = new Attempt(this.o.clock, heartbeat, "0", this.stopping.signal);
      await onTick(attempt);
      await this.publish(attempt);
      await this.o.producer.flush();
    }, this.o.retry ?? DEFAULT_RETRY);
  }

  /**
   * Runs the handler with retries; a permanent failure is narrowed down to the poison message.
   * Returns the offset the handler held at (see BatchContext.hold), or null.
   */
  private async processChunk(
    chunk: ConsumedMessage[],
    heartbeat: () => Promise<void>,
    committedBefore: string,
  ): Promise<string | null> {
    try {
      return await withRetry(
        async () => {
          const attempt = new Attempt(this.o.clock, heartbeat, committedBefore, this.stopping.signal);
          await this.o.handler(chunk, attempt);
          await this.publish(attempt);
          return attempt.held;
        },
        this.o.retry ?? DEFAULT_RETRY,
        (err, n, delay) => {
          this.o.metrics.failed.inc({ retriable: "true" });
          this.o.logger.warn(
            { err, attempt: n, delayMs: delay, size: chunk.length },
            "batch failed, retrying",
          );
        },
      );
    } catch (err) {
      if (isRetriable(err)) throw err; // retry budget spent: crash, restart, resume from the committed offset
      this.o.metrics.failed.inc({ retriable: "false" });
      if (chunk.length === 1) {
        const msg = chunk[0]!;
        const code = err instanceof PoisonMessageError ? err.code : "PROCESSING_FAILED";
        this.o.logger.warn(
          { err, topic: msg.topic, partition: msg.partition, offset: msg.offset, code },
          "dead-lettering message",
        );
        const attempt = new Attempt(this.o.clock, heartbeat, committedBefore, this.stopping.signal);
        attempt.deadLetter(msg, code, err instanceof Error ? err.message : String(err));
        await this.publish(attempt);
        return null;
      }
      // Effects are idempotent, so halves that already succeeded may safely run again.
      const mid = Math.ceil(chunk.length / 2);
      const held = await this.processChunk(chunk.slice(0, mid), heartbeat, committedBefore);
      if (held !== null) return held;
      return await this.processChunk(chunk.slice(mid), heartbeat, committedBefore);
    }
  }

  /** Buffers a successful attempt's output; it is sent when the batch commits. */
  private async publish(attempt: Attempt): Promise<void> {
    for (const d of attempt.dead) {
      await this.o.dlq.add(d);
      this.o.metrics.deadLettered.inc({ code: d.code });
    }
    for (const m of attempt.out) this.o.producer.add(m);
  }
}
