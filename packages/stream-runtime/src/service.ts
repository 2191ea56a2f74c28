import { AvroCodec } from "@loyalty/contracts";
import type { Kafka } from "kafkajs";
import { type StreamClock, WallClock, WatermarkClock } from "./clock.ts";
import type { BaseConfig } from "./config.ts";
import { DeadLetterPublisher } from "./dlq.ts";
import { startOpsServer } from "./http.ts";
import { createKafka, ensureTopics } from "./kafka.ts";
import { type Logger, createLogger } from "./logger.ts";
import { RuntimeMetrics } from "./metrics.ts";
import { BatchingProducer } from "./producer.ts";
import { type BatchContext, type BatchHandler, ConsumerRunner } from "./runner.ts";
import { installShutdown } from "./shutdown.ts";

export interface ServiceKit {
  config: BaseConfig;
  logger: Logger;
  kafka: Kafka;
  codec: AvroCodec;
  producer: BatchingProducer;
  dlq: DeadLetterPublisher;
  metrics: RuntimeMetrics;
  clock: StreamClock;
}

/** The shared part of every composition root: clients, contracts, topics, ops endpoints. */
export async function bootService(config: BaseConfig): Promise<ServiceKit> {
  const logger = createLogger(config.SERVICE_NAME, config.LOG_LEVEL);
  const kafka = createKafka({
    clientId: config.SERVICE_NAME,
    brokers: config.KAFKA_BROKERS,
    logger,
    level: config.LOG_LEVEL,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, {
      partitions: config.LOYALTY_PARTITIONS,
      replication: config.LOYALTY_REPLICATION,
    });
    if (created.length) logger.info({ created }, "created topics");
  } finally {
    await admin.disconnect();
  }
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL);
  await codec.registerAll();
  const producer = new BatchingProducer(kafka);
  const metrics = new RuntimeMetrics(config.SERVICE_NAME);
  const dlq = new DeadLetterPublisher(config.SERVICE_NAME, codec, producer);
  const clock = config.CLOCK_MODE === "event" ? new WatermarkClock() : new WallClock();
  return { config, logger, kafka, codec, producer, dlq, metrics, clock };
}

export interface RunOptions {
  groupId: string;
  topics: string[];
  handler: BatchHandler;
  onTick?: (ctx: BatchContext) => Promise<void>;
  /** Closed in the second shutdown phase, after the last batch has committed. */
  close?: () => Promise<void>;
}

export async function runService(kit: ServiceKit, opts: RunOptions): Promise<ConsumerRunner> {
  const runner = new ConsumerRunner({
    service: kit.config.SERVICE_NAME,
    kafka: kit.kafka,
    groupId: opts.groupId,
    topics: opts.topics,
    handler: opts.handler,
    producer: kit.producer,
    dlq: kit.dlq,
    logger: kit.logger,
    metrics: kit.metrics,
    clock: kit.clock,
    maxBatch: kit.config.CONSUMER_MAX_BATCH,
    sessionTimeoutMs: kit.config.CONSUMER_SESSION_TIMEOUT_MS,
    ...(opts.onTick ? { onTick: opts.onTick } : {}),
  });
  const ops = await startOpsServer(kit.config.HTTP_PORT, kit.metrics, () => runner.isHealthy);
  const shutdown = installShutdown(
    kit.logger,
    {
      stop: () => runner.stop(),
      close: async () => {
        await kit.producer.flush();
        await kit.producer.disconnect();
        await opts.close?.();
        await new Promise<void>((r) => ops.server.close(() => r()));
      },
    },
    kit.config.SHUTDOWN_TIMEOUT_MS,
  );
  await runner.start();
  kit.logger.info(
    { groupId: opts.groupId, topics: opts.topics, opsPort: ops.port, clock: kit.clock.mode },
    "consuming",
  );
  // A consumer that crashed for good stops the process with a failing exit code.
  const watch = setInterval(() => {
    if (runner.failure) void shutdown("consumer crashed", 1);
  }, 1000);
  watch.unref();
  return runner;
}
