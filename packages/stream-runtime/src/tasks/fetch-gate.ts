// What both task runners (TaskRunner, GroupTaskRunner) do between the Kafka client and their batch: gather
// the partitions one fetch delivers into one batch, and run batches and punctuations one at a
// time, in order.
import type { StreamBatchPayload } from "../client.ts";
import type { ConsumedMessage } from "../message.ts";
import type { RuntimeMetrics } from "../metrics.ts";

/** One partition's eachBatch call, held until the batch that includes it has committed. */
export interface Waiting {
  payload: StreamBatchPayload;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class FetchGate {
  private gathering: Waiting[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** When the last batch was dispatched (monotonic ms). */
  private lastDispatch = Number.NEGATIVE_INFINITY;

  /**
   * `failed` is told once of each batch that failed. The client re-delivers its records (it
   * seeks every partition of the batch back to its first record not resolved) and never
   * crashes, so the runner decides there whether the failure stops the service.
   *
   * `intervalMs` is the least time between the starts of two batches, as Kafka Streams'
   * `commit.interval.ms` (100 ms under exactly-once there): records that arrive meanwhile wait
   * in the client and go in the next batch, so a service off the latency-critical path runs
   * fewer, larger PostgreSQL and Kafka transactions. 0: a batch as soon as records arrive.
   */
  constructor(
    private readonly runBatch: (group: Waiting[]) => Promise<void>,
    private readonly failed: (err: unknown) => void = () => undefined,
    private readonly intervalMs = 0,
  ) {}

  /** Runs fn after everything queued before it, whether that succeeded or failed. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Shutdown: what the client delivers from now on is left unprocessed (unresolved, uncommitted:
   * the next owner of the partition gets it again). The runner then waits for `drained()` before
   * it disconnects the consumer, because a batch in flight commits its offsets through that
   * consumer's native handle: librdkafka's addon crashes the process (SIGSEGV) on a handle that
   * disconnect() has freed, where kafkajs's disconnect() waited for the batch.
   */
  close(): void {
    this.closed = true;
  }

  /** Settles when the work queued so far has run. */
  async drained(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /**
   * The client calls eachBatch from one worker per partition (partitionsConsumedConcurrently),
   * each with the records of its partition fetched so far: the calls of one turn of the event
   * loop are one batch.
   */
  gather(payload: StreamBatchPayload): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.gathering.push({ payload, resolve, reject });
      if (this.gathering.length === 1) {
        const wait = this.lastDispatch + this.intervalMs - performance.now();
        if (wait > 0) setTimeout(() => this.dispatch(), wait);
        else setImmediate(() => this.dispatch());
      }
    });
  }

  private dispatch(): void {
    this.lastDispatch = performance.now();
    const group = this.gathering;
    this.gathering = [];
    if (this.closed) {
      for (const w of group) w.resolve();
      return;
    }
    // librdkafka heartbeats from its own thread: heartbeat() is a no-op, kept for the payload's
    // contract (a long batch is bounded by max.poll.interval.ms, 300 s, instead).
    const beat = setInterval(() => {
      group[0]?.payload.heartbeat().catch(() => undefined);
    }, 1000);
    this.serial(() => this.runBatch(group)).then(
      () => {
        clearInterval(beat);
        for (const w of group) w.resolve();
      },
      (err: unknown) => {
        clearInterval(beat);
        this.failed(err);
        for (const w of group) w.reject(err);
      },
    );
  }
}

/**
 * After a batch has committed: marks each partition's last record processed, records its lag,
 * heartbeats, and observes the batch's duration and the runner's watermark.
 */
export async function settleFetch(
  live: readonly Waiting[],
  metrics: RuntimeMetrics,
  startedNs: bigint,
  watermark: number,
): Promise<void> {
  for (const { payload } of live) {
    const last = payload.batch.messages[payload.batch.messages.length - 1];
    if (last) payload.resolveOffset(last.offset);
    metrics.lag.set(
      { topic: payload.batch.topic, partition: String(payload.batch.partition) },
      Number(payload.batch.offsetLag()),
    );
  }
  await live[0]?.payload.heartbeat();
  metrics.batchSeconds.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
  metrics.watermark.set(watermark);
}

/** What a record weighs against a fetch size: its key, value and headers, and a record's overhead. */
export function recordBytes(m: ConsumedMessage): number {
  let n = 20 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const h of m.headerEntries ?? []) n += h.key.length + (h.value?.length ?? 0);
  return n;
}

/**
 * Cuts what the client handed over into batches of at most `maxBytes` per topic-partition (at
 * least one record each), as kafkajs's fetches of `maxBytesPerPartition` were: batch k holds the
 * k-th slice of every topic-partition that has one. The client may hand over a partition's
 * whole backlog at once (see streamConsumer); batches stay the size the service asked for
 * (FETCH_MAX_BYTES_PER_PARTITION), so a replay commits part-way and a batch's transaction stays
 * bounded. Pure.
 */
export function sliceByBytes(
  byPartition: ReadonlyMap<number, ReadonlyMap<string, readonly ConsumedMessage[]>>,
  maxBytes: number,
  weigh: (m: ConsumedMessage) => number = recordBytes,
): Array<Map<number, Map<string, ConsumedMessage[]>>> {
  const out: Array<Map<number, Map<string, ConsumedMessage[]>>> = [];
  for (const [partition, byTopic] of byPartition)
    for (const [topic, list] of byTopic) {
      let k = 0;
      let bytes = 0;
      let slice: ConsumedMessage[] = [];
      const put = () => {
        let batch = out[k];
        if (!batch) {
          batch = new Map();
          out[k] = batch;
        }
        let topics = batch.get(partition);
        if (!topics) {
          topics = new Map();
          batch.set(partition, topics);
        }
        topics.set(topic, slice);
      };
      for (const m of list) {
        const n = weigh(m);
        if (slice.length > 0 && bytes + n > maxBytes) {
          put();
          k++;
          slice = [];
          bytes = 0;
        }
        slice.push(m);
        bytes += n;
      }
      if (slice.length > 0) put();
    }
  return out;
}
