import type { PoolClient } from "@loyalty/db";
import type { MemberRow, TimedEvent } from "../engine/member.ts";
import { type EngineRow, type IncomingEvent, type SummaryRow, summaryOf } from "./members.ts";

/** Where the task's memory is loaded from: the store's tables. */
export interface MemberLoader {
  /** Every member with its due time. */
  members(c: PoolClient): Promise<ReadonlyMap<string, MemberRow>>;
  /** Recorded events after event time `after` (every one when null): not yet in member state. */
  eventsAfter(c: PoolClient, after: number | null): Promise<readonly IncomingEvent[]>;
}

export type PendingByMember = Map<string, (TimedEvent & { id: string })[]>;

/**
 * The engine's member state held in memory by its task (ADR 16): every member's row, its due
 * time and its summary (the refit's input), and the recorded events after the frontier, not
 * yet applied. Loaded whole from churn_members, churn_due and churn_events when the task starts; the engine decides against it and a step writes back only the members it
 * changed, set-based, in its transaction (`changes`). The tables stay the store the read side
 * and a restart read. The copy is trusted only while the engine row's generation is the one
 * this process's last committed step left: a step of another instance, or one of ours that did
 * not commit (its changes were applied here already), makes the next step load again.
 */
export class MemberMemory {
  private rows = new Map<string, MemberRow>();
  /** Members with a due time, and that time (a member's row carries the same dueAt). */
  private due = new Map<string, number>();
  private summaries = new Map<string, SummaryRow>();
  /** Recorded events after the frontier, in no particular order. */
  private pending: IncomingEvent[] = [];
  private loaded = false;
  /** Generation the copy is exact for; null while a step that changed it is uncommitted. */
  private generation: number | null = null;
  /** Members whose columns of churn_members this step changed. */
  private touched = new Set<string>();
  /** Members whose due time this step changed. */
  private moved = new Set<string>();

  constructor(private readonly load: MemberLoader) {}

  /** A step begins, holding the engine row (locked): loads members and events unless exact. */
  async begin(c: PoolClient, engine: Pick<EngineRow, "generation" | "frontier">): Promise<void> {
    if (!this.loaded || this.generation !== engine.generation) {
      this.rows = new Map(await this.load.members(c));
      this.pending = [...(await this.load.eventsAfter(c, engine.frontier))];
      this.due = new Map();
      this.summaries = new Map();
      for (const m of this.rows.values()) {
        if (m.dueAt !== null) this.due.set(m.memberId, m.dueAt);
        const s = summaryOf(m);
        if (s !== null) this.summaries.set(m.memberId, s);
      }
      this.loaded = true;
    }
    this.generation = null;
    this.touched.clear();
    this.moved.clear();
  }

  /** The step's transaction committed, leaving the engine row at generation `g`. */
  committed(g: number): void {
    this.generation = g;
  }

  /** Events recorded by this step after the frontier: applied once event time reaches them. */
  received(events: readonly IncomingEvent[]): void {
    for (const e of events) this.pending.push(e);
  }

  /** The earliest event not yet applied. */
  earliestPending(): number | null {
    let t: number | null = null;
    for (const e of this.pending) if (t === null || e.time < t) t = e.time;
    return t;
  }

  /**
   * Takes the events at or before `limit` (before it when not `inclusive`) out of the pending
   * ones: by member, each member's in (time, id) order, ids compared bytewise.
   */
  takeEvents(limit: number, inclusive: boolean): PendingByMember {
    const out: PendingByMember = new Map();
    const kept: IncomingEvent[] = [];
    for (const e of this.pending) {
      if (!(inclusive ? e.time <= limit : e.time < limit)) {
        kept.push(e);
        continue;
      }
      const list = out.get(e.memberId);
      const timed = { id: e.eventId, time: e.time, event: e.event };
      if (list === undefined) out.set(e.memberId, [timed]);
      else list.push(timed);
    }
    this.pending = kept;
    for (const list of out.values()) list.sort(byTimeThenId);
    return out;
  }

  get(memberId: string): MemberRow | undefined {
    return this.rows.get(memberId);
  }

  /** Members due at or before `limit` (before it when not `inclusive`), in no particular order. */
  dueUpTo(limit: number, inclusive: boolean): string[] {
    const out: string[] = [];
    for (const [id, t] of this.due) if (inclusive ? t <= limit : t < limit) out.push(id);
    return out;
  }

  /** A member as the engine leaves it. */
  put(row: MemberRow): void {
    const id = row.memberId;
    const prev = this.rows.get(id);
    this.rows.set(id, row);
    if (prev === undefined || !sameColumns(prev, row)) {
      this.touched.add(id);
      const s = summaryOf(row);
      if (s === null) this.summaries.delete(id);
      else this.summaries.set(id, s);
    }
    this.setDue(id, row.dueAt);
  }

  /** A refit's due times: exactly `dues` (members without one have none). */
  replaceDues(dues: ReadonlyMap<string, number>): void {
    for (const id of [...this.due.keys()]) if (!dues.has(id)) this.setDue(id, null);
    for (const [id, t] of dues) this.setDue(id, t);
  }

  /** Every member with a purchase day, in member id order (bytewise), as allSummaries() reads them. */
  allSummaries(): SummaryRow[] {
    return [...this.summaries.values()].sort(byMemberId);
  }

  /** What this step changed, for the store: member rows, and due times (null: none any more). */
  changes(): { members: MemberRow[]; dues: Map<string, number | null> } {
    const members: MemberRow[] = [];
    for (const id of this.touched) {
      const m = this.rows.get(id);
      if (m !== undefined) members.push(m);
    }
    const dues = new Map<string, number | null>();
    for (const id of this.moved) dues.set(id, this.due.get(id) ?? null);
    return { members, dues };
  }

  private setDue(id: string, t: number | null): void {
    if ((this.due.get(id) ?? null) === t) return;
    if (t === null) this.due.delete(id);
    else this.due.set(id, t);
    const row = this.rows.get(id);
    if (row !== undefined && row.dueAt !== t) this.rows.set(id, { ...row, dueAt: t });
    this.moved.add(id);
  }
}

/** Whether two rows of one member store the same churn_members columns (the due time aside). */
function sameColumns(p: MemberRow, q: MemberRow): boolean {
  return (
    p.state === q.state &&
    p.lastEventTime === q.lastEventTime &&
    p.alert.armed === q.alert.armed &&
    p.alert.lastAlertAt === q.alert.lastAlertAt &&
    p.alert.lastPurchaseAt === q.alert.lastPurchaseAt
  );
}

/** Event-time order, ties by id compared bytewise (as PostgreSQL's collate "C"). */
export const byTimeThenId = (p: { time: number; id: string }, q: { time: number; id: string }) =>
  p.time - q.time || (p.id < q.id ? -1 : p.id > q.id ? 1 : 0);

const byMemberId = (p: { memberId: string }, q: { memberId: string }) =>
  p.memberId < q.memberId ? -1 : p.memberId > q.memberId ? 1 : 0;
