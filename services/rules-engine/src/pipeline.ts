import type {
  AvroCodec,
  CampaignTriggered,
  ChurnAlert,
  LedgerCommand,
  MemberChanged,
  PurchaseEvent,
  Topics,
} from "@loyalty/contracts";
import { frontierOf } from "@loyalty/contracts";
import type { ConsumedMessage } from "@loyalty/stream-runtime";
import { Partitioners } from "kafkajs";
import { commandProblem, normaliseCommand } from "./engine/commands.ts";
import { type CampaignRow, toMovement } from "./engine/model.ts";
import type { EngineEvent } from "./engine/process.ts";
import { toMs } from "./rulesets/topic.ts";

// The pieces of the engine's tasks (src/topology.ts) that speak Kafka: decoding the three input
// topics, the member partitioner and the output records.

/**
 * The partition of a member id on the member-keyed topics (kafkajs' default partitioner, which
 * every producer of the programme uses: murmur2 of the key, as Java clients).
 */
export function memberPartitioner(partitions: number): (memberId: string) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  return (memberId) => partitioner({ topic: "", partitionMetadata, message: { key: memberId, value: null } });
}

export { toMovement };

export function toCampaign(c: CampaignRow): CampaignTriggered {
  return {
    eventId: c.eventId,
    memberId: c.memberId,
    campaignId: c.campaignId,
    ruleId: c.ruleId,
    ruleVersion: c.ruleVersion,
    sourceEventId: c.sourceEventId,
    eventTime: c.eventTime,
    rewardJson: c.rewardJson,
  };
}

/** churn-alert's frontier marker on the alerts topic (ADR 12). */
export interface FrontierMark {
  kind: "frontier";
  partition: number;
  time: number;
}

/**
 * Decodes a message of one of the four input topics into an engine event, or says why not: an
 * error starting "undecodable" is MALFORMED_AVRO, any other a SCHEMA_VIOLATION.
 */
export async function decodeEvent(
  codec: AvroCodec,
  topics: Topics,
  m: ConsumedMessage,
): Promise<EngineEvent | FrontierMark | { error: string }> {
  if (m.topic === topics.churnAlerts.name) {
    const time = frontierOf(m.value, m.headers);
    if (time !== null) return { kind: "frontier", partition: m.partition, time };
  }
  if (!m.value || m.value.length === 0) return { error: "empty payload" };
  let raw: unknown;
  try {
    raw = await codec.decode(m.value);
  } catch (err) {
    return { error: `undecodable: ${(err as Error).message}` };
  }
  if (m.topic === topics.ledgerCommands.name) {
    const problem = commandProblem(raw);
    if (problem !== null) return { error: `ledger command: ${problem}` };
    const command = normaliseCommand(raw as LedgerCommand);
    return {
      kind: "command",
      // The record, not the command id: a duplicate command is another record, answered again.
      event: {
        eventId: `cmd:${m.partition}:${m.offset}`,
        memberId: command.memberId,
        eventTime: command.requestedAt,
      },
      command,
    };
  }
  const r = raw as { memberId?: unknown; eventId?: unknown; eventTime?: unknown };
  const eventTime = toMs(r.eventTime);
  if (
    typeof r.memberId !== "string" ||
    r.memberId === "" ||
    typeof r.eventId !== "string" ||
    r.eventId === ""
  )
    return { error: "memberId and eventId are required" };
  if (!Number.isSafeInteger(eventTime)) return { error: "eventTime is not a timestamp" };
  if (m.topic === topics.purchases.name) {
    const e = { ...(raw as PurchaseEvent), eventTime };
    if (!Number.isSafeInteger(e.baseAmountMinor) || e.baseAmountMinor < 0)
      return { error: `baseAmountMinor ${e.baseAmountMinor} is not a non-negative integer` };
    return { kind: "purchase", event: e };
  }
  if (m.topic === topics.memberChanges.name)
    return { kind: "member", event: { ...(raw as MemberChanged), eventTime } };
  if (m.topic === topics.churnAlerts.name)
    return { kind: "churn", event: { ...(raw as ChurnAlert), eventTime } };
  return { error: `unexpected topic ${m.topic}` };
}
