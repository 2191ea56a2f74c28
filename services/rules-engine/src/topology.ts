// The rules engine on the stream runtime's tasks (ADR 16 step 4). Task p = partition p of the
// purchases, member-changes, churn-alerts and ledger-commands topics (all keyed by member id,
// co-partitioned). Ledger commands (engine/commands.ts) are applied in partition order with the
// task's other events at its stream time, which they do not move; each gets a reply on
// loyalty.ledger-replies.v1 in the batch's Kafka transaction, after its entries on the points topic.
// Per batch of one fetch: `process` decodes the task's records in memory and decides which
// purchases must wait for churn-alert (the join, below); `apply` prices the rest against the
// ledger in the runtime's PostgreSQL transaction (rows loaded and written set-based, as the API
// still writes balances and lots: the ledger cannot live in memory before it is the only writer)
// and sends the movements and campaign triggers; the runtime writes `stream_tasks` (offsets,
// stream time, pending output) in the same transaction and sends everything in one Kafka
// transaction with the offsets. A crash between the two commits is finished by the runtime's
// pending-output recovery: no re-emission from the ledger (ADR 5) any more.
//
// Stream time: the task's, moved by purchases only (`eventTime`; member changes and alerts are
// side inputs whose times may run ahead). Each purchase is followed by the expiry punctuation at
// the stream time after it (BatchProcessor.run), from the task's stream time before the batch:
// the ledger does not depend on where batches are cut.
//
// The churn join (ADR 12): churn-alert writes its frontier F into every alerts partition after
// the alerts up to F; the alerts of task p's members are in alerts partition p, so a purchase at
// t whose rule set reads churn facts is priced once partition p's frontier has reached t. Until
// then the runtime holds it (TaskHold: it and the purchases after it stay in Kafka, uncommitted)
// and offers it again. It waits at most CHURN_JOIN_MAX_WAIT_MS of wall time without the frontier
// moving (Kafka Streams' max.task.idle.ms): past that it is priced with the alerts known, and
// counted in loyalty_rules_churn_join_late_total. The frontier is a lane of the task's time
// (FRONTIER_LANE: the runtime keeps the highest marker's time in stream_tasks with the batch and
// the task reads it with laneTime): the engine keeps no clock table of its own.
import { type AvroCodec, type LedgerReply, type Topics, frontierOf } from "@loyalty/contracts";
import type { Pool, PoolClient } from "@loyalty/db";
import type {
  ConsumedMessage,
  Task,
  TaskApply,
  TaskHold,
  TaskOutput,
  TaskTopology,
} from "@loyalty/stream-runtime";
import type { EntryRow } from "./engine/model.ts";
import type { EngineEvent } from "./engine/process.ts";
import { eventIdOf } from "./engine/process.ts";
import type { RuleSetRegistry } from "./engine/registry.ts";
import { type FrontierMark, decodeEvent, toCampaign, toMovement } from "./pipeline.ts";
import type { RulesFeed } from "./rulesets/feed.ts";
import type { BatchOutputs, LedgerStore } from "./store/ledger-store.ts";

/** The lane of the task's time that churn-alert's frontier markers move (TaskTopology.mark). */
export const FRONTIER_LANE = "churn-frontier";

export interface EngineTaskState {
  readonly partition: number;
  /**
   * churn-alert's frontier read from this task's alerts partition, with the markers of the batch
   * so far; -Infinity before a marker. null until the batch's first call: then the task's lane.
   */
  frontier: number | null;
  /**
   * Monotonic ms since a purchase first waited for a frontier that has not moved since; null:
   * none has. Past CHURN_JOIN_MAX_WAIT_MS purchases are priced without waiting until it moves.
   */
  waitingSince: number | null;
  /** The batch decided, not yet committed: events in task order, with their records. */
  events: EngineEvent[];
  records: Map<string, ConsumedMessage>;
  /** The task's stream time before the batch (the punctuation starts from it). */
  from: number;
  /** Wall mode: a timer punctuation at this wall time. */
  tick: number | null;
}

