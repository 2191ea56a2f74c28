import { AvroCodec, type Topics, namespacedTopics, registryAuth } from "@loyalty/contracts";
import { type Pool, Vacuumer, createPool, createRedis, migrate } from "@loyalty/db";
import type { Redis } from "ioredis";
import type { Kafka } from "kafkajs";
import { type StreamKafka, createStreamKafka, pairStreamKafka } from "./client.ts";
import { type StreamClock, WallClock, WatermarkClock } from "./clock.ts";
import type { BaseConfig } from "./config.ts";
import { DeadLetterPublisher } from "./dlq.ts";
import { type OpsRoute, startOpsServer } from "./http.ts";
import { createKafka, ensureTopics, kafkaSecurity } from "./kafka.ts";
import { type Logger, createLogger } from "./logger.ts";
import { RuntimeMetrics } from "./metrics.ts";
import { BatchingProducer } from "./producer.ts";
import { checkReadiness, consumerCheck, lagCheck, postgresCheck } from "./readiness.ts";
import { type BatchContext, type BatchHandler, ConsumerRunner } from "./runner.ts";
import { installShutdown } from "./shutdown.ts";
import { GroupTaskRunner, type GroupTopology } from "./tasks/group.ts";
import { TaskRunner, type TaskTopology } from "./tasks/runner.ts";

export interface ServiceKit {
  config: BaseConfig;
  logger: Logger;
  /**
   * A kafkajs client, for the services' own direct uses (relays, admin calls, feeds): they stay
   * on kafkajs for now (ADR 15). The runtime's runners and producer use `stream`.
   */
  kafka: Kafka;
  /** The runtime's client (@confluentinc/kafka-javascript): the runners and `producer`. */
  stream: StreamKafka;
  /** This engine's topics (namespaced when LOYALTY_NAMESPACE is set). */
  topics: Topics;
  codec: AvroCodec;
  producer: BatchingProducer;
  dlq: DeadLetterPublisher;
  metrics: RuntimeMetrics;
  clock: StreamClock;
  pool: Pool;
  redis: Redis;
}

/**
 * The shared part of every composition root: clients, migrations, topics, schemas. Anything
 * missing is created here, idempotently, so a service can start on an empty stack.
 */
export async function bootService(
  config: BaseConfig,
  opts: { poolSize?: number; transactional?: boolean; producerLingerMs?: number } = {},
): Promise<ServiceKit> {
  const logger = createLogger(config.SERVICE_NAME, config.LOG_LEVEL);
  // Checked before anything connects: a bad TLS or SASL setting is a ConfigError at start.
  const security = kafkaSecurity(config);
  const topics = namespacedTopics(config.LOYALTY_NAMESPACE);
  const applied = await migrate(config.DATABASE_URL, undefined, config.LOYALTY_NAMESPACE);
  if (applied.length) logger.info({ applied }, "applied migrations");
  const kafka = createKafka({
    clientId: config.SERVICE_NAME,
    brokers: config.KAFKA_BROKERS,
    logger,
    level: config.LOG_LEVEL,
    security,
  });
  const stream = createStreamKafka({
    clientId: config.SERVICE_NAME,
    brokers: config.KAFKA_BROKERS,
    logger,
    level: config.LOG_LEVEL,
    security,
  });
  pairStreamKafka(kafka, stream);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, {
      partitions: config.LOYALTY_PARTITIONS,
      replication: config.LOYALTY_REPLICATION,
      topics: Object.values(topics),
    });
    if (created.length) logger.info({ created }, "created topics");
  } finally {
    await admin.disconnect();
  }
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, registryAuth(config));
  await codec.registerAll(Object.values(topics));
  // Each option on its own: a transactional producer may set a linger too.
  const producer = new BatchingProducer(stream, {
    ...(opts.transactional
      ? { transactionalId: `${groupIdFor(config, config.SERVICE_NAME)}-${config.INSTANCE_ID}` }
      : {}),
    ...(opts.producerLingerMs !== undefined ? { lingerMs: opts.producerLingerMs } : {}),
  });
  const metrics = new RuntimeMetrics(config.SERVICE_NAME);
  producer.onSent((sent) => metrics.countProduced(sent));
  const dlq = new DeadLetterPublisher(config.SERVICE_NAME, codec, producer, topics.dlq);
  const clock = config.CLOCK_MODE === "event" ? new WatermarkClock() : new WallClock();
  const pool = createPool(config.DATABASE_URL, {
    max: opts.poolSize ?? 10,
    namespace: config.LOYALTY_NAMESPACE,
    applicationName: config.SERVICE_NAME,
  });
  const redis = createRedis(config.REDIS_URL, config.LOYALTY_NAMESPACE);
  return { config, logger, kafka, stream, topics, codec, producer, dlq, metrics, clock, pool, redis };
}

