// The task runner (ADR 16): what one fetch delivered for all assigned partitions is one batch;
// each task decides on its records in memory, then one PostgreSQL transaction writes every
// task's state with its progress and pending output, and one Kafka transaction sends the output
// with every partition's offsets. A restart restores tasks from PostgreSQL and re-sends the
// pending output of a batch whose Kafka transaction did not commit.
import type { DlqReasonCode } from "@loyalty/contracts";
import { type Pool, type PoolClient, inTransaction } from "@loyalty/db";
import type { Kafka as KafkajsKafka } from "kafkajs";
import {
  type StreamAdmin,
  type StreamConsumer,
  type StreamKafka,
  asStreamKafka,
  streamConsumer,
} from "../client.ts";
import type { DeadLetterPublisher } from "../dlq.ts";
import { isRetriable } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { type ConsumedMessage, toConsumed } from "../message.ts";
import type { RuntimeMetrics } from "../metrics.ts";
import type { BatchingProducer, OffsetCommit, OutMessage } from "../producer.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../retry.ts";
import { FetchGate, type Waiting, settleFetch, sliceByBytes } from "./fetch-gate.ts";
import { encodePending } from "./pending.ts";
import { type StoredTask, type TaskWrite, loadTasks, saveTasks } from "./progress-store.ts";
import { recoverTasks } from "./recovery.ts";
import {
  NO_PROGRESS,
  type Task,
  type TaskOutput,
  type TaskProgress,
  advance,
  markLanes,
  taskRecords,
  withHeld,
} from "./task.ts";

/** What a service provides: its state per partition, the pure decision, and how state is written. */
export interface TaskTopology<S> {
  /** The stored state of these partitions, from the service's own tables; absent ones start empty. */
  restore(db: Pool, partitions: readonly number[]): Promise<Map<number, S>>;
  /** The state of a partition with nothing stored. */
  empty(partition: number): S;
  /**
   * Decide: applies the task's records (see taskRecords for their order) to `task.state` in
   * memory and sends what follows to `out`. No I/O but the codec's; the same records on the same
   * state give the same state and output, however they are split into calls.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: topologies that never hold return Promise<void>.
  process(task: Task<S>, records: readonly ConsumedMessage[], out: TaskOutput): Promise<void | TaskHold>;
  /** Time-driven work at `now`: in event mode after records moved the task's stream time, in wall mode on the timer. */
  punctuate?(task: Task<S>, now: number, out: TaskOutput): Promise<void>;
  /** Writes what changed in these tasks since their last committed flush, in the runtime's transaction. */
  flush(tx: PoolClient, tasks: readonly Task<S>[]): Promise<void>;
  /** The transaction flush wrote in has committed. */
  committed?(tasks: readonly Task<S>[]): void;
  /**
   * The event time a record moves its task's stream time to (Kafka Streams' timestamp
   * extractor); null: it does not move it (e.g. a co-partitioned side input whose times run
   * ahead). Absent: the record's timestamp.
   */
  eventTime?(record: ConsumedMessage): number | null;
  /**
   * A record that marks the event time of a lane of the task's input, beside its stream time:
   * a side input's own watermark (e.g. churn-alert's frontier markers read by the rules engine).
   * The runtime keeps each lane's highest time in stream_tasks with the batch and the task reads
   * it with `laneTime`; a service keeps no clock of its own. Absent or null: no mark.
   */
  mark?(record: ConsumedMessage): { lane: string; time: number } | null;
  /**
   * For a service whose state still lives in its tables (read and written per batch, not held in
   * memory): runs in the runtime's transaction, before `flush`, for the tasks of the batch, and
   * may send output (kept as the pending output with the batch). Retried with the transaction.
   */
  apply?(tx: PoolClient, batch: readonly TaskApply<S>[]): Promise<void>;
}

/** A task of a batch as `apply` sees it, with where its output goes. */
export interface TaskApply<S> {
  readonly task: Task<S>;
  readonly out: TaskOutput;
}

