// Points expiry and the API's notion of "now".
// Event-time mode: the API consumes loyalty.points.v1 (its own group) only to advance a
// watermark that follows the rules engine's committed output; after each batch and every second
// every lot with expires_at <= watermark is expired. The engine itself expires a member's due
// lots before the member's next movement (ADR 13): this job covers members with none. Wall
// mode: the same job on a timer. The time used is also stored (api_clock) so that a restarted API (before
// its first batch) and the CLI's `member show` use the same "now" instead of the wall clock.
import type { Pool } from "@loyalty/db";
import type { Clock } from "@loyalty/stream-runtime";
import type { Db } from "./store/db.ts";
import { expireDue } from "./store/ledger.ts";

export async function storedNow(db: Db): Promise<{ nowMs: number; mode: string } | null> {
  const r = await db.query<{ now_ms: number; mode: string }>(
    "select now_ms, mode from api_clock where id = 1",
  );
  const row = r.rows[0];
  return row ? { nowMs: row.now_ms, mode: row.mode } : null;
}

export class ApiClock {
  private stored: number | null = null;
  constructor(
    private readonly clock: Clock,
    private readonly pool: Pool,
  ) {}

  async load(): Promise<void> {
    const s = await storedNow(this.pool);
    if (s && s.mode === this.clock.mode) this.stored = s.nowMs;
  }

  /** Watermark (event mode) or wall time; before the first batch, the last stored watermark. */
  now(): number {
    const t = this.clock.now();
    if (Number.isFinite(t)) return t;
    return this.stored ?? Date.now();
  }

  /** True once the clock has a time of its own (event mode: after the first batch). */
  get running(): boolean {
    return Number.isFinite(this.clock.now());
  }

  async persist(): Promise<void> {
    if (!this.running) return;
    const t = this.clock.now();
    if (this.stored !== null && t <= this.stored) return;
    this.stored = t;
    await this.pool.query(
      `insert into api_clock (id, now_ms, mode) values (1, $1, $2)
       on conflict (id) do update set
         now_ms = case when api_clock.mode = excluded.mode then greatest(api_clock.now_ms, excluded.now_ms)
                       else excluded.now_ms end,
         mode = excluded.mode,
                                     updated_at = now()`,
      [t, this.clock.mode],
    );
  }
}

/** One expiry pass at the clock's time. Returns the number of lots expired. */
export async function expiryTick(pool: Pool, clock: ApiClock, afterCommit: () => void): Promise<number> {
  if (!clock.running) return 0;
  await clock.persist();
  const n = await expireDue(pool, clock.now());
  if (n > 0) afterCommit();
  return n;
}
