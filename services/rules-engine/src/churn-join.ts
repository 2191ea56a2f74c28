// The event-time join of purchases with churn alerts (ADR 12). churn-alert writes its frontier F
// into every partition of the alerts topic after the alerts up to F. Once this engine has applied
// a marker >= t from every partition, every alert at or before t is in the ledger's member rows,
// so a purchase at t sees exactly the alerts before it, whichever topic was read first. Purchases
// past the frontier are held in Kafka (BatchContext.hold) and their partition resumes when the
// frontier passes them. Alerts themselves never wait (member rows keep them with their time).

import type { Pool } from "@loyalty/db";
import type { Logger } from "@loyalty/stream-runtime";
import type { RuleSetRegistry } from "./engine/registry.ts";

export interface ChurnJoinOptions {
  pool: Pool;
  /** The rule set in force at a purchase's time says whether it reads churn facts at all. */
  registry: RuleSetRegistry;
  /** Partition count of the alerts topic: the frontier is the minimum over all of them. */
  alertPartitions: number;
  logger: Logger;
  /** While something is held: how often to read the frontiers other instances recorded. */
  pollMs?: number;
}

interface Held {
  topic: string;
  partition: number;
  /** Event time of the first held record. */
  time: number;
}

export class ChurnJoin {
  private readonly frontiers = new Map<number, number>();
  private readonly held = new Map<string, Held>();
  private resumer: ((topic: string, partition: number) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: ChurnJoinOptions) {}

  /** Loads the recorded frontiers; held partitions are checked on a timer from here on. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.poll(), this.o.pollMs ?? 250);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** How a held partition is fetched again (ConsumerRunner.resume). */
  bind(resume: (topic: string, partition: number) => void): void {
    this.resumer = resume;
  }

  /** Every alert at or before this time has been applied; -Infinity until each partition has a marker. */
  get frontier(): number {
    let min = Number.POSITIVE_INFINITY;
    for (let p = 0; p < this.o.alertPartitions; p++) {
      const f = this.frontiers.get(p);
      if (f === undefined) return Number.NEGATIVE_INFINITY;
      if (f < min) min = f;
    }
    return min;
  }

  /** A purchase at t must wait: its rule set reads churn facts and an alert at or before t may be unread. */
  mustWait(t: number): boolean {
    return t > this.frontier && this.o.registry.at(t)?.readsChurn === true;
  }

  /** A partition held at a record of event time `time` (call once the batch has succeeded). */
  hold(topic: string, partition: number, time: number): void {
    this.held.set(`${topic}:${partition}`, { topic, partition, time });
    this.wake();
  }

  /** Records markers read from alerts partitions, after the alerts before them are committed. */
  async advance(marks: ReadonlyMap<number, number>): Promise<void> {
    if (marks.size === 0) return;
    const partitions = [...marks.keys()];
    await this.o.pool.query(
      `insert into rules_churn_frontiers (partition, frontier)
       select * from unnest($1::int[], $2::bigint[])
       on conflict (partition) do update set frontier = greatest(rules_churn_frontiers.frontier, excluded.frontier)`,
      [partitions, partitions.map((p) => marks.get(p))],
    );
    for (const [p, f] of marks) this.raise(p, f);
    this.wake();
  }

  private raise(partition: number, frontier: number): void {
    if (frontier > (this.frontiers.get(partition) ?? Number.NEGATIVE_INFINITY))
      this.frontiers.set(partition, frontier);
  }

  /** Other instances record the partitions they consume; PostgreSQL has them all. */
  private async reload(): Promise<void> {
    const r = await this.o.pool.query<{ partition: number; frontier: string }>(
      "select partition, frontier::text from rules_churn_frontiers",
    );
    for (const row of r.rows) this.raise(row.partition, Number(row.frontier));
  }

  private async poll(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      await this.reload();
      this.wake();
    } catch (err) {
      this.o.logger.warn({ err }, "reading churn frontiers failed; retrying");
    }
  }

  private wake(): void {
    const resume = this.resumer;
    if (resume === null) return;
    const f = this.frontier;
    for (const [key, h] of this.held) {
      if (h.time > f) continue;
      this.held.delete(key);
      resume(h.topic, h.partition);
    }
  }
}
