// `loyalty member show ID`: the member summary the API answers on GET /v1/members/{id} (the same
// function, services/api/src/summary.ts), at the API's clock (its stored event-time watermark)
// unless --at says otherwise; wall time when the API never ran.
import { formatSummary, memberSummary, storedNow } from "@loyalty/api";
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { EXIT, NotFoundError } from "../errors.ts";

export async function show(
  ctx: CliContext,
  id: string,
  opts: { at?: number; json?: boolean },
): Promise<number> {
  const summary = await withPool(ctx, async (pool, ns) => {
    const stored = await storedNow(pool);
    const now = opts.at ?? (stored?.mode === "event" ? stored.nowMs : Date.now());
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
