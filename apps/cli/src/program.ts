// The command tree of `pnpm loyalty`, on commander. Each command's module loads only when that
// command runs, so `loyalty stack status` does not pay for the rules compiler. Every command has
// --help with an example; failures map to the exit codes in errors.ts (README: Exit codes).
import { Command, CommanderError, Option } from "commander";
import { day, instant, nonNegativeInt, oneOf, positiveInt, windowBound } from "./args.ts";
import { type CliContext, processContext } from "./context.ts";
import { CliError, EXIT, StackUnavailableError, UsageError, isConnectionFailure } from "./errors.ts";

const EXIT_CODES_HELP = `Exit codes:
  0    ok
  1    failed, or a check failed (ledger differences, invalid rule set, publish refused,
       member not known, a service of the engine failed)
  2    usage error: unknown command or option, missing or malformed argument
  3    Kafka, the schema registry, PostgreSQL or Redis unreachable: retry once it runs
  130  interrupted (Ctrl-C) before the command finished`;

const ENV_HELP = `Environment:
  LOYALTY_NAMESPACE   the engine's namespace: topic prefix, PostgreSQL schema, groups (default: none)
  DATABASE_URL        default postgres://postgres@127.0.0.1:5432/loyalty
  KAFKA_BROKERS       default 127.0.0.1:9092
  SCHEMA_REGISTRY_URL default http://127.0.0.1:8081/apis/ccompat/v7
  REDIS_URL           default redis://127.0.0.1:6379/0`;

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}`;
}

const json = () => new Option("--json", "print one JSON document on stdout (for scripts)");

/** Every command path with its summary, for the root help: `loyalty --help` lists them all. */
function commandList(root: Command): string {
  const rows: Array<[string, string]> = [];
  const walk = (c: Command, prefix: string) => {
    for (const sub of c.commands) {
      const path = `${prefix}${sub.name()}`;
      if (sub.commands.length === 0)
        rows.push([`${path} ${sub.usage()}`.trim(), sub.summary() || sub.description()]);
      walk(sub, `${path} `);
    }
  };
  walk(root, "");
  const width = Math.min(60, Math.max(...rows.map(([p]) => p.length)));
  return `All commands:\n${rows.map(([p, d]) => `  ${p.padEnd(width)}  ${d}`).join("\n")}`;
}

export function buildProgram(ctx: CliContext, setCode: (code: number) => void): Command {
  const program = new Command("loyalty");
  program
    .description(
      "Operate the loyalty engine: its local stack, services, rules, ledger, tiers and churn model.",
    )
    .usage("<command> [options]   (from the repository root: pnpm loyalty <command>)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out(s.replace(/\n$/, "")),
      writeErr: (s) => ctx.err(s.replace(/\n$/, "")),
    })
    .showHelpAfterError("(add --help for usage)")
    .helpCommand(false)
    .allowExcessArguments(false);

  // Each action records its exit code; modules load on demand.
  const act =
    <A extends unknown[]>(fn: (...a: A) => Promise<number>) =>
    async (...a: A) => {
      setCode(await fn(...a));
    };

  // stack
  const stack = program
    .command("stack")
    .summary("the local Kafka and schema registry; checks PostgreSQL and Redis")
    .description(
      "The local Kafka (KRaft) and Apicurio Registry, run from Maven jars; probes of PostgreSQL and Redis.",
    )
    .addHelpText("after", example("pnpm loyalty stack status"));
  stack
    .command("up")
    .summary("start Kafka and the registry (if not running), then report every part")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty stack up"))
    .action(act(async (o: { json?: boolean }) => (await import("./commands/stack.ts")).up(ctx, o)));
  stack
    .command("down")
    .summary("stop the Kafka and registry this project started")
    .option("--wipe", "also delete Kafka's data (and with it the registry's schemas)")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty stack down", "pnpm loyalty stack down --wipe"))
    .action(
      act(async (o: { wipe?: boolean; json?: boolean }) =>
        (await import("./commands/stack.ts")).down(ctx, o),
      ),
    );
  stack
    .command("status")
    .summary("whether Kafka, the registry, PostgreSQL and Redis answer (exit 1 if any is down)")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty stack status --json | jq .ok"))
    .action(act(async (o: { json?: boolean }) => (await import("./commands/stack.ts")).status(ctx, o)));

  program
    .command("migrate")
    .summary("apply database migrations, create topics and register schemas for the namespace")
    .addOption(json())
    .addHelpText(
      "after",
      example("pnpm loyalty migrate", "LOYALTY_NAMESPACE=staging pnpm loyalty migrate --json"),
    )
    .action(act(async (o: { json?: boolean }) => (await import("./commands/migrate.ts")).run(ctx, o)));

  const engineOptions = (c: Command) =>
    c
      .option("--fresh", "run in a new namespace of its own (demo_<time>_<random>), printed at the start")
      .option("--limit <n>", "replay only the first N orders (in event-time order)", positiveInt("--limit"))
      .option(
        "--rate <n>",
        "publish at most N orders per second (default: as fast as it goes)",
        positiveInt("--rate"),
      )
      .addOption(json());

  engineOptions(
    program
      .command("up")
      .summary("start the stack and every service, replay CDNOW as a demo, keep running (Ctrl-C stops)")
      .description(
        "Start the stack and every service, replay CDNOW with a progress bar, print a summary and the\n" +
          "commands to try next, then keep the engine running for live events until Ctrl-C. A namespace\n" +
          "that has already ingested CDNOW is not replayed into again (its orders would be dropped as\n" +
          "duplicates): use --fresh.",
      )
      .option("--no-demo", "start and keep running without replaying CDNOW"),
  )
    .addHelpText("after", example("pnpm loyalty up", "pnpm loyalty up --fresh", "pnpm loyalty up --no-demo"))
    .action(
      act(async (o: { demo?: boolean; fresh?: boolean; limit?: number; rate?: number; json?: boolean }) =>
        (await import("./commands/up.ts")).up(ctx, o),
      ),
    );

  engineOptions(
    program
      .command("demo")
      .summary("like up, but stop the engine and exit after the summary")
      .description(
        "Start the stack and every service, replay CDNOW with a progress bar, print a summary whose\n" +
          "figures are those `tiers stats`, `ledger verify` and `churn report` print, stop, exit.",
      ),
  )
    .addHelpText(
      "after",
      example("pnpm loyalty demo --fresh", "pnpm loyalty demo --fresh --limit 5000 --json"),
    )
    .action(
      act(async (o: { fresh?: boolean; limit?: number; rate?: number; json?: boolean }) =>
        (await import("./commands/up.ts")).demo(ctx, o),
      ),
    );

  program
    .command("replay")
    .summary("publish orders to orders.v1 as an upstream shop would")
    .argument("<file>", "CDNOW or JSON Lines file of orders; - reads standard input")
    .addOption(
      new Option("--format <format>", "input format (cdnow tells master from sample itself)")
        .argParser(oneOf("--format", ["cdnow", "cdnow-master", "cdnow-sample", "jsonl"] as const))
        .default("cdnow"),
    )
    .option("--rate <n>", "orders per second (default: as fast as it goes)", positiveInt("--rate"))
    .option("--limit <n>", "send only the first N orders", positiveInt("--limit"))
    .option("--topic <topic>", "publish to this topic instead of the namespace's orders.v1")
    .option("--quiet", "no progress bar")
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty replay data/cdnow/CDNOW_sample.txt --rate 500",
        `echo '{"source":"pos","type":"ORDER_PLACED","orderId":"o-1","customerId":"c-1","occurredAt":"1998-07-01T12:00:00Z","currency":"USD","totalMinor":2500,"lines":[]}' | pnpm loyalty replay - --format jsonl`,
      ),
    )
    .action(
      act(async (file: string, o: import("./commands/replay.ts").ReplayOpts) =>
        (await import("./commands/replay.ts")).run(ctx, file, o),
      ),
    );

  // rules
  const rules = program
    .command("rules")
    .summary("validate, publish, list, diff, simulate and backtest rule sets")
    .description("The rule-set lifecycle. PATH is a ruleset.json or a folder holding one (rules/standard).")
    .addHelpText("after", example("pnpm loyalty rules validate rules/standard"));
  rules
    .command("validate")
    .summary("check a draft: every error as `ruleId path problem` (exit 1 on errors)")
    .argument("<path>", "ruleset.json or a folder holding one")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty rules validate rules/standard"))
    .action(
      act(async (path: string, o: { json?: boolean }) =>
        (await import("./commands/rules.ts")).validate(ctx, path, o),
      ),
    );
  rules
    .command("publish")
    .summary("validate, sign, then publish to loyalty.rules.v1 (the version must grow; exit 1 if not)")
    .description(
      "Signs with RULES_SIGNING_KEY (PEM) or RULES_SIGNING_KEY_FILE (Ed25519), else the local stack's dev key (.stack/rules-signing/). The engine accepts it only if the key is in its RULES_PUBLIC_KEYS.",
    )
    .argument("<path>", "ruleset.json or a folder holding one")
    .option(
      "--publisher <name>",
      "who publishes, signed into the record (default RULES_PUBLISHER, else user@host)",
    )
    .option(
      "--if-unpublished",
      "publish only if no version of the rule set's id is published yet (seeding a namespace); exit 0 either way",
    )
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty rules publish rules/standard --publisher alice"))
    .action(
      act(async (path: string, o: { json?: boolean; publisher?: string; ifUnpublished?: boolean }) =>
        (await import("./commands/rules.ts")).publish(ctx, path, o),
      ),
    );
  rules
    .command("keygen")
    .summary("write an Ed25519 key pair for signing rule sets (never overwrites)")
    .requiredOption("--out <dir>", "folder for NAME.key (private, mode 600) and NAME.pub")
    .option("--name <name>", "file name stem", "rules-signing")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty rules keygen --out ~/.loyalty/keys"))
    .action(
      act(async (o: { out: string; name?: string; json?: boolean }) =>
        (await import("./commands/rules.ts")).keygen(ctx, o),
      ),
    );
  rules
    .command("list")
    .summary(
      "published rule-set versions: publisher, key, signed digest, the engine's verdict and effective time",
    )
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty rules list --json"))
    .action(act(async (o: { json?: boolean }) => (await import("./commands/rules.ts")).list(ctx, o)));
  rules
    .command("diff")
    .summary("a draft against the published version: added, removed, changed rules")
    .argument("<path>", "ruleset.json or a folder holding one")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty rules diff rules/standard"))
    .action(
      act(async (path: string, o: { json?: boolean }) =>
        (await import("./commands/rules.ts")).diff(ctx, path, o),
      ),
    );
  rules
    .command("simulate")
    .summary("price a file of orders with a draft, writing nothing")
    .requiredOption("--rules <path>", "the draft: ruleset.json or a folder holding one")
    .requiredOption("--orders <file>", "orders: CDNOW or JSON Lines")
    .option("--limit <n>", "only the first N orders", positiveInt("--limit"))
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty rules simulate --rules rules/standard --orders data/cdnow/CDNOW_sample.txt --limit 500",
      ),
    )
    .action(
      act(async (o: { rules: string; orders: string; limit?: number; json?: boolean }) =>
        (await import("./commands/rules.ts")).simulate(ctx, o),
      ),
    );

  rules
    .command("backtest")
    .summary("a draft beside the running set over a window of history: points, liability, members")
    .description(
      "Prices the orders in [--from, --to) with the draft in PATH and with the running set, each through " +
        "the engine's earning pipeline in memory, and compares them: points per rule, total points and " +
        "liability, members affected, budget use per week, tier moves, the top 20 members by difference. " +
        "Orders before --from are warm-up priced by the running set on both sides. Deterministic; writes nothing.",
    )
    .argument("<path>", "the draft: ruleset.json or a folder holding one")
    .requiredOption(
      "--from <date>",
      "window start, included: YYYY-MM-DD (UTC midnight) or ISO 8601 with a zone",
      windowBound("--from"),
    )
    .requiredOption(
      "--to <date>",
      "window end, excluded: YYYY-MM-DD (UTC midnight) or ISO 8601 with a zone",
      windowBound("--to"),
    )
    .option("--running <path>", "the running set and its programme.json (default: rules/standard)")
    .option(
      "--running-published",
      "the running set is the latest version of the draft's id on the namespace's rules topic " +
        "(rules/standard if none); liability from the draft folder's programme.json",
    )
    .option("--orders <file>", "orders: CDNOW or JSON Lines (default: the CDNOW master file in data/cdnow)")
    .option(
      "--from-topic",
      "history from the namespace's loyalty.purchases.v1 and loyalty.members.v1 (read as the `backtest` " +
        "principal, as the console does) instead of a file",
    )
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty rules backtest my-draft --from 1997-01-01 --to 1998-01-01",
        "LOYALTY_NAMESPACE=demo pnpm loyalty rules backtest my-draft --from-topic --running-published --from 1997-01-01 --to 1998-01-01 --json",
        "pnpm loyalty rules backtest my-draft --from 1997-03-01 --to 1997-04-01 --orders data/cdnow/CDNOW_sample.txt --json",
        "LOYALTY_NAMESPACE=demo pnpm loyalty rules backtest my-draft --running-published --from 1997-01-01 --to 1998-01-01",
      ),
    )
    .action(
      act(async (path: string, o: import("./commands/rules.ts").BacktestOpts) =>
        (await import("./commands/rules.ts")).backtest(ctx, path, o),
      ),
    );

  // ledger
  const ledger = program
    .command("ledger")
    .summary("checks on the points ledger")
    .addHelpText("after", example("pnpm loyalty ledger verify"));
  ledger
    .command("verify")
    .summary("balances against the sum of entries and of open lots (exit 1 on any difference)")
    .addOption(json())
    .addHelpText(
      "after",
      example("pnpm loyalty ledger verify", "LOYALTY_NAMESPACE=demo2 pnpm loyalty ledger verify --json"),
    )
    .action(act(async (o: { json?: boolean }) => (await import("./commands/ledger.ts")).verify(ctx, o)));
  ledger
    .command("balance")
    .summary("one member's balance, open lots and last entries")
    .argument("<member>", "member id")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty ledger balance 1234"))
    .action(
      act(async (member: string, o: { json?: boolean }) =>
        (await import("./commands/ledger.ts")).balance(ctx, member, o),
      ),
    );

  // tiers
  const tiers = program
    .command("tiers")
    .summary("the tier evaluator's state")
    .addHelpText("after", example("pnpm loyalty tiers stats"));
  tiers
    .command("stats")
    .summary("members per tier")
    .option(
      "--at <date>",
      "YYYY-MM-DD (the end of that UTC day) or an ISO 8601 instant; default: the evaluator's clock",
      instant("--at"),
    )
    .addOption(json())
    .addHelpText(
      "after",
      example("pnpm loyalty tiers stats", "pnpm loyalty tiers stats --at 1997-09-30 --json"),
    )
    .action(
      act(async (o: { at?: number; json?: boolean }) => (await import("./commands/tiers.ts")).stats(ctx, o)),
    );

  // churn
  const churn = program
    .command("churn")
    .summary("the churn model and its alerts")
    .addHelpText("after", example("pnpm loyalty churn report"));
  churn
    .command("model")
    .summary("the fitted churn models, the one in force first")
    .option("--all", "every stored fit, not only the last 20")
    .option("--refit", "ask the running service to refit at its frontier (or, with --as-of, fit here)")
    .option("--as-of <day>", "with --refit: fit as of the end of this day, YYYY-MM-DD", day("--as-of"))
    .addOption(json())
    .addHelpText(
      "after",
      example("pnpm loyalty churn model", "pnpm loyalty churn model --refit --as-of 1997-12-31 --json"),
    )
    .action(
      act(async (o: { all?: boolean; refit?: boolean; asOf?: number; json?: boolean }) =>
        (await import("./commands/churn.ts")).model(ctx, o),
      ),
    );
  churn
    .command("report")
    .summary("members by segment at the frontier, and the alerts raised")
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty churn report --json"))
    .action(act(async (o: { json?: boolean }) => (await import("./commands/churn.ts")).report(ctx, o)));
  churn
    .command("calibrate")
    .summary("fit on a calibration period, compare predicted with actual purchases in the holdout after it")
    .description(
      "Fit BG/NBD on the purchases up to and including --calibration-end (from the members' state in\n" +
        "PostgreSQL, as `churn model --refit --as-of` does, without storing the fit), then compare its\n" +
        "expected repeat purchases in the holdout (calibration end, holdout end] with the actual ones, in\n" +
        "total and by the members' repeat purchases in calibration (0..7+). --json adds every member.",
    )
    .requiredOption(
      "--calibration-end <day>",
      "last day of the calibration period, YYYY-MM-DD",
      day("--calibration-end"),
    )
    .requiredOption("--holdout-end <day>", "last day of the holdout period, YYYY-MM-DD", day("--holdout-end"))
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty churn calibrate --calibration-end 1997-09-30 --holdout-end 1998-06-30",
        "pnpm loyalty churn calibrate --calibration-end 1997-09-30 --holdout-end 1998-06-30 --json | jq .totals",
      ),
    )
    .action(
      act(async (o: { calibrationEnd: number; holdoutEnd: number; json?: boolean }) =>
        (await import("./commands/churn.ts")).calibrate(ctx, o),
      ),
    );

  // member
  const member = program
    .command("member")
    .summary("one member, as the API shows it")
    .addHelpText("after", example("pnpm loyalty member show 1234"));
  member
    .command("show")
    .summary("balance, tier, expiring points, churn card (exit 1 if not known)")
    .argument("<id>", "member id")
    .option(
      "--at <time>",
      "as of this instant (ISO 8601 or YYYY-MM-DD); default: the latest event time of the ledger",
      instant("--at"),
    )
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty member show 1234",
        "LOYALTY_NAMESPACE=demo2 pnpm loyalty member show 1234 --json",
      ),
    )
    .action(
      act(async (id: string, o: { at?: number; json?: boolean }) =>
        (await import("./commands/member.ts")).show(ctx, id, o),
      ),
    );

  // keys (the member API's keys; services/api README: Authentication)
  const keys = program
    .command("keys")
    .summary("the member API's keys: create, list, revoke, expire")
    .description(
      "The member API's keys, in the namespace's database (no running API needed). A running API\n" +
        "refuses a key revoked or expired here within a second. The key itself is printed once.",
    )
    .addHelpText("after", example("pnpm loyalty keys list"));
  const keyId = (value: string) => {
    if (!/^[a-f0-9]{16}$/.test(value))
      throw new UsageError(`key id must be 16 hex digits (the part after lk_), got ${value}`);
    return value;
  };
  const scopes = (value: string) => {
    const all = ["read", "redeem", "admin", "marketer"] as const;
    const list = value.split(",").map((x) => x.trim());
    for (const x of list) oneOf("--scopes", all)(x);
    return [...new Set(list)];
  };
  keys
    .command("create")
    .summary("create a key and print it once (only its hash is stored)")
    .requiredOption("--name <name>", "what the key is for, e.g. pos-berlin-1")
    .requiredOption(
      "--scopes <list>",
      "comma-separated: read, redeem, admin, marketer (admin implies the others; marketer: read and the console's drafts)",
      scopes,
    )
    .option("--owner <owner>", "who answers for the key (a team, a system); default: the name")
    .option(
      "--expires-at <time>",
      "when the key stops working (ISO 8601 with a zone, or YYYY-MM-DD: the end of that UTC day); default: never",
      instant("--expires-at"),
    )
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty keys create --name pos-berlin-1 --scopes read,redeem --owner store-ops",
        "pnpm loyalty keys create --name audit --scopes read --expires-at 2027-01-31 --json | jq -r .key",
      ),
    )
    .action(
      act(async (o: import("./commands/keys.ts").CreateOpts) =>
        (await import("./commands/keys.ts")).create(ctx, o),
      ),
    );
  keys
    .command("list")
    .summary("every key: owner, scopes, status, created, last used, expiry, revocation (never a secret)")
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty keys list",
        "pnpm loyalty keys list --json | jq '.keys[] | select(.status == \"active\")'",
      ),
    )
    .action(act(async (o: { json?: boolean }) => (await import("./commands/keys.ts")).list(ctx, o)));
  keys
    .command("revoke")
    .summary("revoke a key for good (exit 1 if there is no such key)")
    .argument("<keyId>", "the key's id: the 16 hex digits after lk_", keyId)
    .addOption(json())
    .addHelpText("after", example("pnpm loyalty keys revoke 0123456789abcdef"))
    .action(
      act(async (id: string, o: { json?: boolean }) =>
        (await import("./commands/keys.ts")).revoke(ctx, id, o),
      ),
    );
  keys
    .command("expire")
    .summary("set when a key stops working: a time, now, or never (exit 1 if revoked or unknown)")
    .argument("<keyId>", "the key's id: the 16 hex digits after lk_", keyId)
    .requiredOption(
      "--at <time>",
      "now, never, an ISO 8601 instant with a zone, or YYYY-MM-DD (the end of that UTC day)",
      (v: string) => (v === "now" || v === "never" ? v : instant("--at")(v)),
    )
    .addOption(json())
    .addHelpText(
      "after",
      example(
        "pnpm loyalty keys expire 0123456789abcdef --at 2027-01-31",
        "pnpm loyalty keys expire 0123456789abcdef --at now",
      ),
    )
    .action(
      act(async (id: string, o: { at: number | "now" | "never"; json?: boolean }) =>
        (await import("./commands/keys.ts")).expire(ctx, id, o),
      ),
    );

  // bench
  const bench = program
    .command("bench")
    .summary("benchmarks on this machine")
    .addHelpText("after", example("pnpm bench"));
  bench
    .command("e2e")
    .summary("CDNOW end to end through every service, beside a raw Kafka passthrough; then latency")
    .option("--limit <n>", "replay only the first N orders", positiveInt("--limit"))
    .option(
      "--rate <n>",
      "orders per second in the latency phase, a multiple of 20",
      multipleOf20("--rate"),
      1000,
    )
    .option("--seconds <n>", "length of the latency phase", positiveInt("--seconds"), 20)
    .option(
      "--warmup <n>",
      "seconds of the same load before the latency phase, reported apart (0: none)",
      nonNegativeInt("--warmup"),
      5,
    )
    .addOption(
      new Option("--profile <service>", "run this service under V8's profiler").argParser(
        oneOf("--profile", ["ingestor", "rules-engine", "tier-evaluator", "churn-alert", "api"] as const),
      ),
    )
    .option("--out <dir>", "write the result file here (default: bench-results/)")
    .addOption(json())
    .addHelpText("after", example("pnpm bench", "pnpm loyalty bench e2e --limit 5000 --seconds 5 --json"))
    .action(
      act(async (o: import("./commands/bench.ts").BenchOpts) =>
        (await import("./commands/bench.ts")).run(ctx, o),
      ),
    );

  for (const group of program.commands) group.helpCommand(false);
  program.addHelpText(
    "after",
    () =>
      `${example("pnpm loyalty demo --fresh", "pnpm loyalty tiers stats --json")}\n\n${commandList(program)}\n\n${EXIT_CODES_HELP}\n\n${ENV_HELP}`,
  );
  return program;
}

function multipleOf20(flag: string): (value: string) => number {
  const positive = positiveInt(flag);
  return (value) => {
    const n = positive(value);
    if (n % 20 !== 0) throw new UsageError(`${flag} must be a positive multiple of 20, got ${value}`);
    return n;
  };
}

/** Runs the CLI on `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(ctx, (c) => {
    code = c;
  });
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    return exitCodeFor(err, ctx, commandPath(program, argv));
  }
}

/** `loyalty tiers stats`: the command path argv names, for messages. */
function commandPath(program: Command, argv: string[]): string {
  const names = ["loyalty"];
  let at = program;
  for (const a of argv) {
    const sub = at.commands.find((c) => c.name() === a);
    if (!sub) break;
    names.push(a);
    at = sub;
  }
  return names.join(" ");
}

function exitCodeFor(err: unknown, ctx: CliContext, command: string): number {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; a command group called without a subcommand shows its help
    // and is a usage error, as is every parse error (commander has printed the message).
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT.ok;
    return EXIT.usage;
  }
  if (err instanceof CliError) {
    ctx.err(`${command}: ${err.message}${err.exitCode === EXIT.usage ? " (add --help for usage)" : ""}`);
    return err.exitCode;
  }
  if (isConnectionFailure(err)) {
    const e = new StackUnavailableError(err instanceof Error ? err.message : String(err), { cause: err });
    ctx.err(`${command}: ${e.message} (is the stack running? pnpm loyalty stack status)`);
    return e.exitCode;
  }
  ctx.err(`${command}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.failure;
}
