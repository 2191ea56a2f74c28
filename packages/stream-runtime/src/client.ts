// The stream runtime's Kafka client (ADR 15): @confluentinc/kafka-javascript (librdkafka in a
// native addon), through its KafkaJS-compatible API. The runners and BatchingProducer use it;
// the services' own direct clients (relays, the replay, admin tools, tests) stay on kafkajs for
// now (`createKafka` in kafka.ts) and are listed in the package README.
import { createRequire } from "node:module";
import type { KafkaJS } from "@confluentinc/kafka-javascript";
import type { Kafka as KafkajsKafka } from "kafkajs";
import { ConfigError } from "./errors.ts";
import type { KafkaSecurity } from "./kafka.ts";
import { kafkaSecurity } from "./kafka.ts";
import type { Logger } from "./logger.ts";

export type StreamKafka = KafkaJS.Kafka;
export type StreamConsumer = KafkaJS.Consumer;
export type StreamProducer = KafkaJS.Producer;
export type StreamAdmin = KafkaJS.Admin;
export type StreamBatchPayload = KafkaJS.EachBatchPayload;
export type StreamMessage = KafkaJS.KafkaMessage;
export type StreamHeaders = KafkaJS.IHeaders;

let loaded: typeof KafkaJS | undefined;

/**
 * The addon's KafkaJS namespace, loaded on first use, not when the runtime is imported: the addon
 * is not context-aware, so a process that has loaded it cannot load it again in a worker thread
 * ("Module did not self-register"), and modules that only import the runtime's pure helpers
 * (the backtest's worker thread) must not load it at all.
 */
export function ckjs(): typeof KafkaJS {
  loaded ??= (createRequire(import.meta.url)("@confluentinc/kafka-javascript") as { KafkaJS: typeof KafkaJS })
    .KafkaJS;
  return loaded;
}

/** librdkafka's log levels as the compatibility layer names them (its `logLevel` enum). */
const LOG = { NOTHING: 0, ERROR: 1, WARN: 2, INFO: 3, DEBUG: 4 } as const;

/** The client's logger interface, written to pino (one log stream per service). */
export function streamLogger(logger: Logger, level: string): KafkaJS.Logger {
  const child = logger.child({ component: "kafka" });
  const make = (): KafkaJS.Logger => ({
    info: (message, extra) => child.info(extra ?? {}, message),
    error: (message, extra) => child.error(extra ?? {}, message),
    warn: (message, extra) => child.warn(extra ?? {}, message),
    debug: (message, extra) => child.debug(extra ?? {}, message),
    namespace: () => make(),
    setLogLevel: () => undefined,
  });
  void level;
  return make();
}

/**
 * librdkafka settings for TLS and SASL. The compatibility layer takes `ssl` as a boolean only: a
 * CA bundle (KAFKA_SSL_CA_FILE) goes to librdkafka's `ssl.ca.pem`.
 */
export function streamSecurity(security: KafkaSecurity): {
  kafkaJS: Pick<KafkaJS.KafkaConfig, "sasl" | "ssl">;
  rdkafka: Record<string, string>;
} {
  const kafkaJS: Pick<KafkaJS.KafkaConfig, "sasl" | "ssl"> = {};
  const rdkafka: Record<string, string> = {};
  if (security.sasl !== undefined) {
    const s = security.sasl as { mechanism: string; username?: string; password?: string };
    kafkaJS.sasl = {
      mechanism: s.mechanism,
      username: s.username ?? "",
      password: s.password ?? "",
    } as KafkaJS.SASLOptions;
  }
  if (security.ssl !== undefined && security.ssl !== false) {
    kafkaJS.ssl = true;
    if (typeof security.ssl === "object") rdkafka["ssl.ca.pem"] = security.ssl.ca.join("\n");
  }
  return { kafkaJS, rdkafka };
}

/**
 * The runtime's client. TLS and SASL are `security` when given, else read from the process
 * environment (kafkaSecurity), as createKafka does.
 */