export interface EngineTopologyDeps {
  codec: AvroCodec;
  topics: Topics;
  feed: RulesFeed;
  store: LedgerStore;
  registry: RuleSetRegistry;
  clockMode: "event" | "wall";
  /** Event mode's churn join on; off: alerts count from when they are read. */
  join: boolean;
  /** The longest a purchase waits for a frontier that does not move (wall ms). */
  maxWaitMs: number;
  /** The partition of a member on the purchases topic: a task expires its own members' lots. */
  partitionOf: (memberId: string) => number;
  /** Purchases priced past the join's maximum wait. */
  late: { inc(n: number): void };
  /** Called with what a committed batch wrote for fresh events (metrics). */
  onWritten?: (written: BatchOutputs["written"]) => void;
  /** Called with the ledger command replies a committed batch sent (metrics). */
  onReplied?: (replies: readonly LedgerReply[]) => void;
  /** Monotonic clock (ms); tests may replace it. */
  now?: () => number;
  instanceId: string;
}

/** What one batch of a task decided, before I/O: the events to price and the purchases held. */
export interface Decision {
  events: EngineEvent[];
  records: Map<string, ConsumedMessage>;
  hold: ConsumedMessage[];
  frontier: number;
  /** Purchases priced though the frontier had not reached them (the maximum wait passed). */
  late: number;
}

/**
 * The join's decision for a task's decoded records (pure): the frontier after the batch's
 * markers; which purchases wait (the first purchase past the frontier whose rule set reads churn
 * facts, and every purchase after it); alerts first, so a purchase sees every alert at or before
 * it that is in the batch. `release`: the maximum wait has passed, nothing waits.
 */
export function decide(
  decoded: ReadonlyArray<{ record: ConsumedMessage; value: EngineEvent | FrontierMark }>,
  frontier: number,
  opts: { join: boolean; release: boolean; readsChurn: (t: number) => boolean; purchases: string },
): Decision {
  let f = frontier;
  for (const d of decoded) if ("time" in d.value && d.value.time > f) f = d.value.time;
  const alerts: EngineEvent[] = [];
  const rest: EngineEvent[] = [];
  const records = new Map<string, ConsumedMessage>();
  const hold: ConsumedMessage[] = [];
  let late = 0;
  for (const { record, value } of decoded) {
    if (!("event" in value)) continue;
    if (opts.join && record.topic === opts.purchases) {
      if (hold.length > 0) {
        hold.push(record);
        continue;
      }
      const t = value.event.eventTime;
      if (t > f && opts.readsChurn(t)) {
        if (!opts.release) {
          hold.push(record);
          continue;
        }
        late++;
      }
    }
    records.set(eventIdOf(value), record);
    if (opts.join && value.kind === "churn") alerts.push(value);
    else rest.push(value);
  }
  return { events: [...alerts, ...rest], records, hold, frontier: f, late };
}

