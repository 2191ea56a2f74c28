// The topic contract. schemas/asyncapi.yaml documents the same topics; a test keeps the
// two (and every topic literal in the code base) in agreement.

export type TopicKey =
  | "member-id"
  | "order-id"
  | "rule-set-id"
  | "source-offset"
  | "customer-id"
  | "command-id";

export interface TopicSpec {
  readonly name: string;
  /** File in schemas/avro holding the value schema. */
  readonly schemaFile: string;
  readonly key: TopicKey;
  readonly compacted: boolean;
  /**
   * -1 keeps forever. Every topic does by default: record timestamps are event time, and the
   * broker's time-based retention compares them with the wall clock, so a replay of 1997's
   * history would be deleted minutes after it was written. Operators who need bounded storage
   * set retention.bytes (or retention.ms, for live-only data) on the topics after provisioning.
   */
  readonly retentionMs: number;
  /** Whether upstream systems may write plain JSON instead of registry-framed Avro. */
  readonly acceptsJson: boolean;
}

export const TOPICS = {
  orders: {
    name: "orders.v1",
    schemaFile: "orders.v1.avsc",
    key: "customer-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: true,
  },
  members: {
    name: "members.v1",
    schemaFile: "members.v1.avsc",
    key: "customer-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: true,
  },
  purchases: {
    name: "loyalty.purchases.v1",
    schemaFile: "loyalty.purchases.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  memberChanges: {
    name: "loyalty.members.v1",
    schemaFile: "loyalty.members.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  points: {
    name: "loyalty.points.v1",
    schemaFile: "loyalty.points.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  campaigns: {
    name: "loyalty.campaigns.v1",
    schemaFile: "loyalty.campaigns.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  tiers: {
    name: "loyalty.tiers.v1",
    schemaFile: "loyalty.tiers.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  churnAlerts: {
    name: "loyalty.churn-alerts.v1",
    schemaFile: "loyalty.churn-alerts.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  ledgerCommands: {
    name: "loyalty.ledger-commands.v1",
    schemaFile: "loyalty.ledger-commands.v1.avsc",
    key: "member-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  ledgerReplies: {
    name: "loyalty.ledger-replies.v1",
    schemaFile: "loyalty.ledger-replies.v1.avsc",
    key: "command-id",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
  rules: {
    name: "loyalty.rules.v1",
    schemaFile: "loyalty.rules.v1.avsc",
    key: "rule-set-id",
    compacted: true,
    retentionMs: -1,
    acceptsJson: false,
  },
  dlq: {
    name: "loyalty.dlq.v1",
    schemaFile: "loyalty.dlq.v1.avsc",
    key: "source-offset",
    compacted: false,
    retentionMs: -1,
    acceptsJson: false,
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicId = keyof typeof TOPICS;
export type TopicName = (typeof TOPICS)[TopicId]["name"];

export const ALL_TOPICS: readonly TopicSpec[] = Object.values(TOPICS);

export function topicByName(name: string): TopicSpec | undefined {
  return ALL_TOPICS.find((t) => t.name === name);
}

export type Topics = { readonly [K in TopicId]: TopicSpec };

export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,30}$/;

/**
 * The topics of one engine. An empty namespace is the production contract; a namespace
 * ("t3f9a") prefixes every topic so that several programmes, or parallel tests, can share a
 * cluster without seeing each other's events.
 */
export function namespacedTopics(namespace = ""): Topics {
  if (namespace === "") return TOPICS;
  if (!NAMESPACE_PATTERN.test(namespace))
    throw new Error(`namespace '${namespace}' must match ${NAMESPACE_PATTERN}`);
  const out = {} as Record<TopicId, TopicSpec>;
  for (const [id, spec] of Object.entries(TOPICS) as Array<[TopicId, TopicSpec]>)
    out[id] = { ...spec, name: `${namespace}.${spec.name}` };
  return out;
}

/** TopicNameStrategy: the subject of a topic's value schema. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}
