import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Buckets for durations in seconds: 1 ms to 10 s. */
export const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly processed = new Counter({
    name: "loyalty_messages_processed_total",
    help: "Messages processed",
    labelNames: ["topic"],
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: "loyalty_batch_failures_total",
    help: "Batch attempts that failed",
    labelNames: ["retriable"],
    registers: [this.registry],
  });
  readonly produced = new Counter({
    name: "loyalty_messages_produced_total",
    help: "Records written to Kafka (output, dead letters, markers), counted once their send or transaction committed",
    labelNames: ["topic"],
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: "loyalty_messages_dead_lettered_total",
    help: "Messages sent to the DLQ",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: "loyalty_batch_duration_seconds",
    help: "Time to process, flush and commit one batch",
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: "loyalty_batch_commit_duration_seconds",
    help: "Part of a batch's time spent committing its output and offsets in Kafka",
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: "loyalty_consumer_lag",
    help: "Messages behind the high watermark",
    labelNames: ["topic", "partition"],
    registers: [this.registry],
  });
  readonly watermark = new Gauge({
    name: "loyalty_event_time_watermark_ms",
    help: "Event-time watermark",
    registers: [this.registry],
  });

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    // Exported at 0 before the first failure: a dashboard's rate() has a series to start from.
    for (const retriable of ["true", "false"]) this.failed.inc({ retriable }, 0);
  }

  /** Counts records a send or a transaction has committed to Kafka, per topic. */
  countProduced(records: readonly { topic: string }[]): void {
    const byTopic = new Map<string, number>();
    for (const r of records) byTopic.set(r.topic, (byTopic.get(r.topic) ?? 0) + 1);
    for (const [topic, n] of byTopic) this.produced.inc({ topic }, n);
  }

  /** A service's own counter, in this registry (so it carries the service label). */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A service's own histogram of seconds, in this registry. */
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets: SECONDS_BUCKETS, registers: [this.registry] });
  }
}

export type LedgerKind = "EARNED" | "REVERSED" | "REDEEMED" | "EXPIRED" | "ADJUSTED";

/**
 * Ledger movements, by kind, in the service that wrote them: the rules engine (earned,
 * reversed, expired before a member's next movement) and the API (redeemed, adjusted, expired
 * by the expiry job). Counted once the movement is durable; points as absolute values.
 */
export class LedgerMetrics {
  private readonly movements: Counter<"kind">;
  private readonly points: Counter<"kind">;
  constructor(metrics: RuntimeMetrics) {
    this.movements = metrics.counter("loyalty_ledger_movements_total", "Ledger movements written, by kind", [
      "kind",
    ]);
    this.points = metrics.counter(
      "loyalty_points_total",
      "Points moved by ledger movements (absolute), by kind",
      ["kind"],
    );
  }

  count(movements: readonly { kind: LedgerKind; points: number }[]): void {
    for (const m of movements) {
      this.movements.inc({ kind: m.kind });
      this.points.inc({ kind: m.kind }, Math.abs(m.points));
    }
  }
}
