// Pending-output recovery (ADR 16, "Exactly once"): a stored task whose batch sequence Kafka
// does not have (the offset commit of a batch carries its seq as metadata) crashed between its
// two commits; its pending output and offsets are sent now, in one Kafka transaction.
import type { StreamAdmin } from "../client.ts";
import type { Logger } from "../logger.ts";
import type { BatchingProducer, OffsetCommit } from "../producer.ts";
import { type RetryPolicy, withRetry } from "../retry.ts";
import { decodePending } from "./pending.ts";
import type { StoredTask } from "./progress-store.ts";

export interface RecoveryContext {
  admin: StreamAdmin;
  groupId: string;
  topics: readonly string[];
  producer: BatchingProducer;
  logger: Logger;
  retry: RetryPolicy;
}

export async function recoverTasks(
  ctx: RecoveryContext,
  stored: ReadonlyMap<number, StoredTask>,
): Promise<void> {
  if (stored.size === 0) return;
  const committed = await ctx.admin.fetchOffsets({ groupId: ctx.groupId, topics: [...ctx.topics] });
  for (const [partition, { progress, pending }] of stored) {
    // Every commit of a task carries all the topics it has offsets for; an input topic it has
    // never had a record of has no commit in Kafka and says nothing about its batches.
    let kafkaSeq: bigint | undefined;
    for (const t of committed) {
      if (!progress.offsets.has(t.topic)) continue;
      const p = t.partitions.find((x) => x.partition === partition);
      const meta = (p as { metadata?: string | null } | undefined)?.metadata;
      const seq = meta && /^\d+$/.test(meta) ? BigInt(meta) : 0n;
      if (kafkaSeq === undefined || seq < kafkaSeq) kafkaSeq = seq;
    }
    if ((kafkaSeq ?? 0n) >= progress.seq) continue;
    const messages = pending ? decodePending(pending) : [];
    for (const m of messages) ctx.producer.add(m);
    const offsets: OffsetCommit[] = [...progress.offsets].map(([topic, offset]) => ({
      topic,
      partition,
      offset: offset.toString(),
      metadata: progress.seq.toString(),
    }));
    await withRetry(() => ctx.producer.commitWithOffsets(ctx.groupId, offsets), ctx.retry);
    ctx.logger.warn(
      { partition, seq: progress.seq.toString(), records: messages.length },
      "re-sent the output of a batch whose Kafka transaction had not committed",
    );
  }
}
