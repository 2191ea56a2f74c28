// PostgreSQL CPU of one database during a benchmark phase: the backends connected to it (the
// services' pools), found in pg_stat_activity and read from /proc while the phase runs. The
// machine-wide "postgresql" figure of cpu.ts also counts other databases' backends (other work on
// a shared server), the WAL writer and the checkpointer; this one is the engine's own statements.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Pool } from "@loyalty/db";

const TICKS_PER_SECOND = 100;

function ticksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/**
 * Samples the backends of `pool`'s database every `everyMs` until `stop()`: a backend's CPU is
 * its last reading minus its first (0 for one that started after the first sample). A backend
 * that exits between two samples loses its last interval (the services' pools keep theirs open).
 */
export class BackendCpu {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  /** Each backend's client (its pool's application_name: the service's name). */
  private readonly client = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> = Promise.resolve();
  private started = false;

  constructor(
    private readonly pool: Pool,
    private readonly everyMs = 500,
  ) {}

  async start(): Promise<void> {
    await this.sample();
    this.started = true;
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => {});
    }, this.everyMs);
  }

  /** CPU seconds of the database's backends since start(), in all and per client, largest first. */
  async stop(): Promise<{ total: number; byClient: Array<[string, number]> }> {
    if (this.timer) clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const by = new Map<string, number>();
    let ticks = 0;
    for (const [pid, t] of this.last) {
      const spent = t - (this.first.get(pid) ?? 0);
      ticks += spent;
      const who = this.client.get(pid) || "(unnamed)";
      by.set(who, (by.get(who) ?? 0) + spent);
    }
    return {
      total: ticks / TICKS_PER_SECOND,
      byClient: [...by]
        .map(([k, v]): [string, number] => [k, v / TICKS_PER_SECOND])
        .sort((a, b) => b[1] - a[1]),
    };
  }

  private async sample(): Promise<void> {
    const r = await this.pool.query<{ pid: number; application_name: string }>(
      `select pid, application_name from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()`,
    );
    for (const { pid, application_name } of r.rows) {
      const t = ticksOf(pid);
      if (t === null) continue;
      // Seen at the first sample: counted from there; seen later: started during the phase.
      if (!this.first.has(pid)) this.first.set(pid, this.started ? 0 : t);
      this.last.set(pid, t);
      this.client.set(pid, application_name);
    }
  }
}

/**
 * sha256 over the ledger's balances, lots and entry ids, each in a fixed order: two runs over
 * the same input give the same digest exactly when their ledgers are the same (the same query as
 * services/api/test/int/helpers.ts `ledgerDigest`).
 */
export async function ledgerDigest(
  pool: Pool,
): Promise<{ digest: string; entries: number; members: number }> {
  let entries = 0;
  let members = 0;
  const part = async (sql: string, count?: (n: number) => void) => {
    const r = await pool.query<{ line: string }>(sql);
    const h = createHash("sha256");
    for (const row of r.rows) h.update(`${row.line}\n`);
    count?.(r.rows.length);
    return h.digest("hex");
  };
  const balances = await part(
    "select member_id || ' ' || balance || ' ' || debt || ' ' || shortfall as line from ledger_balances order by member_id",
    (n) => {
      members = n;
    },
  );
  const lots = await part(
    `select lot_id || ' ' || member_id || ' ' || points || ' ' || remaining || ' ' ||
            (extract(epoch from expires_at) * 1000)::bigint as line from ledger_lots order by lot_id`,
  );
  const ids = await part("select entry_id as line from ledger_entries order by entry_id", (n) => {
    entries = n;
  });
  const digest = createHash("sha256").update(`${balances} ${lots} ${ids}`).digest("hex");
  return { digest, entries, members };
}
