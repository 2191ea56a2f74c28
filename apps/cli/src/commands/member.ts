// Relative import: @loyalty/cli has no workspace dependency on @loyalty/api yet (lockfile frozen
// while services are built in parallel); switch to "@loyalty/api" once it is added.
import { formatSummary, memberSummary, storedNow } from "@loyalty/api";
// `pnpm loyalty member show ID [--json] [--at ISO]`: the member summary the API answers on
// GET /v1/members/{id} (the same function: services/api/src/summary.ts), at the API's clock
// (its stored event-time watermark) unless --at says otherwise; wall time when the API never ran.
// DATABASE_URL and LOYALTY_NAMESPACE select the database and the namespace's schema.
import { createPool } from "@loyalty/db";
import { endpointsFromEnv } from "@loyalty/local-stack";

export async function run(args: string[]): Promise<number> {
  const [sub, id, ...rest] = args;
  if (sub !== "show" || !id) {
    console.error("usage: pnpm loyalty member show ID [--json] [--at ISO-8601]");
    return 2;
  }
  const json = rest.includes("--json");
  const atIdx = rest.indexOf("--at");
  const atArg = atIdx >= 0 ? rest[atIdx + 1] : undefined;
  if (atIdx >= 0 && (atArg === undefined || Number.isNaN(Date.parse(atArg)))) {
    console.error("member show: --at needs an ISO-8601 time");
    return 2;
  }
  const pool = createPool(endpointsFromEnv().databaseUrl, {
    max: 2,
    namespace: process.env.LOYALTY_NAMESPACE ?? "",
  });
  try {
    const stored = await storedNow(pool);
    const now =
      atArg !== undefined ? Date.parse(atArg) : stored?.mode === "event" ? stored.nowMs : Date.now();
    const s = await memberSummary(pool, id, now);
    if (!s) {
      console.error(`member ${id} is not known`);
      return 1;
    }
    console.log(json ? JSON.stringify(s, null, 2) : formatSummary(s));
    return 0;
  } catch (err) {
    console.error(`loyalty member show: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await pool.end();
  }
}
