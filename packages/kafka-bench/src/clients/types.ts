/**
 * What each client under test does, written the way the stream runtime uses kafkajs
 * (packages/stream-runtime/src/producer.ts and runner.ts), so a figure says what the runtime
 * would get from that client.
 */
import type { BenchRecord } from "../orders.ts";
import type { KafkaSecurity } from "../security.ts";

export interface ClientSettings {
  brokers: string[];
  clientId: string;
  /** TLS and SASL, as every client of the project resolves them (security.ts). */
  security: KafkaSecurity;
}

export interface ConsumeJob {
  from: string;
  to: string;
  groupId: string;
  /** Stop once this many records were consumed and their output acknowledged/committed. */
  expected: number;
  /** Records per output request / transaction (the runner's CONSUMER_MAX_BATCH, 2000). */
  maxBatch: number;
  transactionalId?: string;
}

export interface ConsumeResult {
  consumed: number;
  /** Output requests (passthrough) or committed transactions. */
  commits: number;
  /** ms from start() to the first record handed to the application (connect + group join + fetch). */
  firstRecordMs: number;
}

export interface BenchClient {
  readonly name: string;
  readonly version: string;
  /** (a) Idempotent producer, acks=all, batches of `batch` records, each awaited (like the replay). */
  produce(topic: string, records: readonly BenchRecord[], batch: number): Promise<number>;
  /**
   * (a') The same records, every send started at once and awaited together (for the confluent
   * client: then flush()), the mode librdkafka's docs recommend. Not the runtime's pattern today.
   */
  producePipelined(topic: string, records: readonly BenchRecord[], batch: number): Promise<number>;
  /** (b) Consume, produce each chunk to `to` (idempotent, acks=all), then commit its offsets. */
  passthrough(job: ConsumeJob): Promise<ConsumeResult>;
  /** (c) Consume; per chunk one transaction: produce + sendOffsets + commit (exactly-once). */
  transactional(job: ConsumeJob): Promise<ConsumeResult>;
}

/** Resolves when `n` reaches the target; shared by the adapters. */
export class Countdown {
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  readonly done: Promise<void>;
  count = 0;
  constructor(readonly target: number) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
  }
  add(n: number): void {
    this.count += n;
    advanced(n);
    if (this.count >= this.target) this.resolveDone();
  }
  fail(err: unknown): void {
    this.rejectDone(err);
  }
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Progress of the phase running in this process: the adapters count records as their output is
 * acknowledged, and the worker's watchdog ends a phase that stopped moving (see worker.ts).
 */
export const progress = { phase: "", records: 0, at: 0 };

export function advanced(records: number): void {
  progress.records += records;
  progress.at = performance.now();
}
