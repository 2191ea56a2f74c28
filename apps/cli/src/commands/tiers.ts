// `pnpm loyalty tiers stats [--at DATE] [--json]`: members per tier, from the tier evaluator's
// PostgreSQL state (DATABASE_URL, LOYALTY_NAMESPACE).
import { createPool } from "@loyalty/db";
import { readTierStats } from "@loyalty/tier-evaluator";

const USAGE = `usage: pnpm loyalty tiers stats [--at DATE] [--json]
  --at DATE   the distribution at DATE: YYYY-MM-DD (the end of that UTC day) or an ISO 8601
              instant; default: the evaluator's clock (its event time, or now in wall-clock mode)
  --json      machine-readable output`;

/** YYYY-MM-DD is the end of that UTC day (its events included); anything else must be ISO 8601 with a zone. */
export function parseAt(text: string): number | null {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (day) {
    const t = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    const d = new Date(t);
    if (d.getUTCFullYear() !== Number(day[1]) || d.getUTCMonth() !== Number(day[2]) - 1) return null;
    return t + 86_400_000 - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(text)) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "stats") {
    console.error(USAGE);
    return 2;
  }
  let at: number | undefined;
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === "--json") json = true;
    else if (a === "--at" || a.startsWith("--at=")) {
      const v = a === "--at" ? rest[++i] : a.slice("--at=".length);
      const t = v === undefined ? null : parseAt(v);
      if (t === null) {
        console.error(`--at: expected YYYY-MM-DD or an ISO 8601 instant, got ${v ?? "nothing"}\n${USAGE}`);
        return 2;
      }
      at = t;
    } else {
      console.error(`unknown option ${a}\n${USAGE}`);
      return 2;
    }
  }
  const namespace = process.env.LOYALTY_NAMESPACE ?? "";
  const pool = createPool(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/loyalty", {
    max: 2,
    namespace,
  });
  try {
    const report = await readTierStats(pool, at);
    if (json) {
      console.log(JSON.stringify({ ...report, atIso: new Date(report.at).toISOString(), namespace }));
      return 0;
    }
    const width = Math.max(...Object.keys(report.counts).map((k) => k.length), 8);
    console.log(
      `tiers at ${new Date(report.at).toISOString()} (${report.atSource}), metric ${report.metric}`,
    );
    for (const [tier, n] of Object.entries(report.counts)) {
      const pct = report.members ? ((100 * n) / report.members).toFixed(2) : "0.00";
      console.log(`  ${tier.padEnd(width)} ${String(n).padStart(9)}  ${pct.padStart(6)}%`);
    }
    if (report.unknown) console.log(`  ${"unknown".padEnd(width)} ${String(report.unknown).padStart(9)}`);
    if (report.notJoined)
      console.log(`  ${"not yet".padEnd(width)} ${String(report.notJoined).padStart(9)}  (joined later)`);
    console.log(`  ${"members".padEnd(width)} ${String(report.members).padStart(9)}`);
    return 0;
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") {
      console.error(`no tier evaluator state in namespace '${namespace || "public"}' (has the service run?)`);
      return 1;
    }
    throw err;
  } finally {
    await pool.end();
  }
}
