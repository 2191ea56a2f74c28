// `loyalty member show ID`: the member summary the API answers on GET /v1/members/{id} (the same
// function, services/api/src/summary.ts), at the latest event time of the ledger (the rules
// engine's: what an event-mode API starts from) unless --at says otherwise; wall time for an
// empty ledger.
import { formatSummary, ledgerNow, memberSummary } from "@loyalty/api";
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { EXIT, NotFoundError } from "../errors.ts";

export async function show(
  ctx: CliContext,
  id: string,
  opts: { at?: number; json?: boolean },
): Promise<number> {
  const summary = await withPool(ctx, async (pool, ns) => {
    const now = opts.at ?? (await ledgerNow(pool)) ?? Date.now();
    const s = await memberSummary(pool, id, now);
    if (!s)
      throw new NotFoundError(
        `member ${id} is not known in namespace '${ns || "(default)"}' (LOYALTY_NAMESPACE selects the namespace)`,
      );
    return s;
  });
  if (opts.json) printJson(ctx, summary);
  else ctx.out(formatSummary(summary));
  return EXIT.ok;
}
