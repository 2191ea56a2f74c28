// The ingestor as a task topology (ADR 16): task p = partition p of orders.v1 and members.v1.
// process: parse -> ingestRecord (pure, src/domain/ingest-task.ts) -> encode; punctuate: holds
// due at the task's stream time; flush: set-based writes of what changed (store.ts).
import { type Topics, sourceHeaders } from "@loyalty/contracts";
import type { AvroCodec } from "@loyalty/contracts";
import type { ServiceKit, TaskOutput, TaskTopology } from "@loyalty/stream-runtime";
import { Counter } from "prom-client";
import type { IngestorSettings } from "./config.ts";
import {
  type IngestState,
  type Output,
  type SourceRecord,
  expireHolds,
  ingestRecord,
  ingestState,
} from "./domain/index.ts";
import { parseRecord } from "./parse.ts";
import { flushIngest, restoreIngest } from "./store.ts";

export function ingestTopology(kit: ServiceKit, settings: IngestorSettings): TaskTopology<IngestState> {
  const { topics, codec } = kit;
  const events = new Counter({
    name: "loyalty_ingest_events_total",
    help: "Upstream events by outcome",
    labelNames: ["outcome"],
    registers: [kit.metrics.registry],
  });
  return {
    restore: restoreIngest,
    empty: () => ingestState({}),
    async process(task, records, out) {
      const state = task.state;
      if (task.streamTime > state.time) state.time = task.streamTime;
      for (const r of records) {
        const parsed = await parseRecord(r, topics, codec, settings.limits);
        await emit(ingestRecord(state, r, parsed, settings), r, out, topics, codec);
      }
    },
    async punctuate(task, _now, out) {
      // Holds run on event time in both clock modes: wall mode only decides when this is checked.
      const state = task.state;
      if (task.streamTime > state.time) state.time = task.streamTime;
      await emit(expireHolds(state, state.time, settings), null, out, topics, codec);
    },
    flush: flushIngest,
    committed(tasks) {
      for (const t of tasks) {
        const c = t.state.changes;
        events.inc({ outcome: "accepted" }, c.counts.accepted);
        events.inc({ outcome: "duplicate" }, c.counts.duplicates);
        events.inc({ outcome: "rejected" }, c.counts.rejected);
        events.inc({ outcome: "held" }, c.counts.held);
        c.slots.clear();
        c.members.clear();
        c.held.clear();
        c.events = [];
        c.counts = { accepted: 0, duplicates: 0, rejected: 0, held: 0 };
      }
    },
  };
}

/**
 * Outputs are keyed by member id, timestamped with their event time and name the source
 * partition of the record that produced them (downstream watermarks track event time per source).
 */
async function emit(
  outputs: Output[],
  from: SourceRecord | null,
  out: TaskOutput,
  topics: Topics,
  codec: AvroCodec,
): Promise<void> {
  for (const o of outputs) {
    if (o.kind === "dlq") {
      out.deadLetter(o.record, o.code, o.reason);
      continue;
    }
    if (!from) throw new TypeError(`${o.kind} output without a source record`);
    const topic = o.kind === "purchase" ? topics.purchases : topics.memberChanges;
    out.produce({
      topic: topic.name,
      key: o.record.memberId,
      value: await codec.encode(topic, o.record),
      timestamp: o.record.eventTime,
      headers: sourceHeaders(from.topic, from.partition),
    });
  }
}
