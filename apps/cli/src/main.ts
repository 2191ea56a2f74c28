// `pnpm loyalty <command>`: one entry point for operators. Commands load lazily so that
// `stack status` does not pay for the rules compiler.
type Command = { summary: string; run: (args: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  stack: {
    summary: "stack up|down [--wipe]|status: the local Kafka, registry, PostgreSQL and Redis",
    run: async (a) => (await import("./commands/stack.ts")).stack(a),
  },
  migrate: {
    summary: "apply database migrations and create topics and schemas",
    run: async (a) => (await import("./commands/provision.ts")).provision(a),
  },
  up: {
    summary:
      "up [--no-demo] [--rate N]: start the stack and every service, replay CDNOW as a demo, keep running",
    run: async (a) => (await import("./commands/up.ts")).run(a),
  },
  bench: {
    summary: "bench e2e [--limit N] [--rate N] [--seconds N] [--profile SERVICE]: the end-to-end benchmark",
    run: async (a) => (await import("./commands/bench.ts")).run(a),
  },
  replay: {
    summary:
      "replay FILE [--format cdnow|jsonl] [--rate N] [--limit N]: publish orders to orders.v1 as upstream would",
    run: async (a) => (await import("./commands/replay.ts")).run(a),
  },
  rules: {
    summary: "rules validate|publish|list|diff|simulate: manage rule sets",
    run: async (a) => (await import("./commands/rules.ts")).run(a),
  },
  ledger: {
    summary: "ledger verify: check balances against the sum of ledger entries",
    run: async (a) => (await import("./commands/ledger.ts")).run(a),
  },
  tiers: {
    summary: "tiers stats [--at DATE] [--json]: members per tier",
    run: async (a) => (await import("./commands/tiers.ts")).run(a),
  },
  churn: {
    summary: "churn model [--json]: fitted churn model parameters and fit statistics",
    run: async (a) => (await import("./commands/churn.ts")).run(a),
  },
  member: {
    summary: "member show ID: balance, tier, expiring points, churn card",
    run: async (a) => (await import("./commands/member.ts")).run(a),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    "usage: pnpm loyalty <command> [options]",
    "",
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    console.error(`unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
