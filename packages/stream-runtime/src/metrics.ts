import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

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
  readonly deadLettered = new Counter({
    name: "loyalty_messages_dead_lettered_total",
    help: "Messages sent to the DLQ",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: "loyalty_batch_duration_seconds",
    help: "Time to process, flush and commit one batch",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: "loyalty_batch_commit_duration_seconds",
    help: "Part of a batch's time spent committing its output and offsets in Kafka",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
  }
}
