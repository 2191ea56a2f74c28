import type { PoolClient } from "@loyalty/db";
import type { MemberRow } from "../engine/member.ts";
import { type SummaryRow, summaryOf } from "./members.ts";

/**
 * Every member's summary (the refit's input), kept in memory between transactions. A refit
 * reads all of them; from PostgreSQL that was the largest read of a replay (a row per member at
 * each of CDNOW's 78 weekly refits: 16 s of statement time). The copy is trusted only while the
 * engine row's generation is the one this process's last committed step left: a step of another
 * instance, or one of ours that did not commit, makes it load again.
 */
export class SummaryCache {
  private rows: Map<string, SummaryRow> | null = null;
  /** Generation the copy is exact for; null while a step that changed it is uncommitted. */
  private generation: number | null = null;

  constructor(private readonly load: (c: PoolClient) => Promise<readonly SummaryRow[]>) {}

  /** A step begins, holding the engine row (locked) at generation `g`. */
  begin(g: number): void {
    if (this.generation !== g) this.rows = null;
    this.generation = null;
  }

  /** The step's transaction committed, leaving the engine row at generation `g`. */
  committed(g: number): void {
    this.generation = g;
  }

  /** Members saved in the step's transaction. */
  saved(rows: readonly MemberRow[]): void {
    if (this.rows === null) return;
    for (const m of rows) {
      const s = summaryOf(m);
      if (s === null) this.rows.delete(m.memberId);
      else this.rows.set(m.memberId, s);
    }
  }

  /** Every member with a purchase day, in member id order, as allSummaries() reads them in `c`'s transaction. */
  async all(c: PoolClient): Promise<SummaryRow[]> {
    if (this.rows === null) this.rows = new Map((await this.load(c)).map((s) => [s.memberId, s]));
    return [...this.rows.values()].sort(byMemberId);
  }
}

const byMemberId = (p: { memberId: string }, q: { memberId: string }) =>
  p.memberId < q.memberId ? -1 : p.memberId > q.memberId ? 1 : 0;
