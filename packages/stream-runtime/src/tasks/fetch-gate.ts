// What both task runners (TaskRunner, GroupTaskRunner) do between kafkajs and their batch: gather
// the partitions one fetch delivers into one batch, and run batches and punctuations one at a
// time, in order.
import type { EachBatchPayload } from "kafkajs";
import type { RuntimeMetrics } from "../metrics.ts";

/** One partition's eachBatch call, held until the batch that includes it has committed. */
export interface Waiting {
  payload: EachBatchPayload;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class FetchGate {
  private gathering: Waiting[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly runBatch: (group: Waiting[]) => Promise<void>) {}

  /** Runs fn after everything queued before it, whether that succeeded or failed. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Settles when the work queued so far has run. */
  async drained(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /** kafkajs calls eachBatch for every partition of a fetch before any of them returns. */
  gather(payload: EachBatchPayload): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.gathering.push({ payload, resolve, reject });
      if (this.gathering.length === 1) setImmediate(() => this.dispatch());
    });
  }

  private dispatch(): void {
    const group = this.gathering;
    this.gathering = [];
    // A batch that outlives the session would have its member evicted and its transaction fenced.
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
