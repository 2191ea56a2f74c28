import { CompressionTypes, type IHeaders, type Kafka, Partitioners, type Producer } from "kafkajs";

export interface OutMessage {
  topic: string;
  key: string | Buffer | null;
  value: Buffer;
  headers?: IHeaders;
  /** Event time; becomes the record's CreateTime. */
  timestamp?: number;
}

/**
 * kafkajs sends one request per send() call; this buffers messages and sends them per topic
 * in one sendBatch, which is what makes a consume-transform-produce loop fast.
 */
export class BatchingProducer {
  private buffer: OutMessage[] = [];
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    // Not kafkajs's idempotent mode (it wants unbounded retries): every record carries a
    // stable event id that consumers dedupe on, and one request in flight keeps retries ordered.
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: false,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  get raw(): Producer {
    return this.producer;
  }

  async connect(): Promise<void> {
    if (!this.connected) await this.producer.connect();
    this.connected = true;
  }

  add(msg: OutMessage): void {
    this.buffer.push(msg);
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** Sends everything buffered and waits for the broker's acknowledgement (acks=all). */
  async flush(): Promise<number> {
    if (this.buffer.length === 0) return 0;
    const out = this.buffer;
    this.buffer = [];
    const byTopic = new Map<string, OutMessage[]>();
    for (const m of out) {
      const list = byTopic.get(m.topic);
      if (list) list.push(m);
      else byTopic.set(m.topic, [m]);
    }
    try {
      await this.producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, msgs]) => ({
          topic,
          messages: msgs.map((m) => ({
            key: m.key,
            value: m.value,
            ...(m.headers ? { headers: m.headers } : {}),
            ...(m.timestamp !== undefined ? { timestamp: String(m.timestamp) } : {}),
          })),
        })),
      });
    } catch (err) {
      // Nothing is lost: the batch is put back so a retry sends it again.
      this.buffer = out.concat(this.buffer);
      throw err;
    }
    return out.length;
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}
