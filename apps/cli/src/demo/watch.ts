// Watches an engine work through a replay: each service's consumer-group progress, and the state
// that changes after the last commit (ledger entries, churn-alert's tail).
// It records when each of them last changed, so the time reported is when the LAST service
// caught up, not when the polling loop noticed that nothing had moved since.
import type { Pool } from "@loyalty/db";
import type { Admin } from "kafkajs";
import { Completion, type GroupProgress, PIPELINE, endOffsets, groupLag, topicsFor } from "../engine.ts";

export interface Poll {
  at: number;
  stages: Record<string, GroupProgress>;
  /** Highest ledger sequence number: moves with every entry (the rules engine's, expiries included, and the API's). */
  ledgerSeq: number;
  churnAlerts: number;
  /** Partitions whose events churn-alert has not yet released past its frontier (its tail). */
  churnBehind: number;
}

async function scalar(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  try {
    const r = await pool.query<{ n: number | string | null }>(sql, params);
    return Number(r.rows[0]?.n ?? 0);
  } catch (err) {
    // A fresh namespace's tables appear as the services migrate it: none yet is zero so far.
    if ((err as { code?: unknown }).code === "42P01") return 0;
    throw err;
  }
}

export class PipelineWatch {
  /** For each observed quantity: its last value and the first poll time it was seen with it. */
  private readonly seen = new Map<string, { value: number; since: number }>();
  private readonly completion = new Completion();
  private quiet = 0;

  constructor(
    private readonly admin: Admin,
    private readonly pool: Pool,
    private readonly ns: string,
  ) {}

  /** Messages on the orders and members topics before the replay: the ingestor's starting line. */
  async inputEnd(): Promise<number> {
    const t = topicsFor(this.ns);
    let n = 0;
    for (const topic of [t.orders.name, t.members.name])
      for (const v of (await endOffsets(this.admin, topic)).values()) n += v;
    return n;
  }

  async poll(): Promise<Poll> {
    const topics = topicsFor(this.ns);
    const stages: Record<string, GroupProgress> = {};
    for (const s of PIPELINE)
      stages[s.name] = await groupLag(
        this.admin,
        this.ns ? `${this.ns}.${s.group}` : s.group,
        s.input.map((t) => topics[t].name),
      );
    const at = Date.now();
    const p: Poll = {
      at,
      stages,
      ledgerSeq: await scalar(this.pool, "select coalesce(max(seq), 0) as n from ledger_entries"),
      churnAlerts: await scalar(this.pool, "select count(*) as n from churn_alerts"),
      // churn-alert's partitions (stream_tasks of its group, ADR 16) with events past its frontier.
      churnBehind: await scalar(
        this.pool,
        `select count(*) as n from stream_tasks s, churn_engine e
          where s.group_id = $1 and s.stream_time is not null
            and (e.frontier is null or s.stream_time > e.frontier)`,
        [this.ns ? `${this.ns}.churn-alert` : "churn-alert"],
      ),
    };
    let moved = false;
    const note = (key: string, value: number) => {
      const prev = this.seen.get(key);
      if (prev === undefined || prev.value !== value) {
        this.seen.set(key, { value, since: at });
        moved = true;
      }
    };
    for (const [name, g] of Object.entries(stages)) note(name, g.committed);
    // Ledger entries come from the rules engine and the API; alerts and the frontier
    // are churn-alert's tail, released once its input has stood idle.
    note("ledger entries", p.ledgerSeq);
    note("churn alerts", p.churnAlerts);
    note("churn frontier", p.churnBehind);
    this.quiet = moved ? 0 : this.quiet + 1;
    return p;
  }

  /**
   * Everything sent has been consumed by every service, churn-alert has released its tail, and
   * nothing has moved for `quietPolls` polls.
   */
  settled(p: Poll, ingestorTarget: number, quietPolls = 2): boolean {
    const consumed = (p.stages.ingestor?.committed ?? 0) >= ingestorTarget;
    // Every stage's Completion must see this poll (it compares with the previous one).
    const done = Object.entries(p.stages).map(([n, g]) => this.completion.done(n, g));
    return consumed && done.every(Boolean) && p.churnBehind === 0 && this.quiet >= quietPolls;
  }

  /** Whether the services have consumed everything (the tail may still be pending). */
  idle(p: Poll, ingestorTarget: number): boolean {
    return (
      (p.stages.ingestor?.committed ?? 0) >= ingestorTarget &&
      Object.values(p.stages).every((g) => g.lagBeyondMarkers === 0)
    );
  }

  /** When each quantity took its current value: per service, the moment it caught up. */
  caughtUp(): { at: number; last: string; perStage: Record<string, number> } {
    const perStage: Record<string, number> = {};
    let at = 0;
    let last = "";
    for (const [k, v] of this.seen) {
      perStage[k] = v.since;
      if (v.since >= at) {
        at = v.since;
        last = k;
      }
    }
    return { at, last, perStage };
  }
}

/**
 * How far the replay has got through the whole pipeline, in orders: the ingestor's share of what
 * was sent, times the least-advanced downstream stage's share of its input so far.
 */
export function ordersThrough(p: Poll, inputStart: number, total: number): number {
  const ing = p.stages.ingestor;
  if (!ing || total <= 0) return 0;
  const ingested = Math.min(1, Math.max(0, ing.committed - inputStart) / total);
  let slowest = 1;
  for (const [name, g] of Object.entries(p.stages)) {
    if (name === "ingestor") continue;
    // Transaction markers are offsets a consumer never commits past: not work left.
    const end = g.committed + g.lag;
    slowest = Math.min(slowest, end === 0 ? 0 : 1 - g.lagBeyondMarkers / end);
  }
  return Math.floor(total * ingested * slowest);
}
