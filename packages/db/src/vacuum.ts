import type pg from "pg";

/**
 * Vacuums and analyses a service's busiest tables itself, in the background, at most once per
 * interval and only the tables that need it. Autovacuum may be off (it is on the reference
 * machine): a table rewritten row by row every batch then grows without bound, and tables that
 * start empty keep the planner's first guess at their size, so joins pick full scans (ADR 11).
 * The thresholds are autovacuum's defaults: a pass over every table each interval made
 * `vacuum (analyze)` of the large, insert-mostly ledger tables PostgreSQL's most frequent
 * statement under live traffic.
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
      inserted: number;
      analysed: boolean;
    }>(
      `select relname, n_live_tup::float8 as live, n_dead_tup::float8 as dead,
              n_mod_since_analyze::float8 as modified, n_ins_since_vacuum::float8 as inserted,
              (last_analyze is not null or last_autoanalyze is not null) as analysed
         from pg_stat_user_tables where schemaname = current_schema() and relname = any($1::text[])`,
      [this.tables],
    );
    const vacuum: string[] = [];
    const analyse: string[] = [];
    for (const t of r.rows) {
      if (t.dead > 50 + 0.2 * t.live || t.inserted > 1000 + 0.2 * t.live) vacuum.push(t.relname);
      else if (t.modified > 50 + 0.1 * t.live || (!t.analysed && t.modified > 0)) analyse.push(t.relname);
    }
    // Table names were checked against a strict pattern; identifiers cannot be parameters.
    // VACUUM cannot run in a transaction block: it takes a pool connection of its own.
    if (vacuum.length) await this.pool.query(`vacuum (analyze) ${vacuum.join(", ")}`);
    if (analyse.length) await this.pool.query(`analyze ${analyse.join(", ")}`);
  }

  /** Waits for a pass in progress (shutdown: before the pool closes). */
  async idle(): Promise<void> {
    await this.running;
  }
}
