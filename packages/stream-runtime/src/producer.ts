import type { StreamConsumer, StreamHeaders, StreamKafka, StreamProducer } from "./client.ts";
import { LoyaltyError } from "./errors.ts";

export interface OutMessage {
  topic: string;
  key: string | Buffer | null;
  /** Null: a record that is only headers (a progress marker), never a deletion on our topics. */
  value: Buffer | null;
  headers?: StreamHeaders;
  /** Explicit partition (a marker written to every partition); otherwise by key. */
  partition?: number;
  /** Event time; becomes the record's CreateTime. */
  timestamp?: number;
}

export interface OffsetCommit {
  topic: string;
  partition: number;
  /** The next offset to read (last processed + 1). */
  offset: string;
  /** Stored with the committed offset (a task's batch sequence number, ADR 16). */
  metadata?: string;
}

/** A transaction's offsets name a group no consumer was bound to (see BatchingProducer.bindGroup). */
export class UnboundGroupError extends LoyaltyError {
  constructor(readonly groupId: string) {
    super(`no consumer is bound to group ${groupId}: call bindGroup() before committing its offsets`, {
      retriable: false,
    });
  }
}

/** librdkafka refused a transaction's offsets: retried (the transaction aborts) unless fatal. */
export class SendOffsetsError extends LoyaltyError {
  constructor(cause: unknown) {
    const e = (cause ?? {}) as { message?: unknown; isFatal?: unknown };
    super(`sending the transaction's offsets failed: ${String(e.message ?? cause)}`, {
      retriable: e.isFatal !== true,
      cause,
    });
  }
}

/** What sendOffsets needs of the addon's clients (their native handles). */
interface NativeProducer {
  sendOffsetsToTransaction(
    offsets: Array<{ topic: string; partition: number; offset: number; metadata?: string }>,
    consumer: unknown,
    timeoutMs: number,
    cb: (err: unknown) => void,
  ): void;
  produce(
    topic: string,
    partition: number,
    value: Buffer | null,
    key: string | Buffer | null,
    timestamp: number,
    opaque: { resolve(): void; reject(err: unknown): void },
    headers: Array<Record<string, Buffer | string>> | null,
  ): unknown;
}
interface WithNative<T> {
  _getInternalClient?(): T;
}

/**
 * Buffers a batch's output and sends it in one sendBatch (librdkafka batches and splits the
 * requests itself), or as one Kafka transaction with the consumer group's offsets.
 */
export class BatchingProducer {
  private buffer: OutMessage[] = [];
  private readonly producer: StreamProducer;
  private connected = false;
  private readonly sentListeners: Array<(sent: readonly OutMessage[]) => void> = [];
  /** The consumer of each group whose offsets this producer's transactions commit. */
  private readonly groups = new Map<string, StreamConsumer>();
  readonly transactional: boolean;

  /**
   * With a transactionalId, output and consumer offsets commit atomically (see
   * commitWithOffsets); read_committed consumers never see a batch that did not commit.
   * Without one, every record still carries a stable event id that consumers dedupe on, and
   * one request in flight keeps retries ordered.
   */
  constructor(kafka: StreamKafka, opts: { transactionalId?: string; lingerMs?: number } = {}) {
    this.transactional = opts.transactionalId !== undefined;
    this.producer = kafka.producer({
      kafkaJS: {
        allowAutoTopicCreation: false,
        // acks=all and no compression, for every send (the client takes them here, not per call).
        acks: -1,
        ...(opts.transactionalId !== undefined
          ? {
              transactionalId: opts.transactionalId,
              idempotent: true,
              // Ordered with up to 5 requests in flight: the idempotent producer's sequence numbers.
              maxInFlightRequests: 5,
              transactionTimeout: 60_000,
              // Exactly-once needs the idempotent producer to retry until the broker answers. A
              // transaction begun right after a commit meets CONCURRENT_TRANSACTIONS until the
              // coordinator has written the markers (milliseconds): retries start at 10 ms (as
              // the Java client does for this error, at 20 ms).
              retry: { retries: 2_147_483_647, initialRetryTime: 10, maxRetryTime: 5_000 },
            }
          : { idempotent: false, maxInFlightRequests: 1 }),
      },
      "compression.codec": "none",
      // librdkafka's default (5 ms) batches sends; a service whose sends are answered synchronously
      // (the member API's ledger commands) sets 0: each command goes out at once.
      ...(opts.lingerMs !== undefined ? { "linger.ms": opts.lingerMs } : {}),
    });
  }

  get raw(): StreamProducer {
    return this.producer;
  }

  /**
   * The consumer whose group a transaction's offsets belong to: librdkafka commits them with
   * the consumer's group metadata (member id, generation), so a zombie member is fenced.
   */
  bindGroup(groupId: string, consumer: StreamConsumer): void {
    this.groups.set(groupId, consumer);
  }

  async connect(): Promise<void> {
    if (!this.connected) await this.producer.connect();
    this.connected = true;
  }

  /** Called with the records of each send the broker acknowledged (each committed transaction). */
  onSent(listener: (sent: readonly OutMessage[]) => void): void {
    this.sentListeners.push(listener);
  }

  private sent(out: readonly OutMessage[]): void {
    if (out.length === 0) return;
    for (const l of this.sentListeners) {
      try {
        l(out);
      } catch {
        // An observer (metrics) never turns a committed send into a failed one.
      }
    }
  }

  add(msg: OutMessage): void {
    this.buffer.push(msg);
  }

