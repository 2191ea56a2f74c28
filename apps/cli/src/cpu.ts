// Where the machine's CPU went during a benchmark phase: CPU seconds per component (each
// service, the broker, the registry, PostgreSQL, Redis), read from /proc before and after.
import { readFileSync, readdirSync } from "node:fs";

// USER_HZ is 100 on every Linux architecture Node runs on.
const TICKS_PER_SECOND = 100;

export type CpuSnapshot = Map<string, number>;

function classify(pid: number, named: ReadonlyMap<number, string>): string | null {
  const own = named.get(pid);
  if (own) return own;
  let cmd: string;
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return null;
  }
  if (cmd.includes("kafka.Kafka")) return "kafka broker";
  if (cmd.includes("apicurio") || cmd.includes("quarkus-run")) return "schema registry";
  // Backends rename themselves "postgres: ..."; the postmaster keeps its path.
  if (cmd.startsWith("postgres") || (cmd.split("\0")[0] ?? "").endsWith("/postgres")) return "postgresql";
  if (cmd.startsWith("redis-server")) return "redis";
  return null;
}

/** CPU seconds used so far by each component; `named` maps service pids to their names. */
export function cpuSnapshot(named: ReadonlyMap<number, string>): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const name = classify(pid, named);
    if (!name) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th,
    // cutime and cstime (children waited for) the 14th and 15th. A backend that exits (a pool
    // closing an idle connection) takes its CPU time to the postmaster's cutime/cstime: counted
    // there, or it would vanish from the sum and the difference could even come out negative.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    let ticks = Number(fields[11]) + Number(fields[12]);
    if (name === "postgresql") ticks += Number(fields[13]) + Number(fields[14]);
    out.set(name, (out.get(name) ?? 0) + ticks / TICKS_PER_SECOND);
  }
  return out;
}

/** CPU seconds per component between two snapshots, largest first. */
export function cpuSpent(before: CpuSnapshot, after: CpuSnapshot): Array<[string, number]> {
  return [...after]
    .map(([k, v]): [string, number] => [k, Math.max(0, v - (before.get(k) ?? 0))])
    .sort((a, b) => b[1] - a[1]);
}
