// The console server's history, followed instead of re-read (ADR 18, issue 23). One consumer,
// as the `backtest` principal in a throwaway group (HISTORY_GROUP_PREFIX, no commits), joins once
// when the server starts, reads the purchases and member-changes topics from the beginning and
// keeps following them; every record is decoded once, as the engine decodes it
// (decodeHistoryRecord, the same as readTopicHistory), and kept in memory with its offset.
//
// A backtest takes the topics' end offsets at request time (admin fetchTopicOffsets, as
// readTopicHistory does), waits until the follower has reached them (bounded: TransientError,
// which the action answers 503), then takes the records before those ends with event time before
// `to`: the history readTopicHistory would have read at that moment, without the group join and
// the Avro decode of the whole history on each click.
//
// Memory: every record of the two topics (the events themselves, skipped ones as a marker), about
// the topics' decoded size: the CDNOW year (69,659 + 23,570 records) is about 45 MB of heap. Records
// are never dropped: the topics are the history a backtest may ask for.
import type { AvroCodec, MemberChanged, PurchaseEvent, Topics } from "@loyalty/contracts";
import {
  HISTORY_GROUP_PREFIX,
  type HistoryRecord,
  type TopicHistory,
  decodeHistoryRecord,
  historyEnds,
} from "@loyalty/rules-engine";
import { TransientError } from "@loyalty/stream-runtime";
import type { Consumer, Kafka } from "kafkajs";

/** Ends per topic and partition (topic -> partition -> end offset). */
export type Ends = Map<string, Map<number, number>>;

/**
 * How far the follower has read each partition (the next offset to read). Pure bookkeeping.
 * A partition's position moves past a record when it is kept, and to the high watermark of a
 * batch that left no lag (its end may be a transaction marker no message carries).
 */
export class FollowProgress {
  private readonly next = new Map<string, number>();

  private static key(topic: string, partition: number): string {
    return `${topic}/${partition}`;
  }

  /** The next offset the follower will read on the partition (0 before any record). */
  position(topic: string, partition: number): number {
    return this.next.get(FollowProgress.key(topic, partition)) ?? 0;
  }

  /** A record at `offset` was read. */
  read(topic: string, partition: number, offset: number): void {
    this.advance(topic, partition, offset + 1);
  }

  /** A batch ended with no lag at `highWatermark`: the partition is read up to it. */
  caughtUp(topic: string, partition: number, highWatermark: number): void {
    this.advance(topic, partition, highWatermark);
  }

  private advance(topic: string, partition: number, to: number): void {
    const k = FollowProgress.key(topic, partition);
    if (to > (this.next.get(k) ?? 0)) this.next.set(k, to);
  }

  /** Whether every partition of `ends` has been read up to its end. */
  reached(ends: Ends): boolean {
    for (const [t, parts] of ends) for (const [p, end] of parts) if (this.position(t, p) < end) return false;
    return true;
  }

  /** Partitions not read up to their end, as `topic/partition`. */
  behind(ends: Ends): string[] {
    const out: string[] = [];
    for (const [t, parts] of ends)
      for (const [p, end] of parts) if (this.position(t, p) < end) out.push(`${t}/${p}`);
    return out;
  }
}

interface Kept {
  topic: string;
  partition: number;
  offset: number;
  record: HistoryRecord;
}

/** The records kept, in the order they were read. Pure: filters by ends and event time. */
export class FollowedHistory {
  private readonly kept: Kept[] = [];

  constructor(private readonly topicNames: readonly string[]) {}

  add(topic: string, partition: number, offset: number, record: HistoryRecord): void {
    this.kept.push({ topic, partition, offset, record });
  }

  get size(): number {
    return this.kept.length;
  }

  /**
   * What readTopicHistory would have read with these ends: records before each partition's end
   * (counted, skipped ones included), purchases and member changes with event time before `to`.
   */
  upTo(ends: Ends, to: number): TopicHistory {
    const out: TopicHistory = { purchases: [], memberEvents: [], records: {}, skipped: 0 };
    for (const n of this.topicNames) out.records[n] = 0;
    const purchases: PurchaseEvent[] = out.purchases;
    const memberEvents: MemberChanged[] = out.memberEvents;
    for (const k of this.kept) {
      const end = ends.get(k.topic)?.get(k.partition);
      if (end === undefined || k.offset >= end) continue;
      out.records[k.topic] = (out.records[k.topic] ?? 0) + 1;
      const r = k.record;
      if (r.kind === "skipped") out.skipped++;
      else if (r.event.eventTime >= to) continue;
      else if (r.kind === "purchase") purchases.push(r.event);
      else memberEvents.push(r.event);
    }
    return out;
  }
}

export interface HistoryFollowerOptions {
  /** How long a backtest waits for the follower to reach the ends. Default 60 s. */
  waitMs?: number;
}

/** The long-lived follower: start() once, read(to) per backtest, close() with the server. */
export class HistoryFollower {
  private readonly names: string[];
  private readonly progress = new FollowProgress();
  private readonly history: FollowedHistory;
  /** Reads waiting for ends: checked after each batch, ended by close(). */
  private readonly waiters = new Set<{ check: () => void; abort: () => void }>();
  private consumer: Consumer | null = null;
  private started: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly codec: AvroCodec,
    private readonly topics: Topics,
    private readonly opts: HistoryFollowerOptions = {},
  ) {
    this.names = [topics.purchases.name, topics.memberChanges.name];
    this.history = new FollowedHistory(this.names);
  }

  /** Joins once and follows; a failed start is retried by the next read. */
  start(): Promise<void> {
    this.started ??= this.join().catch((err: unknown) => {
      this.started = null;
      throw err;
    });
    return this.started;
  }

  private async join(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: `${HISTORY_GROUP_PREFIX}${process.pid}-${Date.now()}` });
    this.consumer = consumer;
    await consumer.connect();
    if (this.closed) {
      await consumer.disconnect();
      return;
    }
    await consumer.subscribe({ topics: this.names, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const record = await decodeHistoryRecord(this.codec, this.topics, batch.topic, batch.partition, m);
          this.history.add(batch.topic, batch.partition, Number(m.offset), record);
          this.progress.read(batch.topic, batch.partition, Number(m.offset));
        }
        if (batch.offsetLag() === "0")
          this.progress.caughtUp(batch.topic, batch.partition, Number(batch.highWatermark));
        for (const w of this.waiters) w.check();
      },
    });
  }

  /** The history at this moment with event time before `to` (TransientError when not reached in time). */
  async read(to: number): Promise<TopicHistory> {
    if (this.closed) throw new TransientError("the console's history follower is closed");
    await this.start();
    const ends = await historyEnds(this.kafka, this.names);
    if (!this.progress.reached(ends)) await this.waitFor(ends);
    return this.history.upTo(ends, to);
  }

  private waitFor(ends: Ends): Promise<void> {
    const timeout = this.opts.waitMs ?? 60_000;
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        check: () => {
          if (!this.progress.reached(ends)) return;
          finish();
          resolve();
        },
        abort: () => {
          finish();
          reject(new TransientError("the console's history follower was closed"));
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new TransientError(
            `timed out after ${timeout} ms following ${this.names.join(" and ")} to their ends (behind: ${this.progress.behind(ends).join(", ")})`,
          ),
        );
      }, timeout);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
    });
  }

  /** Leaves the group and disconnects (the server's close). */
  async close(): Promise<void> {
    this.closed = true;
    const consumer = this.consumer;
    this.consumer = null;
    for (const w of [...this.waiters]) w.abort();
    await consumer?.disconnect();
  }
}
