// `loyalty stack up|down|status`: the local Kafka (KRaft) and Apicurio Registry from Maven jars,
// and probes of PostgreSQL and Redis (not started by this project).
import { stackDown, stackStatus, stackUp } from "@loyalty/local-stack";
import { type CliContext, printJson } from "../context.ts";
import { CheckFailedError, EXIT } from "../errors.ts";

type Status = Awaited<ReturnType<typeof stackStatus>>;

export async function up(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const r = await stackUp({ env: ctx.env, log: (l) => ctx.err(`stack: ${l}`) });
  if (!opts.json)
    ctx.out(`stack: up in ${r.seconds.toFixed(1)} s (kafka ${r.kafka}, registry ${r.registry})`);
  return report(ctx, await stackStatus({ env: ctx.env }), opts.json);
}

export async function down(ctx: CliContext, opts: { wipe?: boolean; json?: boolean }): Promise<number> {
  const stopped = await stackDown({ env: ctx.env, wipe: opts.wipe === true });
  if (opts.json) printJson(ctx, { stopped, wiped: opts.wipe === true });
  else {
    ctx.out(stopped.length ? `stack: stopped ${stopped.join(", ")}` : "stack: nothing of ours was running");
    if (opts.wipe) ctx.out("stack: Kafka data (and with it the registry's schemas) wiped");
  }
  return EXIT.ok;
}

export async function status(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  return report(ctx, await stackStatus({ env: ctx.env }), opts.json);
}

function report(ctx: CliContext, s: Status, json: boolean | undefined): number {
  const ok = Object.values(s).every((p) => p.ok);
  if (json) printJson(ctx, { ok, parts: s });
  else {
    for (const [name, p] of Object.entries(s))
      ctx.out(
        `  ${name.padEnd(9)} ${p.ok ? "up  " : "DOWN"}  ${p.managed ? "(started by this project) " : ""}${p.detail}`,
      );
    if (!s.postgres?.ok || !s.redis?.ok)
      ctx.out(
        "  PostgreSQL and Redis are not started by this project: start them, or set DATABASE_URL / REDIS_URL.",
      );
  }
  if (!ok)
    throw new CheckFailedError(
      `stack: ${Object.entries(s)
        .filter(([, p]) => !p.ok)
        .map(([n]) => n)
        .join(", ")} down`,
    );
  return EXIT.ok;
}
