import { stackDown, stackStatus, stackUp } from "@loyalty/local-stack";

export async function stack(args: string[]): Promise<number> {
  const [sub, ...flags] = args;
  switch (sub) {
    case "up": {
      const r = await stackUp({ log: (l) => console.log(`stack: ${l}`) });
      console.log(`stack: up in ${r.seconds.toFixed(1)} s (kafka ${r.kafka}, registry ${r.registry})`);
      return (await printStatus()) ? 0 : 1;
    }
    case "down": {
      const stopped = await stackDown({ wipe: flags.includes("--wipe") });
      console.log(
        stopped.length ? `stack: stopped ${stopped.join(", ")}` : "stack: nothing of ours was running",
      );
      if (flags.includes("--wipe"))
        console.log("stack: Kafka data (and with it the registry's schemas) wiped");
      return 0;
    }
    case "status":
      return (await printStatus()) ? 0 : 1;
    default:
      console.error("usage: pnpm loyalty stack up|down [--wipe]|status");
      return 2;
  }
}

async function printStatus(): Promise<boolean> {
  const s = await stackStatus();
  let ok = true;
  for (const [name, p] of Object.entries(s)) {
    ok &&= p.ok;
    console.log(
      `  ${name.padEnd(9)} ${p.ok ? "up  " : "DOWN"}  ${p.managed ? "(started by this project) " : ""}${p.detail}`,
    );
  }
  if (!s.postgres?.ok || !s.redis?.ok)
    console.log(
      "  PostgreSQL and Redis are not started by this project: start them, or set DATABASE_URL / REDIS_URL.",
    );
  return ok;
}