/** Consumer group ids are namespaced like topics. */
export function groupIdFor(config: BaseConfig, group: string): string {
  return config.LOYALTY_NAMESPACE ? `${config.LOYALTY_NAMESPACE}.${group}` : group;
}

/** Background vacuum of those of a service's busiest tables that need it (ADR 11). */
export function tableMaintenance(kit: ServiceKit, tables: readonly string[]): Vacuumer {
  return new Vacuumer(kit.pool, tables, kit.config.DB_VACUUM_INTERVAL_MS, (err) =>
    kit.logger.warn({ err }, "vacuum failed; autovacuum, if on, will do it"),
  );
}

export interface RunOptions {
  group: string;
  topics: string[];
  handler: BatchHandler;
  onTick?: (ctx: BatchContext) => Promise<void>;
  tickIntervalMs?: number;
  /** Tick on the timer in event mode too (see ConsumerRunner). */
  timerTicks?: boolean;
  tickOnStart?: boolean;
  /** Closed in the second shutdown phase, after the last batch has committed. */
  close?: () => Promise<void>;
  /** The service's update-heavy tables, checked every DB_VACUUM_INTERVAL_MS (see Vacuumer). */
  vacuum?: readonly string[];
  /** Read-only JSON routes the ops server serves beside its own (OPS_PATHS). */
  routes?: readonly OpsRoute[];
}

/**
 * What /readyz checks for a consumer service: PostgreSQL answers through its pool, its consumer
 * is in its group, and (when READY_MAX_CONSUMER_LAG is set) no partition lags further behind.
 */
export function serviceReadiness(kit: ServiceKit, runner: { readonly isHealthy: boolean }) {
  const checks = [
    postgresCheck(kit.pool),
    consumerCheck(runner),
    lagCheck(kit.metrics, kit.config.READY_MAX_CONSUMER_LAG),
  ];
  return () => checkReadiness(checks, kit.config.READY_TIMEOUT_MS);
}

