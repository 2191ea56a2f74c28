// Points expiry and the API's notion of "now".
// Event-time mode: the API consumes loyalty.points.v1 (its own group) only to follow the rules
// engine's committed output. "Now" is the lowest of the partitions' latest event times (no idle
// rule: a quiet partition may be one the engine is still working towards, held behind
// churn-alert), and the latest time of any partition once the engine's consumer group has
// caught up. After each batch and every second every lot with expires_at <= now is expired. The
// engine itself expires a member's due lots before the member's next movement (ADR 13): this job
// covers members with none. Wall mode: the same job on a timer. The time used is also stored
// (api_clock) so that a restarted API (before its first batch) and the CLI's `member show` use
// the same "now" instead of the wall clock.
import type { Pool } from "@loyalty/db";
import { type Clock, WatermarkClock } from "@loyalty/stream-runtime";
import type { EngineProgress } from "./engine-progress.ts";
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
  /** Never backwards: the engine catching up and then getting new input must not undo expiries. */
  private floor = Number.NEGATIVE_INFINITY;
  private engineCaughtUp = false;
  constructor(
    private readonly clock: Clock,
    private readonly pool: Pool,
    private readonly engine: EngineProgress | null = null,
  ) {}

  /** Asks whether the rules engine has caught up (before each expiry pass). */
  async refresh(onError: (err: unknown) => void): Promise<void> {
    if (this.engine === null) return;
    try {
      this.engineCaughtUp = await this.engine.caughtUp();
    } catch (err) {
      this.engineCaughtUp = false; // unknown: the strict minimum is the safe side
      onError(err);
    }
  }

  private streamTime(): number {
    const c = this.clock;
    if (this.engine === null || !(c instanceof WatermarkClock)) return c.now();
    return this.engineCaughtUp ? c.latest() : c.strictMin();
  }

  async load(): Promise<void> {
    const s = await storedNow(this.pool);
    if (s && s.mode === this.clock.mode) this.stored = s.nowMs;
  }

  /** Event time (see above) or wall time; before the stream gives one, the last stored time. */
  now(): number {
    const t = this.streamTime();
    if (t > this.floor) this.floor = t;
    if (Number.isFinite(this.floor)) return this.floor;
    return this.stored ?? Date.now();
  }

  /** True once the clock has a time of its own (event mode: after the first batches). */
  get running(): boolean {
    this.now();
    return Number.isFinite(this.floor);
  }

  async persist(): Promise<void> {
    if (!this.running) return;
    const t = this.now();
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
export async function expiryTick(
  pool: Pool,
  clock: ApiClock,
  afterCommit: () => void,
  onError: (err: unknown) => void = () => undefined,
): Promise<number> {
  await clock.refresh(onError);
  if (!clock.running) return 0;
  await clock.persist();
  const n = await expireDue(pool, clock.now());
  if (n > 0) afterCommit();
  return n;
}
