// Members per tier, read from the tier evaluator's PostgreSQL state (used by `loyalty tiers stats`).
import type { Pool } from "@loyalty/db";
import { type TierConfig, type TierState, defaultTierConfig, stats } from "@loyalty/tiers";
import type { MemberRecord } from "./domain/member.ts";

export interface TierStatsReport {
  /** The instant the distribution is for (epoch millis). */
  at: number;
  /** Where `at` came from when not given: the evaluator's event-time clock, or the wall clock. */
  atSource: "given" | "evaluator-clock" | "wall-clock";
  counts: Record<string, number>;
  /** Members whose tier at `at` is unknown (their history before it was evicted). */
  unknown: number;
  /** Members whose first event is after `at`. */
  notJoined: number;
  members: number;
  metric: TierConfig["metric"];
}

interface Settings {
  config: TierConfig;
  clockMode: "event" | "wall";
  /** The evaluator's consumer group (absent in settings written before ADR 16). */
  groupId?: string;
}

async function settings(pool: Pool): Promise<Settings | null> {
  const r = await pool.query<{ value: Settings }>("select value from tier_settings where key = 'programme'");
  return r.rows[0]?.value ?? null;
}

/**
 * The distribution at `at` (default: the evaluator's clock: in event-time mode the highest
 * stream time of its tasks, in wall-clock mode now). Uses the policy's stats(): members
 * behind `at` are advanced in memory (due downgrades counted), earlier times come from each
 * member's recorded history (tierAt).
 */
export async function readTierStats(pool: Pool, at?: number, pageSize = 5000): Promise<TierStatsReport> {
  const s = await settings(pool);
  const config = s?.config ?? defaultTierConfig;
  let when = at;
  let atSource: TierStatsReport["atSource"] = "given";
  if (when === undefined) {
    if (s?.clockMode === "wall") {
      when = Date.now();
      atSource = "wall-clock";
    } else {
      // The evaluator's clock is its tasks' stream time (ADR 16), kept by the stream runtime.
      const c = await pool.query<{ clock: number | null }>(
        "select max(stream_time) as clock from stream_tasks where group_id = $1",
        [s?.groupId ?? "tier-evaluator"],
      );
      when = c.rows[0]?.clock ?? Date.now();
      atSource = c.rows[0]?.clock == null ? "wall-clock" : "evaluator-clock";
    }
  }
  const counts: Record<string, number> = {};
  for (const t of config.tiers) counts[t.name] = 0;
  let unknown = 0;
  let notJoined = 0;
  let members = 0;
  let after = "";
  for (;;) {
    const r = await pool.query<{ member_id: string; record: MemberRecord }>(
      "select member_id, record from tier_members where member_id > $1 order by member_id limit $2",
      [after, pageSize],
    );
    if (r.rows.length === 0) break;
    const page = stats(
      r.rows.map((x): TierState => x.record.state),
      when,
      config,
    );
    for (const [k, v] of Object.entries(page.counts)) counts[k] = (counts[k] ?? 0) + v;
    unknown += page.unknown;
    notJoined += page.notJoined;
    members += r.rows.length;
    after = r.rows[r.rows.length - 1]!.member_id;
  }
  return { at: when, atSource, counts, unknown, notJoined, members, metric: config.metric };
}
