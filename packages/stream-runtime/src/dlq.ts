import {
  type AvroCodec,
  DLQ_REASONS,
  type DeadLetter,
  type DlqReasonCode,
  type TopicSpec,
} from "@loyalty/contracts";
import type { ConsumedMessage } from "./message.ts";
import type { BatchingProducer, OutMessage } from "./producer.ts";

export interface DeadLetterRequest {
  message: ConsumedMessage;
  code: DlqReasonCode;
  reason?: string;
}

/**
 * The dead-letter record keeps the original bytes untouched, so nothing is ever lost: key, value
 * and every header value (in `headers`; `originalHeaders` is the deprecated text form).
 */
export function deadLetterRecord(service: string, req: DeadLetterRequest): DeadLetter {
  const m = req.message;
  return {
    reasonCode: req.code,
    reason: req.reason ?? DLQ_REASONS[req.code],
    service,
    sourceTopic: m.topic,
    sourcePartition: m.partition,
    sourceOffset: Number(m.offset),
    sourceTimestamp: Number.isFinite(m.timestamp) ? m.timestamp : 0,
    originalKey: m.key,
    originalValue: m.value,
    originalHeaders: m.headers,
    headers: (
      m.headerEntries ??
      Object.entries(m.headers).map(([key, value]) => ({ key, value: Buffer.from(value, "utf8") }))
    ).map((h) => ({ key: h.key, value: h.value })),
  };
}

export class DeadLetterPublisher {
  constructor(
    private readonly service: string,
    private readonly codec: AvroCodec,
    private readonly producer: BatchingProducer,
    private readonly topic: TopicSpec,
  ) {}

  /** Buffers the record; it is sent with the batch's other output, before offsets commit. */
  async add(req: DeadLetterRequest): Promise<void> {
    this.producer.add(await this.toMessage(req));
  }

  /** The dead-letter record as an output message, for a caller that sends it itself. */
  async toMessage(req: DeadLetterRequest): Promise<OutMessage> {
    const record = deadLetterRecord(this.service, req);
    return {
      topic: this.topic.name,
      // Keyed by source position: a re-delivered poison message lands on the same key.
      key: `${record.sourceTopic}/${record.sourcePartition}/${record.sourceOffset}`,
      value: await this.codec.encode(this.topic, record),
      timestamp: record.sourceTimestamp,
    };
  }
}
