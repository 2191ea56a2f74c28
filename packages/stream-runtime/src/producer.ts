import { CompressionTypes, type IHeaders, type Kafka, Partitioners, type Producer } from "kafkajs";

export interface OutMessage {
  topic: string;
  key: string | Buffer | null;
  /** Null: a record that is only headers (a progress marker), never a deletion on our topics. */
  value: Buffer | null;
  headers?: IHeaders;
  /** Explicit partition (a marker written to every partition); otherwise by key. */
  partition?: number;
  /** Event time; becomes the record's CreateTime. */
  timestamp?: number;
}

/**
 * kafkajs sends one request per send() call; this buffers messages and sends them per topic
 * in one sendBatch, which is what makes a consume-transform-produce loop fast.
 */
export interface OffsetCommit {
  topic: string;
  partition: number;
  /** The next offset to read (last processed + 1). */
  offset: string;
  /** Stored with the committed offset (a task's batch sequence number, ADR 16). */
  metadata?: string;
}

export class BatchingProducer {
  private buffer: OutMessage[] = [];
  private readonly producer: Producer;
  private connected = false;
  private readonly sentListeners: Array<(sent: readonly OutMessage[]) => void> = [];
  readonly transactional: boolean;

  /**
   * With a transactionalId, output and consumer offsets commit atomically (see
   * commitWithOffsets); read_committed consumers never see a batch that did not commit.
   * Without one, every record still carries a stable event id that consumers dedupe on, and
   * one request in flight keeps retries ordered.
   */
  constructor(kafka: Kafka, opts: { transactionalId?: string } = {}) {
    this.transactional = opts.transactionalId !== undefined;
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      maxInFlightRequests: 1,
      ...(opts.transactionalId !== undefined
        ? {
            transactionalId: opts.transactionalId,
            idempotent: true,
            transactionTimeout: 60_000,
            // Exactly-once needs the idempotent producer to retry until the broker answers. A
            // transaction begun right after a commit meets CONCURRENT_TRANSACTIONS until the
            // coordinator has written the markers (milliseconds): the client's 100 ms first
            // backoff put that on every hop's latency, so retries start at 10 ms (as the Java
            // client does for this error, at 20 ms).
            retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 10, maxRetryTime: 5_000 },
          }
        : { idempotent: false }),
    });
  }

  get raw(): Producer {
    return this.producer;
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
      for (const topicMessages of requests(out)) {
        await this.producer.sendBatch({ acks: -1, compression: CompressionTypes.None, topicMessages });
      }
    } catch (err) {
      // Nothing is lost: the batch is put back so a retry sends it again.
      this.buffer = out.concat(this.buffer);
      throw err;
    }
    this.sent(out);
    return out.length;
  }

  /** One Kafka transaction: everything buffered plus the consumer group's offsets. */
  async commitWithOffsets(groupId: string, offsets: OffsetCommit[]): Promise<number> {
    if (!this.transactional) throw new Error("commitWithOffsets needs a transactional producer");
    if (this.buffer.length === 0 && offsets.length === 0) return 0;
    const out = this.buffer;
    this.buffer = [];
    const txn = await this.producer.transaction();
    try {
      for (const topicMessages of requests(out)) {
        await txn.sendBatch({ acks: -1, compression: CompressionTypes.None, topicMessages });
      }
      if (offsets.length) {
        await txn.sendOffsets({
          consumerGroupId: groupId,
          topics: [...new Set(offsets.map((o) => o.topic))].map((topic) => ({
            topic,
            partitions: offsets
              .filter((o) => o.topic === topic)
              .map((o) => ({
                partition: o.partition,
                offset: o.offset,
                ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
              })),
          })),
        });
      }
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

/** Per request: the broker refuses a record batch over message.max.bytes (1 MiB by default). */
const MAX_REQUEST_BYTES = 768 * 1024;

function size(m: OutMessage): number {
  let n = (m.value?.length ?? 0) + (m.key === null ? 0 : m.key.length) + 64;
  for (const [k, v] of Object.entries(m.headers ?? {}))
    n += k.length + (v === undefined ? 0 : String(v).length);
  return n;
}

/**
 * kafkajs sends a sendBatch as one request, however large: split the output into requests
 * under the broker's limit (a single larger record goes alone, for topics that allow it).
 */
function requests(out: OutMessage[]) {
  const chunks: OutMessage[][] = [];
  let current: OutMessage[] = [];
  let bytes = 0;
  for (const m of out) {
    const n = size(m);
    if (current.length && bytes + n > MAX_REQUEST_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += n;
  }
  if (current.length) chunks.push(current);
  return chunks.map(groupByTopic);
}

function groupByTopic(out: OutMessage[]) {
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