  /** Drops what is buffered (a failed batch whose output will be recomputed or re-sent). */
  discard(): void {
    this.buffer = [];
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** Sends everything buffered and waits for the broker's acknowledgement (acks=all). */
  async flush(): Promise<number> {
    if (this.transactional) return this.commitWithOffsets("", []);
    if (this.buffer.length === 0) return 0;
    const out = this.buffer;
    this.buffer = [];
    try {
      await this.producer.sendBatch({ topicMessages: groupByTopic(out) });
    } catch (err) {
      // Nothing is lost: the batch is put back so a retry sends it again.
      this.buffer = out.concat(this.buffer);
      throw err;
    }
    this.sent(out);
    return out.length;
  }

  /**
   * One Kafka transaction: everything buffered plus the offsets of `groupId`, whose consumer
   * must have been bound (bindGroup) when there are offsets.
   */
  async commitWithOffsets(groupId: string, offsets: OffsetCommit[]): Promise<number> {
    if (!this.transactional) throw new TypeError("commitWithOffsets needs a transactional producer");
    if (this.buffer.length === 0 && offsets.length === 0) return 0;
    const consumer = offsets.length > 0 ? this.groups.get(groupId) : undefined;
    if (offsets.length > 0 && consumer === undefined) throw new UnboundGroupError(groupId);
    const out = this.buffer;
    this.buffer = [];
    const txn = await this.producer.transaction();
    try {
      if (out.length > 0) await produceInTransaction(this.producer, out);
      if (consumer !== undefined) await sendOffsets(this.producer, consumer, offsets);
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      this.buffer = out.concat(this.buffer);
      throw err;
    }
    this.sent(out);
    return out.length;
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}

/**
 * The transaction's offsets, each with its metadata (a task's batch sequence, which the
 * pending-output recovery reads back). The compatibility layer's `sendOffsets` drops the
 * metadata (1.10.1: it maps offsets with `topicPartitionOffsetToRdKafka`), so this calls the
 * native producer's `sendOffsetsToTransaction`, which keeps it, as `sendOffsets` itself does.
 */
async function sendOffsets(
  producer: StreamProducer,
  consumer: StreamConsumer,
  offsets: readonly OffsetCommit[],
): Promise<void> {
  const native = (producer as unknown as WithNative<NativeProducer>)._getInternalClient?.();
  const group = (consumer as unknown as WithNative<unknown>)._getInternalClient?.();
  if (native === undefined || group === undefined || group === null)
    throw new TypeError("the Kafka client has no native handles: not @confluentinc/kafka-javascript 1.x?");
  const list = offsets.map((o) => ({
    topic: o.topic,
    partition: o.partition,
    offset: Number(o.offset),
    ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
  }));
  await new Promise<void>((resolve, reject) =>
    native.sendOffsetsToTransaction(list, group, 30_000, (err) =>
      err ? reject(new SendOffsetsError(err)) : resolve(),
    ),
  );
}

/** librdkafka's queue is full (queue.buffering.max.messages): wait for it to drain. */
const QUEUE_FULL = -184;

/**
 * A transaction's records, handed to librdkafka without waiting for each one's delivery: the
 * commit flushes them and fails (abortable) if any was not delivered. The client's `sendBatch`
 * makes a promise per record and awaits every delivery report, which cost about 46 ms per
 * transaction of 1,900 records in `pnpm bench:tasks` (ADR 15). Headers are own properties, so a
 * "__proto__" header is kept (the client's conversion assigns them).
 */
async function produceInTransaction(producer: StreamProducer, out: readonly OutMessage[]): Promise<void> {
  const native = (producer as unknown as WithNative<NativeProducer>)._getInternalClient?.();
  if (native === undefined)
    throw new TypeError("the Kafka client has no native handle: not @confluentinc/kafka-javascript 1.x?");
  // Delivery reports still come (the client's handler needs an opaque); a failure also fails the commit.
  let failed: unknown = null;
  const opaque = {
    resolve: () => undefined,
    reject: (err: unknown) => {
      failed ??= err;
    },
  };
  for (const m of out) {
    const headers = m.headers ? nativeHeaders(m.headers) : null;
    for (;;) {
      try {
        native.produce(m.topic, m.partition ?? -1, m.value, m.key, m.timestamp ?? 0, opaque, headers);
        break;
      } catch (err) {
        if ((err as { code?: unknown }).code !== QUEUE_FULL) throw err;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    if (failed !== null) throw failed;
  }
}

/** Headers as the addon takes them: one single-key object per value, in order. */
function nativeHeaders(headers: StreamHeaders): Array<Record<string, Buffer | string>> {
  const out: Array<Record<string, Buffer | string>> = [];
  const one = (key: string, value: Buffer | string) => {
    const h: Record<string, Buffer | string> = {};
    Object.defineProperty(h, key, { value, enumerable: true, writable: true, configurable: true });
    out.push(h);
  };
  for (const [key, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) one(key, x);
    else one(key, v);
  }
  return out;
}

function groupByTopic(out: readonly OutMessage[]) {
  const byTopic = new Map<string, OutMessage[]>();
  for (const m of out) {
    const list = byTopic.get(m.topic);
    if (list) list.push(m);
    else byTopic.set(m.topic, [m]);
  }
  return [...byTopic].map(([topic, msgs]) => ({
    topic,
    messages: msgs.map((m) => ({
      key: m.key,
      value: m.value,
      ...(m.headers ? { headers: m.headers } : {}),
      ...(m.partition !== undefined ? { partition: m.partition } : {}),
      ...(m.timestamp !== undefined ? { timestamp: String(m.timestamp) } : {}),
    })),
  }));
}