/** What runService and runTasks share: the ops server, two-phase shutdown, the crash watch. */
async function operate(
  kit: ServiceKit,
  runner: {
    start(): Promise<void>;
    stop(): Promise<void>;
    readonly isHealthy: boolean;
    readonly failure: Error | null;
  },
  vacuum: Vacuumer,
  opts: {
    groupId: string;
    topics: string[];
    close?: () => Promise<void>;
    routes?: readonly OpsRoute[];
  },
): Promise<void> {
  const ops = await startOpsServer(
    kit.config.HTTP_PORT,
    kit.metrics,
    () => runner.isHealthy,
    kit.config.HTTP_HOST,
    opts.routes ?? [],
    (err, path) => kit.logger.error({ err, path }, "ops route failed"),
    serviceReadiness(kit, runner),
  );
  const shutdown = installShutdown(
    kit.logger,
    {
      stop: () => runner.stop(),
      close: async () => {
        // A transactional producer has nothing buffered after the last commit; flush() is a no-op then.
        await kit.producer.flush();
        await kit.producer.disconnect();
        await opts.close?.();
        await vacuum.idle();
        await kit.pool.end();
        kit.redis.disconnect();
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
}

export async function runService(kit: ServiceKit, opts: RunOptions): Promise<ConsumerRunner> {
  const groupId = groupIdFor(kit.config, opts.group);
  const vacuum = tableMaintenance(kit, opts.vacuum ?? []);
  const runner = new ConsumerRunner({
    service: kit.config.SERVICE_NAME,
    kafka: kit.stream,
    groupId,
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
    ...(opts.tickIntervalMs ? { tickIntervalMs: opts.tickIntervalMs } : {}),
    ...(opts.tickOnStart ? { tickOnStart: true } : {}),
    ...(opts.timerTicks ? { timerTicks: true } : {}),
    afterCommit: () => vacuum.kick(),
  });
  await operate(kit, runner, vacuum, {
    groupId,
    topics: opts.topics,
    ...(opts.close ? { close: opts.close } : {}),
    ...(opts.routes ? { routes: opts.routes } : {}),
  });
  return runner;
}

export interface RunTasksOptions<S> {
  group: string;
  /** Co-partitioned input topics (same partition count, keyed alike), in tie-break order. */
  topics: string[];
  topology: TaskTopology<S>;
  /** Wall mode: how often tasks punctuate. */
  tickIntervalMs?: number;
  /** How often tasks holding records (TaskHold) are offered them again; default 250 ms. */
  heldRetryMs?: number;
  /** The service's default least time between batches (COMMIT_INTERVAL_MS overrides it). */
  commitIntervalMs?: number;
  /** The consumer's fetch size per partition; default 1 MiB. */
  maxBytesPerPartition?: number;
  /** Closed in the second shutdown phase, after the last batch has committed. */
  close?: () => Promise<void>;
  /** The service's update-heavy tables (see Vacuumer). */
  vacuum?: readonly string[];
  /** Read-only JSON routes the ops server serves beside its own (OPS_PATHS). */
  routes?: readonly OpsRoute[];
  /** Crash tests: called after a batch's PostgreSQL commit, before its Kafka commit. */
  afterStateCommit?: () => void;
}

/** A service whose state is owned by tasks (ADR 16); needs a kit booted with transactional: true. */
export async function runTasks<S>(kit: ServiceKit, opts: RunTasksOptions<S>): Promise<TaskRunner<S>> {
  const groupId = groupIdFor(kit.config, opts.group);
  const vacuum = tableMaintenance(kit, [...(opts.vacuum ?? []), "stream_tasks"]);
  const runner = new TaskRunner<S>({
    service: kit.config.SERVICE_NAME,
    kafka: kit.stream,
    groupId,
    topics: opts.topics,
    topology: opts.topology,
    producer: kit.producer,
    dlq: kit.dlq,
    pool: kit.pool,
    logger: kit.logger,
    metrics: kit.metrics,
    clockMode: kit.clock.mode,
    sessionTimeoutMs: kit.config.CONSUMER_SESSION_TIMEOUT_MS,
    ...(opts.tickIntervalMs ? { tickIntervalMs: opts.tickIntervalMs } : {}),
    ...(opts.heldRetryMs ? { heldRetryMs: opts.heldRetryMs } : {}),
    ...(opts.maxBytesPerPartition ? { maxBytesPerPartition: opts.maxBytesPerPartition } : {}),
    commitIntervalMs: kit.config.COMMIT_INTERVAL_MS ?? opts.commitIntervalMs ?? 0,
    afterStateCommit: () => {
      vacuum.kick();
      opts.afterStateCommit?.();
    },
  });
  await operate(kit, runner, vacuum, {
    groupId,
    topics: opts.topics,
    ...(opts.close ? { close: opts.close } : {}),
    ...(opts.routes ? { routes: opts.routes } : {}),
  });
  return runner;
}

export interface RunGroupTasksOptions<R> {
  group: string;
  /** Co-partitioned input topics. */
  topics: string[];
  topology: GroupTopology<R>;
  /** Event mode: how long the input must stand consumed to its end before the tail is released. */
  idleMs: number;
  /** How often the group punctuates, in both clock modes. */
  tickIntervalMs: number;
  close?: () => Promise<void>;
  vacuum?: readonly string[];
  routes?: readonly OpsRoute[];
  afterStateCommit?: () => void;
  /** The service's default least time between batches (COMMIT_INTERVAL_MS overrides it). */
  commitIntervalMs?: number;
}

/**
 * A service that is one task over all partitions (ADR 16): every fetch's records in one step at
 * the group's watermark. One instance per group; needs a kit booted with transactional: true.
 */
export async function runGroupTasks<R>(
  kit: ServiceKit,
  opts: RunGroupTasksOptions<R>,
): Promise<GroupTaskRunner<R>> {
  const groupId = groupIdFor(kit.config, opts.group);
  const vacuum = tableMaintenance(kit, [...(opts.vacuum ?? []), "stream_tasks"]);
  const runner = new GroupTaskRunner<R>({
    service: kit.config.SERVICE_NAME,
    kafka: kit.stream,
    groupId,
    topics: opts.topics,
    topology: opts.topology,
    producer: kit.producer,
    dlq: kit.dlq,
    pool: kit.pool,
    logger: kit.logger,
    metrics: kit.metrics,
    clockMode: kit.clock.mode,
    idleMs: opts.idleMs,
    tickIntervalMs: opts.tickIntervalMs,
    sessionTimeoutMs: kit.config.CONSUMER_SESSION_TIMEOUT_MS,
    commitIntervalMs: kit.config.COMMIT_INTERVAL_MS ?? opts.commitIntervalMs ?? 0,
    afterStateCommit: () => {
      vacuum.kick();
      opts.afterStateCommit?.();
    },
  });
  await operate(kit, runner, vacuum, {
    groupId,
    topics: opts.topics,
    ...(opts.close ? { close: opts.close } : {}),
    ...(opts.routes ? { routes: opts.routes } : {}),
  });
  return runner;
}
