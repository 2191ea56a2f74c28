// The member API's "now". The API expires nothing: the rules engine, the ledger's owner, expires
// lots in its own event time and publishes the entries in ledger order (ADR 16 step 3). "Now"
// dates redemptions and adjustments, picks the lots a redemption may take (expires_at > now) and
// sets the summary's expiring horizons. Event mode: the latest event time the rules engine has
// committed, as the API reads it on the points topic (its read model's group), never below the
// latest event time its read model held at start: `loyalty member show` uses the same (ledgerNow),
// and a restarted API agrees with it before its first batch. Wall mode: the wall clock.
import { type Clock, WatermarkClock } from "@loyalty/stream-runtime";
import type { Db } from "./store/db.ts";
import { latestEventTime } from "./store/points.ts";

/**
 * The latest event time of the ledger as the API's read model of loyalty.points.v1 holds it
 * (api_points_entries), or null when it holds nothing yet.
 */
export async function ledgerNow(db: Db): Promise<number | null> {
  return latestEventTime(db);
}

export class ApiNow {
  private floor: number;
  constructor(
    private readonly clock: Clock,
    start: number | null,
  ) {
    this.floor = start ?? Number.NEGATIVE_INFINITY;
  }

  /** Never backwards; in event mode before anything is known, the wall clock. */
  now(): number {
    const c = this.clock;
    if (c.mode === "wall") return c.now();
    // The latest, not the minimum over partitions: the API expires nothing, so it need not wait
    // for the slowest partition, and the ledger's latest event time is what the CLI uses too.
    const t = c instanceof WatermarkClock ? c.latest() : c.now();
    if (t > this.floor) this.floor = t;
    return Number.isFinite(this.floor) ? this.floor : Date.now();
  }
}