export function engineTopology(d: EngineTopologyDeps): TaskTopology<EngineTaskState> {
  const now = d.now ?? (() => performance.now());
  const noBeat = async () => {};
  const empty = (partition: number): EngineTaskState => ({
    partition,
    frontier: null,
    waitingSince: null,
    events: [],
    records: new Map(),
    from: Number.NEGATIVE_INFINITY,
    tick: null,
  });

  async function produceMovements(out: TaskOutput, entries: readonly EntryRow[]): Promise<void> {
    for (const m of entries)
      out.produce({
        topic: d.topics.points.name,
        key: m.memberId,
        value: await d.codec.encode(d.topics.points, toMovement(m)),
        timestamp: m.eventTime,
      });
  }

  async function emit(out: TaskOutput, s: EngineTaskState, o: BatchOutputs): Promise<void> {
    for (const r of o.rejected) {
      const record = s.records.get(r.eventId);
      if (record) out.deadLetter(record, r.code, r.message);
    }
    for (const e of s.events) {
      const x = o.bySource.get(eventIdOf(e));
      if (x) await produceMovements(out, x.entries);
      // A command's reply (a rejection and a duplicate's included) after its entries.
      const reply = o.replies.get(eventIdOf(e));
      if (reply) {
        replied.push(reply);
        out.produce({
          topic: d.topics.ledgerReplies.name,
          key: reply.commandId,
          value: await d.codec.encode(d.topics.ledgerReplies, reply),
          timestamp: reply.appliedAt,
        });
      }
      if (!x) continue;
      for (const c of x.campaigns)
        out.produce({
          topic: d.topics.campaigns.name,
          key: c.memberId,
          value: await d.codec.encode(d.topics.campaigns, toCampaign(c)),
          timestamp: c.eventTime,
        });
    }
  }

  const written: Array<BatchOutputs["written"]> = [];
  const replied: LedgerReply[] = [];
  return {
    empty,
    // Nothing of its own to restore: the ledger is read per batch, the frontier is the task's lane.
    async restore(_db: Pool, partitions: readonly number[]) {
      return new Map(partitions.map((p) => [p, empty(p)]));
    },
    mark: (r) => {
      if (r.topic !== d.topics.churnAlerts.name) return null;
      const time = frontierOf(r.value, r.headers);
      return time === null ? null : { lane: FRONTIER_LANE, time };
    },
    eventTime: (r) => (r.topic === d.topics.purchases.name ? r.timestamp : null),
    async process(task: Task<EngineTaskState>, records, out): Promise<TaskHold | undefined> {
      const s = task.state;
      const decoded: Array<{ record: ConsumedMessage; value: EngineEvent | FrontierMark }> = [];
      let maxTime = Number.NEGATIVE_INFINITY;
      for (const record of records) {
        const v = await decodeEvent(d.codec, d.topics, record);
        if ("error" in v) {
          const code = v.error.startsWith("undecodable") ? "MALFORMED_AVRO" : "SCHEMA_VIOLATION";
          out.deadLetter(record, code, v.error);
          continue;
        }
        // A command's time is the stream time it is applied at, not its requestedAt.
        if ("event" in v && v.kind !== "command" && v.event.eventTime > maxTime) maxTime = v.event.eventTime;
        decoded.push({ record, value: v });
      }
      // The rule sets in force up to the batch's latest event are known before anything is priced.
      if (maxTime > Number.NEGATIVE_INFINITY) await d.feed.ensureFresh(maxTime, noBeat);
      const join = d.join && d.clockMode === "event";
      const at = now();
      const opts = {
        join,
        readsChurn: (t: number) => d.registry.at(t)?.readsChurn === true,
        purchases: d.topics.purchases.name,
      };
      s.frontier ??= task.laneTime(FRONTIER_LANE);
      const frontier = s.frontier;
      let decision = decide(decoded, frontier, { ...opts, release: false });
      // The wait starts when a purchase first waits and restarts whenever the frontier moves;
      // past the maximum nothing waits, until the frontier moves again.
      if (decision.frontier > frontier) s.waitingSince = null;
      if (decision.hold.length > 0) {
        s.waitingSince ??= at;
        if (at - s.waitingSince >= d.maxWaitMs)
          decision = decide(decoded, frontier, { ...opts, release: true });
      }
      s.frontier = decision.frontier;
      if (decision.late > 0) d.late.inc(decision.late);
      if (s.events.length === 0) s.from = task.streamTime;
      s.events.push(...decision.events);
      for (const [id, r] of decision.records) s.records.set(id, r);
      return decision.hold.length > 0 ? { hold: decision.hold } : undefined;
    },
    async punctuate(task, time) {
      // Event mode punctuates per purchase inside the batch; wall mode's timer lands here.
      if (d.clockMode === "wall") task.state.tick = time;
    },
    async apply(tx: PoolClient, batch: readonly TaskApply<EngineTaskState>[]) {
      written.length = 0;
      replied.length = 0;
      const owner = (s: EngineTaskState) => (memberId: string) => d.partitionOf(memberId) === s.partition;
      const wallTime = d.clockMode === "wall" ? Date.now() : null;
      // Every task's events in one pass over the ledger: one statement per table for the batch.
      const priced = batch.filter(({ task }) => task.state.events.length > 0);
      if (priced.length > 0) {
        const o = await d.store.applyIn(
          tx,
          priced.map(({ task }) => ({
            events: task.state.events,
            stream: { from: task.state.from, wallTime, owns: owner(task.state) },
          })),
        );
        for (const { task, out } of priced) await emit(out, task.state, o);
        written.push(o.written);
      }
      for (const { task, out } of batch) {
        const s = task.state;
        if (s.events.length > 0 || s.tick === null) continue;
        const trigger = `expiry-tick:${d.instanceId}:${s.partition}:${s.tick}`;
        const entries = await d.store.punctuateIn(tx, s.tick, trigger, owner(s));
        await produceMovements(out, entries);
        written.push({ entries, campaigns: [] });
      }
    },
    // Everything is written by apply; the frontier goes with the task's progress.
    async flush() {},
    committed(tasks) {
      for (const t of tasks) {
        const s = t.state;
        // The next batch starts from the lane the runtime stored with this one.
        s.frontier = null;
        s.events = [];
        s.records = new Map();
        s.tick = null;
      }
      for (const w of written) d.onWritten?.(w);
      written.length = 0;
      if (replied.length > 0) d.onReplied?.(replied);
      replied.length = 0;
    },
  };
}
