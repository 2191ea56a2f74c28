import { ALL_TOPICS, type TopicSpec } from "@loyalty/contracts";
import { type Admin, type ITopicConfig, Kafka } from "kafkajs";
import { type Logger, kafkajsLevel, kafkajsLogCreator } from "./logger.ts";

export function createKafka(opts: {
  clientId: string;
  brokers: string[];
  logger: Logger;
  level: string;
}): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    logLevel: kafkajsLevel(opts.level),
    logCreator: kafkajsLogCreator(opts.logger),
    retry: { initialRetryTime: 100, retries: 10 },
  });
}

export function topicConfig(t: TopicSpec, partitions: number, replication: number): ITopicConfig {
  const configEntries = [
    { name: "cleanup.policy", value: t.compacted ? "compact" : "delete" },
    { name: "retention.ms", value: String(t.retentionMs) },
    // Timestamps are the producers' event-time stamps, kept as sent.
    { name: "message.timestamp.type", value: "CreateTime" },
  ];
  if (t.compacted) configEntries.push({ name: "min.compaction.lag.ms", value: "0" });
  // A dead letter wraps an input record of up to the broker's 1 MiB limit: it must always fit.
  if (t.name.endsWith("loyalty.dlq.v1"))
    configEntries.push({ name: "max.message.bytes", value: String(16 * 1024 * 1024) });
  // Rule sets are tiny and global: one partition keeps them totally ordered.
  return {
    topic: t.name,
    numPartitions: t.compacted ? 1 : partitions,
    replicationFactor: replication,
    configEntries,
  };
}

/**
 * Creates missing topics with explicit settings; existing topics are left as they are. Safe
 * when several services start at once: a topic another process created first is not an error.
 */
export async function ensureTopics(
  admin: Admin,
  opts: { partitions: number; replication: number; topics?: readonly TopicSpec[] },
): Promise<string[]> {
  const created: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const existing = new Set(await admin.listTopics());
    const missing = (opts.topics ?? ALL_TOPICS).filter((t) => !existing.has(t.name));
    if (missing.length === 0) return created;
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => topicConfig(t, opts.partitions, opts.replication)),
      });
      return created.concat(missing.map((t) => t.name));
    } catch (err) {
      const errors = (err as { errors?: Array<{ type?: string }> }).errors;
      const onlyRaces = Array.isArray(errors) && errors.every((e) => e.type === "TOPIC_ALREADY_EXISTS");
      // Created, but the leader wait's metadata request beat the topic to the broker's cache
      // (kafkajs retries LEADER_NOT_AVAILABLE there, not this): producers and consumers retry it.
      const metadataLag = (err as { type?: unknown }).type === "UNKNOWN_TOPIC_OR_PARTITION";
      if ((!onlyRaces && !metadataLag) || attempt >= 3) throw err;
      if (metadataLag) {
        created.push(...missing.map((t) => t.name));
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}