/**
 * What `process` did not take: records it holds back (e.g. a join waiting for its other input),
 * to be handed again, in order, with the task's next batch; a held record holds every later
 * record of its topic-partition. Their offsets are not committed, their topic-partition is
 * paused meanwhile, and held tasks are offered again every `heldRetryMs` without new input.
 */
export interface TaskHold {
  readonly hold: readonly ConsumedMessage[];
}

export interface TaskRunnerOptions<S> {
  service: string;
  /** The runtime's client (a service kit's kafkajs client stands for its own; see asStreamKafka). */
  kafka: StreamKafka | KafkajsKafka;
  groupId: string;
  /** Co-partitioned input topics, in the order ties of timestamps are broken. */
  topics: readonly string[];
  topology: TaskTopology<S>;
  producer: BatchingProducer;
  dlq: DeadLetterPublisher;
  pool: Pool;
  logger: Logger;
  metrics: RuntimeMetrics;
  clockMode: "event" | "wall";
  /** Wall mode: how often tasks punctuate. */
  tickIntervalMs?: number;
  retry?: RetryPolicy;
  sessionTimeoutMs?: number;
  /** Fault injection for crash tests: after the PostgreSQL commit, before the Kafka commit. */
  afterStateCommit?: () => void;
  /** How often tasks holding records (TaskHold) are offered them again without new input. */
  heldRetryMs?: number;
  /**
   * The consumer's fetch size per partition and the most bytes of a topic-partition in one
   * batch (default 1 MiB): smaller, smaller batches (see sliceByBytes).
   */
  maxBytesPerPartition?: number;
  /**
   * The least time between the starts of two batches, as Kafka Streams' `commit.interval.ms`
   * (FetchGate): fewer, larger transactions for a service off the latency-critical path. 0
   * (default): a batch as soon as records arrive.
   */
  commitIntervalMs?: number;
}

class LiveTask<S> implements Task<S> {
  /** Records `process` held, per topic, in offset order: handed again with the next batch. */
  held = new Map<string, ConsumedMessage[]>();
  constructor(
    readonly partition: number,
    public state: S,
    public progress: TaskProgress,
  ) {}
  get streamTime(): number {
    return this.progress.streamTime;
  }
  laneTime(lane: string): number {
    return this.progress.lanes?.get(lane) ?? Number.NEGATIVE_INFINITY;
  }
}

/** Collects a task's output in a batch; dead letters are encoded when the batch commits. */
class Collector implements TaskOutput {
  readonly out: OutMessage[] = [];
  readonly dead: Array<{ message: ConsumedMessage; code: DlqReasonCode; reason?: string }> = [];
  produce(msg: OutMessage): void {
    this.out.push(msg);
  }
  deadLetter(message: ConsumedMessage, code: DlqReasonCode, reason?: string): void {
    this.dead.push({ message, code, ...(reason !== undefined ? { reason } : {}) });
  }
  absorb(other: Collector): void {
    this.out.push(...other.out);
    this.dead.push(...other.dead);
  }
}