export function createStreamKafka(opts: {
  clientId: string;
  brokers: string[];
  logger: Logger;
  level: string;
  security?: KafkaSecurity;
}): StreamKafka {
  const { kafkaJS, rdkafka } = streamSecurity(opts.security ?? kafkaSecurity());
  const debug = opts.level === "debug" || opts.level === "trace";
  return new (ckjs().Kafka)({
    kafkaJS: {
      clientId: opts.clientId,
      brokers: opts.brokers,
      // librdkafka is chatty at info (every rebalance); keep it at warn unless debugging.
      logLevel: (debug ? LOG.DEBUG : LOG.WARN) as KafkaJS.logLevel,
      logger: streamLogger(opts.logger, opts.level),
      retry: { initialRetryTime: 100, maxRetryTime: 5_000 },
      ...kafkaJS,
    },
    ...rdkafka,
  });
}

/** The runtime's client made beside each service kit's kafkajs client (bootService). */
const paired = new WeakMap<KafkajsKafka, StreamKafka>();

/** Records that `stream` is the runtime's client of the same service as `kafkajs`. */
export function pairStreamKafka(kafkajs: KafkajsKafka, stream: StreamKafka): void {
  paired.set(kafkajs, stream);
}

/**
 * The runtime's client for a runner's `kafka` option. A kit's kafkajs client (`kit.kafka`, as
 * the API passes to its clock's ConsumerRunner) stands for the kit's own runtime client
 * (`kit.stream`), so that callers written before the move need no change.
 */
export function asStreamKafka(kafka: StreamKafka | KafkajsKafka): StreamKafka {
  if (kafka instanceof ckjs().Kafka) return kafka;
  const stream = paired.get(kafka as KafkajsKafka);
  if (stream === undefined)
    throw new ConfigError([
      "kafka: a kafkajs client that is not a service kit's; the runners need the runtime's client (createStreamKafka, or kit.stream)",
    ]);
  return stream;
}

/** librdkafka's rebalance event codes (rd_kafka_resp_err_t). */
const ASSIGN_PARTITIONS = -175;

export interface StreamConsumerOptions {
  groupId: string;
  sessionTimeoutMs: number;
  /** librdkafka's max.partition.fetch.bytes: what one fetch asks of a partition. */
  maxBytesPerPartition: number;
  /** Where a group with no committed offset starts (the runtime's default: the beginning). */
  fromBeginning: boolean;
  /** Called with this member's whole new assignment after each rebalance (eager protocol). */
  onAssign?(assignment: ReadonlyMap<string, readonly number[]>): void;
  /** Called when this member's partitions are taken away (before the next assignment). */
  onRevoke?(): void;
}

/**
 * A consumer as the runners use it: read_committed, no auto-commit (offsets commit with the
 * output), and librdkafka's **range** assignor. Range gives each topic's partitions out in
 * ranges over the same sorted members, so partition p of every co-partitioned topic (same
 * partition count) goes to one member: the task (ADR 16), as Kafka Streams assigns them. The
 * compatibility layer's default is round-robin, which would split a task's topics.
 */
export function streamConsumer(kafka: StreamKafka, o: StreamConsumerOptions): StreamConsumer {
  return kafka.consumer({
    kafkaJS: {
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(o.sessionTimeoutMs / 3)),
      maxBytesPerPartition: o.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      readUncommitted: false,
      fromBeginning: o.fromBeginning,
      autoCommit: false,
      partitionAssigners: [ckjs().PartitionAssigners.range],
    },
    // Every record the client holds for the partition in one eachBatch call (the runners cut
    // it up themselves). The default (32) would cut batches short, and with any bound the client
    // sizes its cache by the consumption rate it measures, starting at one record: the first
    // batches of a run would be single records. Unbounded, a call may bring a partition's whole
    // backlog (librdkafka prefetches while the call drains its queue).
    "js.consumer.max.batch.size": -1,
    rebalance_cb: (err: { code: number }, assignment: Array<{ topic: string; partition: number }>) => {
      if (err.code === ASSIGN_PARTITIONS) {
        const byTopic = new Map<string, number[]>();
        for (const { topic, partition } of assignment) {
          const list = byTopic.get(topic);
          if (list) list.push(partition);
          else byTopic.set(topic, [partition]);
        }
        o.onAssign?.(byTopic);
      } else o.onRevoke?.();
    },
  } as KafkaJS.ConsumerConstructorConfig);
}
