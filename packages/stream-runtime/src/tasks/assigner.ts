// Co-partitioned assignment (ADR 16): a task is partition p of every input topic, so partition p
// of every topic must go to the same group member, as Kafka Streams assigns tasks. kafkajs'
// default round-robin assigner deals out topic-partitions one by one and would give partition 0
// of one input to one instance and partition 0 of another input to a second instance, both then
// running "task 0" against the same stream_tasks row.
import { AssignerProtocol, type PartitionAssigner } from "kafkajs";

/** Which member gets partition p: members sorted by id, partition p to member p mod n (pure). */
export function coPartitionedAssignment(
  memberIds: readonly string[],
  partitionsOf: ReadonlyMap<string, readonly number[]>,
): Map<string, Record<string, number[]>> {
  const sorted = [...memberIds].sort();
  const out = new Map<string, Record<string, number[]>>();
  if (sorted.length === 0) return out;
  for (const [topic, partitions] of partitionsOf)
    for (const p of partitions) {
      const member = sorted[p % sorted.length] as string;
      const a = out.get(member) ?? {};
      a[topic] = [...(a[topic] ?? []), p];
      out.set(member, a);
    }
  return out;
}

export const CoPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: "LoyaltyCoPartitioned",
  version: 0,
  async assign({ members, topics }) {
    const partitionsOf = new Map<string, number[]>();
    for (const topic of topics)
      partitionsOf.set(
        topic,
        cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId),
      );
    const assignment = coPartitionedAssignment(
      members.map((m) => m.memberId),
      partitionsOf,
    );
    return [...assignment].map(([memberId, a]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: a,
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: "LoyaltyCoPartitioned",
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});
