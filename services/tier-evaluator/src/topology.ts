// The tier evaluator as a task topology (ADR 16): a task is an input partition; its state is
// its members' records and due index (domain/task.ts), restored from tier_members; its tier
// changes go out in the batch's Kafka transaction. See README.md.
import {
  type AvroCodec,
  type PointsMovement,
  type PurchaseEvent,
  type TierChanged,
  type Topics,
  isRegistryFramed,
} from "@loyalty/contracts";
import {
  type ConsumedMessage,
  type TaskOutput,
  type TaskTopology,
  TransientError,
} from "@loyalty/stream-runtime";
import type { TierChange, TierConfig } from "@loyalty/tiers";
import { type InputCheck, type InputSource, fromPoints, fromPurchase } from "./domain/inputs.ts";
import { toTierChanged } from "./domain/output.ts";
import type { PartitionItem } from "./domain/partition.ts";
import {
  type TierTaskState,
  emptyTaskState,
  punctuateTask,
  restoredTaskState,
  stepTask,
} from "./domain/task.ts";
import { loadMembers, writeMembers } from "./store.ts";

export interface TierTopologyOptions {
  config: TierConfig;
  source: InputSource;
  mode: "event" | "wall";
  /** Event mode: record times further ahead of the wall clock than this do not move the clock. */
  maxFutureMs: number;
  codec: AvroCodec;
  tiers: Topics["tiers"];
  /** The tier changes of each committed batch (metrics). */
  onCommitted?: (changes: readonly TierChanged[]) => void;
}

type Decoded =
  | InputCheck
  | { ok: false; code: "EMPTY_PAYLOAD" | "MALFORMED_AVRO" | "UNKNOWN_SCHEMA_ID"; reason?: string };

export function tierTopology(o: TierTopologyOptions): TaskTopology<TierTaskState> {
  // Changes sent by batches not yet committed, per partition (for onCommitted only).
  const sent = new Map<number, TierChanged[]>();

  async function decode(m: ConsumedMessage): Promise<Decoded> {
    if (m.value === null || m.value.length === 0) return { ok: false, code: "EMPTY_PAYLOAD" };
    if (!isRegistryFramed(m.value))
      return { ok: false, code: "MALFORMED_AVRO", reason: "not registry-framed Avro" };
    try {
      return o.source === "points"
        ? fromPoints(await o.codec.decode<PointsMovement>(m.value))
        : fromPurchase(await o.codec.decode<PurchaseEvent>(m.value));
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      const status = (err as { status?: unknown }).status;
      if (status === 404 || /not found/i.test(text))
        return { ok: false, code: "UNKNOWN_SCHEMA_ID", reason: text };
      // The registry being unreachable is not the record's fault: retry, never dead-letter.
      if (typeof status === "number" || /ECONN|ETIMEDOUT|EAI_AGAIN|socket|network|fetch failed/i.test(text))
        throw new TransientError(`schema registry unavailable: ${text}`, err);
      return { ok: false, code: "MALFORMED_AVRO", reason: text };
    }
  }

  async function emit(partition: number, changes: readonly TierChange[], out: TaskOutput): Promise<void> {
    if (changes.length === 0) return;
    const payloads = changes.map(toTierChanged);
    const values = await Promise.all(payloads.map((p) => o.codec.encode(o.tiers, p)));
    payloads.forEach((p, i) =>
      out.produce({ topic: o.tiers.name, key: p.memberId, value: values[i]!, timestamp: p.effectiveAt }),
    );
    const list = sent.get(partition);
    if (list) list.push(...payloads);
    else sent.set(partition, payloads);
  }

  const topology: TaskTopology<TierTaskState> = {
    async restore(db, partitions) {
      const rows = await loadMembers(db, partitions);
      for (const p of partitions) sent.delete(p);
      return new Map([...rows].map(([p, list]) => [p, restoredTaskState(list, o.config)]));
    },
    empty: () => emptyTaskState(),
    async process(task, records, out) {
      // A record dated further ahead of the wall clock than TIER_MAX_FUTURE_MS would move the
      // task's stream time and evaluate every member of the partition up to it: dead-lettered,
      // it moves nothing (the runtime does not count dead letters in stream time).
      const ceiling = o.mode === "event" ? Date.now() + o.maxFutureMs : Number.POSITIVE_INFINITY;
      const items: PartitionItem[] = [];
      for (const m of records) {
        const c = await decode(m);
        if (!c.ok) out.deadLetter(m, c.code, c.reason);
        else if (m.timestamp > ceiling)
          out.deadLetter(
            m,
            "INVALID_TIMESTAMP",
            `record time ${new Date(m.timestamp).toISOString()} is more than TIER_MAX_FUTURE_MS (${o.maxFutureMs} ms) ahead of the wall clock`,
          );
        else items.push({ kind: "apply", input: c.input, at: m.timestamp });
      }
      const changes = stepTask(task.state, items, {
        config: o.config,
        streamTime: task.streamTime,
        drive: o.mode === "event",
      });
      await emit(task.partition, changes, out);
    },
    async flush(tx, tasks) {
      await writeMembers(tx, tasks, o.config);
    },
    committed(tasks) {
      for (const t of tasks) {
        t.state.dirty.clear();
        const list = sent.get(t.partition);
        if (list) {
          sent.delete(t.partition);
          o.onCommitted?.(list);
        }
      }
    },
  };
  if (o.mode === "wall")
    // Event mode has no punctuation: evaluations run inside process(), at exact stream positions.
    topology.punctuate = async (task, now, out) => {
      await emit(task.partition, punctuateTask(task.state, now, o.config), out);
    };
  return topology;
}