export class TaskRunner<S> {
  private consumer: StreamConsumer | null = null;
  private admin: StreamAdmin | null = null;
  private readonly tasks = new Map<number, LiveTask<S>>();
  private readonly gate: FetchGate;
  private timer: NodeJS.Timeout | null = null;
  private healthy = false;
  private crashed: Error | null = null;
  /** Topic-partitions paused because their task holds records of them ("topic:partition"). */
  private readonly paused = new Set<string>();
  private heldTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: TaskRunnerOptions<S>) {
    this.gate = new FetchGate(
      (group) => this.runBatch(group),
      (err) => this.onFailure(err),
      o.commitIntervalMs ?? 0,
    );
    if (!o.producer.transactional) throw new TypeError("TaskRunner needs a transactional producer");
  }

  get isHealthy(): boolean {
    return this.healthy && this.crashed === null;
  }

  get failure(): Error | null {
    return this.crashed;
  }

  /** The tasks this instance holds now (tests and diagnostics). */
  get held(): ReadonlyMap<number, Task<S>> {
    return this.tasks;
  }

  async start(): Promise<void> {
    const { groupId, logger } = this.o;
    const kafka = asStreamKafka(this.o.kafka);
    // Partition p of every input topic to one member, the task: librdkafka's range assignor
    // (see streamConsumer).
    const consumer = streamConsumer(kafka, {
      groupId,
      sessionTimeoutMs: this.o.sessionTimeoutMs ?? 30_000,
      maxBytesPerPartition: this.o.maxBytesPerPartition ?? 1024 * 1024,
      fromBeginning: true,
      onAssign: (assignment) => {
        this.healthy = true;
        const mine = new Set<number>();
        for (const partitions of assignment.values()) for (const p of partitions) mine.add(p);
        // A task this instance no longer owns is dropped; if it comes back it is restored anew.
        void this.gate.serial(async () => {
          for (const [p, t] of [...this.tasks]) {
            if (mine.has(p)) continue;
            t.held = new Map();
            this.pauseHeld(t);
            this.tasks.delete(p);
          }
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
      // One worker per partition: the partitions fetched together are gathered into one batch.
      partitionsConsumedConcurrently: 1024,
      eachBatch: (payload) => this.gate.gather(payload),
    });
    this.heldTimer = setInterval(() => {
      void this.gate
        .serial(() => this.runHeld())
        .catch((err) => logger.error({ err }, "held records failed"));
    }, this.o.heldRetryMs ?? 250);
    if (this.o.clockMode === "wall" && this.o.topology.punctuate) {
      this.timer = setInterval(() => {
        void this.gate
          .serial(() => this.punctuateAll(Date.now()))
          .catch((err) => logger.error({ err }, "punctuation failed"));
      }, this.o.tickIntervalMs ?? 1000);
    }
  }

  /** A batch that failed for good (see FetchGate.gather): the service stops, as kafkajs's CRASH did. */
  private onFailure(err: unknown): void {
    const retriable = isRetriable(err);
    this.o.logger.error({ err, restart: retriable }, "consumer crashed");
    if (!retriable) {
      this.crashed = err instanceof Error ? err : new TypeError(String(err));
      this.healthy = false;
    }
  }

  /**
   * First phase of shutdown: take no new batch, wait for the one in flight to commit, then leave
   * the group (in that order: see FetchGate.close).
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.heldTimer) clearInterval(this.heldTimer);
    this.gate.close();
    await this.gate.drained();
    if (this.consumer) await this.consumer.disconnect();
    await this.gate.drained();
    await this.admin?.disconnect();
    this.healthy = false;
  }

  private async runBatch(group: Waiting[]): Promise<void> {
    const live = group.filter((w) => w.payload.isRunning() && !w.payload.isStale());
    if (live.length === 0) return;
    const started = process.hrtime.bigint();
    const byPartition = new Map<number, Map<string, ConsumedMessage[]>>();
    for (const { payload } of live) {
      const { topic, partition } = payload.batch;
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
    let processed = 0;
    for (const batch of sliceByBytes(byPartition, this.o.maxBytesPerPartition ?? 1024 * 1024))
      processed += await this.decideAndCommit(batch);
    await settleFetch(live, this.o.metrics, started, this.lowestStreamTime());
    this.o.logger.debug({ partitions: byPartition.size, processed }, "batch committed");
  }

  /** Offers the tasks that hold records (TaskHold) their records again, with no new input. */
  private async runHeld(): Promise<void> {
    for (const t of this.tasks.values())
      if (t.held.size > 0) return void (await this.decideAndCommit(new Map()));
  }

  /** Decides every task of a batch (and every task holding records), then commits them. */
  private async decideAndCommit(byPartition: Map<number, Map<string, ConsumedMessage[]>>): Promise<number> {
    try {
      await this.ensureTasks([...byPartition.keys()]);
      for (const [p, t] of this.tasks)
        if (t.held.size > 0 && !byPartition.has(p)) byPartition.set(p, new Map());
      const touched: Array<{ task: LiveTask<S>; next: TaskProgress; out: Collector }> = [];
      let processed = 0;
      for (const [partition, fetched] of byPartition) {
        const task = this.tasks.get(partition);
        if (!task) throw new TypeError(`task ${partition} was not restored`);
        const byTopic = withHeld(task.held, fetched);
        const hadHeld = task.held.size > 0;
        task.held = new Map();
        const records = taskRecords(task.progress, byTopic, this.o.topics);
        const out = new Collector();
        const hold = records.length > 0 ? await this.processIsolated(task, records, out) : [];
        // A held record holds the rest of its topic-partition: offsets stop before it.
        const heldFrom = new Map<string, bigint>();
        for (const r of hold) {
          const o = BigInt(r.offset);
          const f = heldFrom.get(r.topic);
          if (f === undefined || o < f) heldFrom.set(r.topic, o);
        }
        const isHeld = (m: ConsumedMessage) => {
          const f = heldFrom.get(m.topic);
          return f !== undefined && BigInt(m.offset) >= f;
        };
        let taken: ReadonlyMap<string, readonly ConsumedMessage[]> = byTopic;
        if (heldFrom.size > 0) {
          const kept = new Map<string, ConsumedMessage[]>();
          for (const [topic, list] of byTopic) {
            const from = heldFrom.get(topic);
            if (from === undefined) {
              kept.set(topic, list);
              continue;
            }
            const before = list.filter((m) => BigInt(m.offset) < from);
            if (before.length > 0) kept.set(topic, before);
            const floor = task.progress.offsets.get(topic);
            task.held.set(
              topic,
              list.filter(
                (m) => BigInt(m.offset) >= from && (floor === undefined || BigInt(m.offset) >= floor),
              ),
            );
          }
          taken = kept;
        }
        this.pauseHeld(task);
        // Dead-lettered records do not move stream time, as Kafka Streams drops records it cannot
        // deserialize before they reach partition time: the timestamp of a malformed record
        // (often its producer's wall clock) must not carry a replayed partition to today.
        const dead = new Set(out.dead.map((d) => d.message));
        const timed: ConsumedMessage[] = [];
        for (const r of records) {
          if (dead.has(r) || isHeld(r)) continue;
          const t = this.o.topology.eventTime ? this.o.topology.eventTime(r) : r.timestamp;
          if (t !== null) timed.push(t === r.timestamp ? r : { ...r, timestamp: t });
        }
        const moved = advance(task.progress, taken, timed, task.progress.seq + 1n);
        const mark = this.o.topology.mark;
        const lanes = mark
          ? markLanes(
              moved.lanes,
              records.flatMap((r) => {
                const m = dead.has(r) || isHeld(r) ? null : mark(r);
                return m === null ? [] : [m];
              }),
            )
          : moved.lanes;
        const next: TaskProgress = lanes ? { ...moved, lanes } : moved;
        if (
          this.o.clockMode === "event" &&
          next.streamTime > task.progress.streamTime &&
          this.o.topology.punctuate
        )
          await this.o.topology.punctuate(view(task, next), next.streamTime, out);
        const took = records.length - records.filter(isHeld).length;
        // A task that took nothing (e.g. it only held what it was offered again) has nothing to commit.
        if (took === 0 && (hadHeld || hold.length > 0) && out.out.length === 0 && out.dead.length === 0)
          continue;
        touched.push({ task, next, out });
        processed += took;
        for (const [topic, list] of fetched) this.o.metrics.processed.inc({ topic }, list.length);
      }
      await this.commit(touched);
      return processed;
    } catch (err) {
      // The tasks in memory may be ahead of what is stored: restore them after the restart, and
      // send what PostgreSQL holds as pending, not what was buffered for Kafka. Held records
      // were fetched already: their topic-partitions are fetched again from the first of them.
      for (const t of this.tasks.values())
        for (const [topic, list] of t.held) {
          const first = list[0];
          if (first !== undefined)
            this.consumer?.seek({ topic, partition: t.partition, offset: first.offset });
        }
      for (const t of this.tasks.values()) t.held = new Map();
      for (const t of this.tasks.values()) this.pauseHeld(t);
      this.tasks.clear();
      this.o.producer.discard();
      this.o.metrics.failed.inc({ retriable: String(isRetriable(err)) });
      throw err;
    }
  }

  /** Pauses the topic-partitions a task holds records of, resumes the others it paused. */
  private pauseHeld(task: LiveTask<S>): void {
    const consumer = this.consumer;
    if (consumer === null) return;
    for (const topic of this.o.topics) {
      const key = `${topic}:${task.partition}`;
      const holds = (task.held.get(topic)?.length ?? 0) > 0;
      if (holds && !this.paused.has(key)) {
        consumer.pause([{ topic, partitions: [task.partition] }]);
        this.paused.add(key);
      } else if (!holds && this.paused.has(key)) {
        consumer.resume([{ topic, partitions: [task.partition] }]);
        this.paused.delete(key);
      }
    }
  }

  /** Time-driven work of every task at wall time `now` (wall mode). */
  private async punctuateAll(now: number): Promise<void> {
    const punctuate = this.o.topology.punctuate;
    if (!punctuate || this.tasks.size === 0) return;
    const touched: Array<{ task: LiveTask<S>; next: TaskProgress; out: Collector }> = [];
    try {
      for (const task of this.tasks.values()) {
        // A task that has consumed nothing has no offset to carry its batch sequence.
        if (task.progress.offsets.size === 0) continue;
        const out = new Collector();
        await punctuate(task, now, out);
        // State changed without output is written with the task's next batch (a topology with
        // `apply` is committed every time: its work happens in the transaction).
        if (out.out.length > 0 || out.dead.length > 0 || this.o.topology.apply)
          touched.push({ task, next: { ...task.progress, seq: task.progress.seq + 1n }, out });
      }
      await this.commit(touched);
    } catch (err) {
      this.tasks.clear();
      this.o.producer.discard();
      throw err;
    }
  }

  /**
   * A task's records, with poison isolation: if deciding on them fails for good, the task is
   * restored from PostgreSQL and its records are decided one at a time, those that fail going
   * to the DLQ (ADR 4's guarantee: one bad record never blocks its partition).
   */
  private async processIsolated(
    task: LiveTask<S>,
    records: readonly ConsumedMessage[],
    out: Collector,
  ): Promise<readonly ConsumedMessage[]> {
    const attempt = new Collector();
    try {
      const r = await this.o.topology.process(task, records, attempt);
      out.absorb(attempt);
      return r ? r.hold : [];
    } catch (err) {
      if (isRetriable(err)) throw err;
    }
    const good: ConsumedMessage[] = [];
    const held: ConsumedMessage[] = [];
    task.state = await this.restoreState(task.partition);
    for (const r of records) {
      const one = new Collector();
      if (held.some((h) => h.topic === r.topic)) {
        held.push(r);
        continue;
      }
      try {
        const taken = await this.o.topology.process(task, [r], one);
        if (taken && taken.hold.length > 0) {
          held.push(r);
          continue;
        }
        good.push(r);
        out.absorb(one);
      } catch (err) {
        if (isRetriable(err)) throw err;
        this.o.logger.warn(
          { err, topic: r.topic, partition: r.partition, offset: r.offset },
          "dead-lettering record",
        );
        out.deadLetter(r, "PROCESSING_FAILED", err instanceof Error ? err.message : String(err));
        // The failed call may have changed the state part way: rebuild it from the good records.
        task.state = await this.restoreState(task.partition);
        if (good.length > 0) await this.o.topology.process(task, good, new Collector());
      }
    }
    return held;
  }

  private async restoreState(partition: number): Promise<S> {
    const states = await this.o.topology.restore(this.o.pool, [partition]);
    return states.get(partition) ?? this.o.topology.empty(partition);
  }

  /** One PostgreSQL transaction for the tasks' state and progress, then one Kafka transaction. */
  private async commit(
    touched: Array<{ task: LiveTask<S>; next: TaskProgress; out: Collector }>,
  ): Promise<void> {
    if (touched.length === 0) return;
    const decided = new Map<number, OutMessage[]>();
    for (const { task, out } of touched) {
      const messages = [...out.out];
      for (const d of out.dead) {
        messages.push(await this.o.dlq.toMessage(d));
        this.o.metrics.deadLettered.inc({ code: d.code });
      }
      decided.set(task.partition, messages);
    }
    // What `apply` sends is added to each task's output inside the transaction (anew if retried).
    let outputs = decided;
    const writesOf = (messagesOf: Map<number, OutMessage[]>): TaskWrite[] =>
      touched.map(({ task, next }) => {
        const messages = messagesOf.get(task.partition) ?? [];
        return {
          partition: task.partition,
          progress: next,
          expectedSeq: task.progress.seq,
          pending: messages.length > 0 ? encodePending(messages) : null,
        };
      });
    const views = touched.map(({ task, next }) => view(task, next));
    const retry = this.o.retry ?? DEFAULT_RETRY;
    await withRetry(
      () =>
        inTransaction(this.o.pool, async (tx) => {
          const apply = this.o.topology.apply;
          let messagesOf = decided;
          if (apply) {
            const applied = touched.map(({ task }, i) => ({
              task: views[i] as Task<S>,
              out: new Collector(),
              partition: task.partition,
            }));
            await apply.call(this.o.topology, tx, applied);
            messagesOf = new Map();
            for (const a of applied) {
              const messages = [...(decided.get(a.partition) ?? []), ...a.out.out];
              for (const d of a.out.dead) messages.push(await this.o.dlq.toMessage(d));
              messagesOf.set(a.partition, messages);
            }
          }
          await this.o.topology.flush(tx, views);
          await saveTasks(tx, this.o.groupId, writesOf(messagesOf));
          outputs = messagesOf;
        }),
      retry,
    );
    for (const { task, next } of touched) task.progress = next;
    this.o.topology.committed?.(views);
    this.o.afterStateCommit?.();

    const committing = process.hrtime.bigint();
    for (const messages of outputs.values()) for (const m of messages) this.o.producer.add(m);
    const offsets: OffsetCommit[] = [];
    for (const { task, next } of touched)
      for (const [topic, offset] of next.offsets)
        offsets.push({
          topic,
          partition: task.partition,
          offset: offset.toString(),
          metadata: next.seq.toString(),
        });
    await withRetry(() => this.o.producer.commitWithOffsets(this.o.groupId, offsets), retry);
    this.o.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - committing) / 1e9);
  }

  /** Restores the tasks of newly seen partitions and finishes a batch Kafka did not commit. */
  private async ensureTasks(partitions: readonly number[]): Promise<void> {
    const missing = partitions.filter((p) => !this.tasks.has(p));
    if (missing.length === 0) return;
    const stored = await loadTasks(this.o.pool, this.o.groupId, missing);
    const states = await this.o.topology.restore(this.o.pool, missing);
    await this.recover(stored);
    for (const p of missing) {
      const progress = stored.get(p)?.progress ?? NO_PROGRESS;
      this.tasks.set(p, new LiveTask(p, states.get(p) ?? this.o.topology.empty(p), progress));
    }
    this.o.logger.info({ partitions: missing }, "tasks restored");
  }

  /** Finishes the batches Kafka did not commit (see recoverTasks). */
  private async recover(stored: Map<number, StoredTask>): Promise<void> {
    const admin = this.admin;
    if (!admin) throw new TypeError("recover() before start()");
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
  }

  private lowestStreamTime(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const t of this.tasks.values()) if (t.streamTime < min) min = t.streamTime;
    return Number.isFinite(min) ? min : 0;
  }
}

/** The task as the service sees it during a batch: its stream time already includes the batch. */
function view<S>(task: LiveTask<S>, next: TaskProgress): Task<S> {
  return {
    partition: task.partition,
    get state() {
      return task.state;
    },
    set state(s: S) {
      task.state = s;
    },
    streamTime: next.streamTime,
    laneTime: (lane) => task.laneTime(lane),
  };
}
