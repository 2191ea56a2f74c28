import type pg from "pg";

/** ANALYZE's statistics target in the passes (see pass()). */
const STATISTICS_TARGET = 10;

/**
 * Vacuums and analyses a service's busiest tables itself, in the background, at most once per
 * interval and only the tables that need it. Autovacuum may be off (it is on the reference
 * machine): a table rewritten row by row every batch then grows without bound, and tables that
 * start empty keep the planner's first guess at their size, so joins pick full scans (ADR 11).
 * Vacuum when dead rows pass autovacuum's default threshold (20 % of the live rows); analyse
 * when a table was never analysed or its changes since outnumber the rows it had then.
 * Inserts alone never trigger a vacuum, and a 10 % change no analyse: with autovacuum's insert
 * and analyse thresholds these passes over the growing ledger tables were a third of
 * PostgreSQL's statement time in a CDNOW replay (ADR 11), and every query here looks rows up
 * by key, which a plan from half the rows does as well.
 */
export class Vacuumer {
  private last = 0;
  private running: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly tables: readonly string[],
    private readonly everyMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    for (const t of tables)
      if (!/^[a-z_][a-z0-9_]*$/.test(t)) throw new Error(`Vacuumer: '${t}' is not a plain table name`);
  }

  /** Starts a pass if the interval has passed and none is running; never waits for it. */
  kick(): void {
    if (this.everyMs <= 0 || this.tables.length === 0 || this.running) return;
    const now = Date.now();
    if (now - this.last < this.everyMs) return;
    this.last = now;
    this.running = this.pass()
      .then(
        () => undefined,
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        this.running = null;
      });
  }

  private async pass(): Promise<void> {
    const r = await this.pool.query<{
      relname: string;
      live: number;
      dead: number;
      modified: number;
      /** The planner's row count: as of the last analyse (or vacuum). */
      planned: number;
      analysed: boolean;
    }>(
      `select s.relname, s.n_live_tup::float8 as live, s.n_dead_tup::float8 as dead,
              s.n_mod_since_analyze::float8 as modified, greatest(c.reltuples, 0)::float8 as planned,
              (s.last_analyze is not null or s.last_autoanalyze is not null) as analysed
         from pg_stat_user_tables s join pg_class c on c.oid = s.relid
        where s.schemaname = current_schema() and s.relname = any($1::text[])`,
      [this.tables],
    );
    const vacuum: string[] = [];
    const analyse: string[] = [];
    for (const t of r.rows) {
      if (t.dead > 50 + 0.2 * t.live) vacuum.push(t.relname);
      else if (t.modified > 50 + t.planned || (!t.analysed && t.modified > 0)) analyse.push(t.relname);
    }
    if (vacuum.length === 0 && analyse.length === 0) return;
    // VACUUM cannot run in a transaction block: a connection of its own, outside any.
    const c = await this.pool.connect();
    try {
      // ANALYZE samples 300 rows per unit of the statistics target: 3,000 at 10 instead of
      // 30,000 at the default 100, a tenth of the time (1.1 s -> 0.1 s for the five ledger tables
      // after a replay). Every query here looks rows up by key or scans a time range, which ten
      // histogram buckets plan as well as a hundred.
      await c.query(`set default_statistics_target = ${STATISTICS_TARGET}`);
      // Table names were checked against a strict pattern; identifiers cannot be parameters.
      if (vacuum.length) await c.query(`vacuum (analyze) ${vacuum.join(", ")}`);
      if (analyse.length) await c.query(`analyze ${analyse.join(", ")}`);
      await c.query("reset default_statistics_target");
      c.release();
    } catch (err) {
      // The session may still carry the setting: do not hand it back to the pool.
      c.release(err instanceof Error ? err : true);
      throw err;
    }
  }

  /** Waits for a pass in progress (shutdown: before the pool closes). */
  async idle(): Promise<void> {
    await this.running;
  }
}
