import type pg from "pg";

/**
 * Vacuums and analyses a service's busiest tables itself, at most once per interval, in the
 * background. Autovacuum may be off (it is on the reference machine): a table rewritten row by
 * row every batch then grows without bound, and tables that start empty keep the planner's
 * first guess at their size, so joins pick full scans (ADR 11).
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
    // Table names were checked against a strict pattern; identifiers cannot be parameters.
    // VACUUM cannot run in a transaction block: it takes a pool connection of its own.
    this.running = this.pool
      .query(`vacuum (analyze) ${this.tables.join(", ")}`)
      .then(
        () => undefined,
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        this.running = null;
      });
  }

  /** Waits for a pass in progress (shutdown: before the pool closes). */
  async idle(): Promise<void> {
    await this.running;
  }
}
