// `loyalty rules validate|publish|list|diff|simulate|keygen`: the rule-set lifecycle.
//   validate PATH      every error as `ruleId path problem`; exit 1 on errors
//   publish PATH       validate, sign (Ed25519), publish to loyalty.rules.v1 (the version must grow;
//                      --if-unpublished: nothing if a version of its id is already published)
//   list               published versions (the compacted topic) with their audit trail: publisher,
//                      key id, signed digest, claimed time, and the engine's verdict and effective time
//   keygen             write an Ed25519 key pair for signing rule sets (docs/security.md)
//   diff PATH          draft vs published: added / removed / changed rules
//   simulate           price a file of orders (CDNOW or JSON Lines) with a draft; writes nothing
//   backtest DIR       a draft beside the running set over [--from, --to) of a file of orders, or of
//                      the namespace's purchases and member changes (--from-topic, as `backtest`)
// LOYALTY_NAMESPACE selects the engine's namespace; KAFKA_BROKERS, SCHEMA_REGISTRY_URL the stack.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join, resolve } from "node:path";
import {
  AvroCodec,
  type MemberChanged,
  type PurchaseEvent,
  type RuleSetPublished,
  registryAuth,
} from "@loyalty/contracts";
import { cdnow } from "@loyalty/datasets";
import type { Pool } from "@loyalty/db";
import { type ReplayRecord, compileFx, normaliseOrder, parseText, validateOrder } from "@loyalty/ingestor";
import { devRulesKeys, principalEnv, readCredentials, withStackCredentials } from "@loyalty/local-stack";
import {
  BacktestError,
  type BacktestReport,
  type ProgrammeFile,
  type PublishOutcome,
  PublishRefusedError,
  type Rule,
  type RuleSet,
  STANDARD_RULES_DIR,
  type Signer,
  SigningKeyError,
  backtestParallel,
  generateSigningKeyPair,
  latestById,
  publishNextVersion,
  readPublicationRecords,
  readRuleSetSource,
  readTopicHistory,
  signerOf,
  signingKeyFromEnv,
  simulateDraft,
  validateRuleSet,
} from "@loyalty/rules-engine";
import { ensureTopics } from "@loyalty/stream-runtime";
import { kafkaClient, topics, translateKafkaError, withAdmin, withPool } from "../connections.ts";
import { type CliContext, endpointsOf, printJson } from "../context.ts";
import { CheckFailedError, EXIT, UsageError } from "../errors.ts";

interface ValidationError {
  ruleId: string | null;
  path: string;
  problem: string;
}

/** Reads and validates a draft (a ruleset.json or a folder holding one). */
function readDraft(
  ctx: CliContext,
  path: string,
): { path: string; ruleSet: RuleSet | null; errors: ValidationError[] } {
  let src: ReturnType<typeof readRuleSetSource>;
  try {
    src = readRuleSetSource(resolve(ctx.cwd, path));
  } catch (err) {
    // A missing file or a file that is not JSON: what the user typed is wrong.
    throw new UsageError(`rule set ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const v = validateRuleSet(src.json, src.programme);
  return v.ok
    ? { path: src.path, ruleSet: v.ruleSet, errors: [] }
    : { path: src.path, ruleSet: null, errors: v.errors };
}

/** The draft, or the check fails after printing every error (as text, or in the JSON document). */
function validDraft(ctx: CliContext, path: string, json: boolean | undefined): RuleSet {
  const d = readDraft(ctx, path);
  if (d.ruleSet) return d.ruleSet;
  if (json) printJson(ctx, { ok: false, path: d.path, errors: d.errors });
  else for (const e of d.errors) ctx.out(`${e.ruleId ?? "-"} ${e.path} ${e.problem}`);
  throw new CheckFailedError(`${d.path}: ${d.errors.length} error(s)`);
}

function partitions(ctx: CliContext): { partitions: number; replication: number } {
  return {
    partitions: Number(ctx.env.LOYALTY_PARTITIONS ?? 6),
    replication: Number(ctx.env.LOYALTY_REPLICATION ?? 1),
  };
}

/** The registry client, authenticated as the command's principal (the stack's admin by default). */
function rulesCodec(ctx: CliContext): AvroCodec {
  return new AvroCodec(endpointsOf(ctx).schemaRegistryUrl, registryAuth(withStackCredentials(ctx.env)));
}

/** Every record on the namespace's rules topic (created if missing, as the services would). */
async function publishedRecords(ctx: CliContext) {
  const rules = topics(ctx).rules;
  return withAdmin(ctx, "loyalty-cli-rules", async (admin, kafka) => {
    await ensureTopics(admin, { ...partitions(ctx), topics: [rules] });
    return readPublicationRecords(kafka, rulesCodec(ctx), rules.name);
  });
}

/**
 * The publications that count as published (for publish's "the version must grow", diff and
 * backtest --running-published): signed ones the engine has not refused. An unsigned or refused
 * record (a forged v999999, say) must not block the next genuine version; and the versions the
 * engine runs (rule_sets). Without engine state (no engine has run in the namespace, or
 * PostgreSQL is not reachable) every signed record counts.
 */
async function published(ctx: CliContext): Promise<RuleSetPublished[]> {
  const records = await publishedRecords(ctx);
  let refused = new Set<string>();
  // The versions the engine runs count too (compaction may have removed their records, and
  // versions accepted before signing have no signed record).
  let running: RuleSetPublished[] = [];
  try {
    const v = await engineVerdicts(ctx);
    refused = new Set(v.refused.map((r) => `${r.source_partition}/${r.source_offset}`));
    running = v.accepted.map((r) => ({
      ruleSetId: r.rule_set_id,
      version: r.version,
      publishedAt: r.published_at.getTime(),
      checksum: r.checksum,
      ruleSetJson: r.rule_set_json,
      publisher: r.publisher,
      keyId: r.key_id,
      digest: r.digest,
      signature: r.signature,
    }));
  } catch (err) {
    ctx.err(
      `note: the engine's verdicts are not readable (${err instanceof Error ? err.message : String(err)}); counting every signed publication`,
    );
  }
  const onTopic = records.flatMap((r) =>
    r.publication === null || r.publication.signature === null || refused.has(`${r.partition}/${r.offset}`)
      ? []
      : [r.publication],
  );
  return [...running, ...onTopic];
}

/**
 * The signer: RULES_SIGNING_KEY (PEM) or RULES_SIGNING_KEY_FILE; without either, the local
 * stack's dev key pair (.stack/rules-signing/), which only an engine configured with its public
 * key accepts. The publisher: --publisher, RULES_PUBLISHER, or user@host.
 */
function signerFor(ctx: CliContext, publisherOpt: string | undefined): { signer: Signer; dev: boolean } {
  const publisher = publisherOpt ?? ctx.env.RULES_PUBLISHER ?? `${userInfo().username}@${hostname()}`;
  if (publisher.trim() === "" || publisher.length > 200)
    throw new UsageError("--publisher (or RULES_PUBLISHER) must be 1 to 200 characters");
  try {
    const key = signingKeyFromEnv(ctx.env);
    if (key !== null) return { signer: signerOf(key, publisher), dev: false };
    const dev = signingKeyFromEnv({ RULES_SIGNING_KEY_FILE: devRulesKeys(ctx.env).privateKeyFile });
    if (dev === null) throw new SigningKeyError("RULES_SIGNING_KEY_FILE", "not set and no dev key pair");
    return { signer: signerOf(dev, publisher), dev: true };
  } catch (err) {
    if (err instanceof SigningKeyError) throw new UsageError(err.message);
    throw err;
  }
}

function rulesOf(p: RuleSetPublished): RuleSet {
  return JSON.parse(p.ruleSetJson) as RuleSet;
}

export async function validate(ctx: CliContext, path: string, opts: { json?: boolean }): Promise<number> {
  const rs = validDraft(ctx, path, opts.json);
  if (opts.json)
    printJson(ctx, { ok: true, id: rs.id, version: rs.version, rules: rs.rules.length, errors: [] });
  else ctx.out(`ok: ${rs.id} v${rs.version}, ${rs.rules.length} rule(s)`);
  return EXIT.ok;
}

export async function publish(
  ctx: CliContext,
  path: string,
  opts: { json?: boolean; publisher?: string; ifUnpublished?: boolean },
): Promise<number> {
  const rs = validDraft(ctx, path, opts.json);
  const { signer, dev } = signerFor(ctx, opts.publisher);
  const already = await published(ctx);
  const rules = topics(ctx).rules;
  const codec = rulesCodec(ctx);
  // The one publishing path (the console's server takes it too): version check, schema, sign, send.
  let outcome: PublishOutcome;
  try {
    outcome = await withAdmin(ctx, "loyalty-cli-rules", (_admin, kafka) =>
      publishNextVersion({
        kafka,
        codec,
        topic: rules,
        ruleSet: rs,
        signer,
        published: already,
        ifUnpublished: opts.ifUnpublished === true,
      }),
    );
  } catch (err) {
    if (err instanceof PublishRefusedError) throw new CheckFailedError(err.message);
    throw err;
  }
  if (!outcome.published) {
    // Seeding a namespace (`loyalty up`, bench, compose): a programme already runs; leave it.
    const current = outcome.current;
    const out = { id: rs.id, version: current.version, topic: rules.name, published: false };
    if (opts.json) printJson(ctx, out);
    else ctx.out(`${rs.id} v${current.version} is already published on ${rules.name}: nothing published`);
    return EXIT.ok;
  }
  const p = outcome.publication;
  const out = {
    id: rs.id,
    version: rs.version,
    rules: rs.rules.length,
    topic: rules.name,
    published: true,
    publishedAt: new Date(p.publishedAt).toISOString(),
    checksum: p.checksum,
    publisher: signer.publisher,
    keyId: signer.keyId,
    digest: p.digest,
    signingKey: dev ? "local-dev" : "environment",
  };
  if (opts.json) printJson(ctx, out);
  else
    ctx.out(
      `published ${out.id} v${out.version} (${out.rules} rules) to ${out.topic} at ${out.publishedAt}, sha256 ${out.checksum.slice(0, 12)}, ` +
        `signed by ${out.publisher} with key ${out.keyId}${dev ? " (the local stack's dev key)" : ""}`,
    );
  return EXIT.ok;
}

/**
 * Before the engine's first start in a namespace (`loyalty up`, `loyalty bench e2e`): publishes
 * the programme of RULES_BOOTSTRAP_DIR (default rules/standard; "" publishes nothing) unless a
 * version of its id is already published, through `rules publish` itself, as the `publisher`
 * principal on a stack with credentials (the only one that may write loyalty.rules.v1; the
 * engine never publishes). The rules topic is created first with the caller's own principal.
 * Messages go to `log` (stderr), not to the command's output.
 */
export async function publishProgramme(ctx: CliContext, log: (line: string) => void): Promise<void> {
  const dir = ctx.env.RULES_BOOTSTRAP_DIR ?? STANDARD_RULES_DIR();
  if (dir === "") return;
  const rules = topics(ctx).rules;
  await withAdmin(ctx, "loyalty-cli-rules", (admin) =>
    ensureTopics(admin, { ...partitions(ctx), topics: [rules] }),
  );
  const creds = readCredentials(ctx.env);
  // Signed as `rules publish` signs (RULES_SIGNING_KEY[_FILE], else the local stack's dev key).
  const env: NodeJS.ProcessEnv = {
    ...ctx.env,
    RULES_PUBLISHER: ctx.env.RULES_PUBLISHER ?? "local-dev",
    ...(creds === null ? {} : principalEnv(creds, "publisher")),
  };
  await publish({ ...ctx, env, out: log }, dir, { ifUnpublished: true });
}

interface EngineRecord {
  rule_set_id: string;
  version: number;
  published_at: Date;
  checksum: string;
  rule_set_json: string;
  publisher: string | null;
  key_id: string | null;
  digest: string | null;
  signature: Buffer | null;
  effective_at: Date;
  accepted_at: Date | null;
  source_partition: number | null;
  source_offset: string | null;
}

interface Rejection {
  source_partition: number;
  source_offset: string;
  reason_code: string;
  reason: string;
}

/** What the engine made of the topic's records: accepted versions and refusals (if it has run). */
async function engineVerdicts(
  ctx: CliContext,
): Promise<{ accepted: EngineRecord[]; refused: Rejection[]; engineSeen: boolean }> {
  return withPool(ctx, async (pool: Pool) => {
    const t = await pool.query<{ rs: string | null; rj: string | null; ac: string | null }>(
      `select to_regclass('rule_sets')::text as rs, to_regclass('rule_set_rejections')::text as rj,
              (select column_name::text from information_schema.columns
                where table_name = 'rule_sets' and column_name = 'effective_at'
                  and table_schema = any (current_schemas(false)) limit 1) as ac`,
    );
    const row = t.rows[0];
    if (!row || row.rs === null || row.rj === null || row.ac === null)
      return { accepted: [], refused: [], engineSeen: false };
    const accepted = await pool.query<EngineRecord>(
      `select rule_set_id, version, published_at, checksum, rule_set_json::text, publisher, key_id, digest,
              signature, effective_at, accepted_at, source_partition, source_offset::text
         from rule_sets`,
    );
    const refused = await pool.query<Rejection>(
      `select source_partition, source_offset::text, reason_code, reason from rule_set_rejections
        where source_topic = $1`,
      [topics(ctx).rules.name],
    );
    return { accepted: accepted.rows, refused: refused.rows, engineSeen: true };
  });
}

export async function list(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const records = await publishedRecords(ctx);
  const verdicts = await engineVerdicts(ctx);
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  const rows = records
    .map((r) => {
      const p = r.publication;
      const at = (x: { source_partition: number | null; source_offset: string | null }) =>
        x.source_partition === r.partition && x.source_offset === r.offset;
      const accepted = verdicts.accepted.find(at);
      const refused = verdicts.refused.find(at);
      let rules: number | null = null;
      let active: number | null = null;
      if (p !== null)
        try {
          const rs = rulesOf(p);
          rules = rs.rules.length;
          active = rs.rules.filter((x) => x.status === "active").length;
        } catch {
          rules = null;
        }
      return {
        id: p?.ruleSetId ?? null,
        version: p?.version ?? null,
        publishedAt: p === null ? null : new Date(p.publishedAt).toISOString(),
        rules,
        active,
        checksum: p?.checksum ?? null,
        publisher: p?.publisher ?? null,
        keyId: p?.keyId ?? null,
        digest: p?.digest ?? null,
        partition: r.partition,
        offset: r.offset,
        engine: accepted
          ? {
              status: "running",
              effectiveAt: iso(accepted.effective_at),
              acceptedAt: iso(accepted.accepted_at),
            }
          : refused
            ? { status: "refused", reasonCode: refused.reason_code, reason: refused.reason }
            : { status: verdicts.engineSeen ? "not read yet" : "no engine state" },
      };
    })
    .sort(
      (a, b) =>
        (a.id ?? "").localeCompare(b.id ?? "") ||
        (a.version ?? 0) - (b.version ?? 0) ||
        a.partition - b.partition ||
        Number(a.offset) - Number(b.offset),
    );
  if (opts.json) printJson(ctx, { topic: topics(ctx).rules.name, published: rows });
  else if (rows.length === 0) ctx.out(`nothing published on ${topics(ctx).rules.name}`);
  else
    for (const r of rows) {
      const e = r.engine;
      const verdict =
        e.status === "running"
          ? `running from ${e.effectiveAt}`
          : e.status === "refused"
            ? `refused ${e.reasonCode}: ${e.reason}`
            : e.status;
      ctx.out(
        r.id === null
          ? `(undecodable record at ${r.partition}/${r.offset})  ${verdict}`
          : `${r.id}  v${r.version}  claimed ${r.publishedAt}  ${r.rules} rules (${r.active} active)  sha256 ${(r.checksum ?? "").slice(0, 12)}  ` +
              `by ${r.publisher ?? "(unsigned)"} key ${r.keyId ?? "-"} digest ${(r.digest ?? "-").slice(0, 12)}  ${verdict}`,
      );
    }
  return EXIT.ok;
}

/** `rules keygen --out DIR`: a new Ed25519 key pair (private key 0600); never overwrites. */
export async function keygen(
  ctx: CliContext,
  opts: { out: string; name?: string; json?: boolean },
): Promise<number> {
  const dir = resolve(ctx.cwd, opts.out);
  const name = opts.name ?? "rules-signing";
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw new UsageError("--name must be 1 to 64 of A-Z a-z 0-9 . _ -");
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  if (existsSync(privateKeyFile) || existsSync(publicKeyFile))
    throw new UsageError(`${privateKeyFile} or ${publicKeyFile} exists: keygen never overwrites a key`);
  mkdirSync(dir, { recursive: true });
  const pair = generateSigningKeyPair();
  writeFileSync(privateKeyFile, pair.privateKeyPem, { mode: 0o600, flag: "wx" });
  writeFileSync(publicKeyFile, pair.publicKeyPem, { flag: "wx" });
  const out = { keyId: pair.keyId, privateKeyFile, publicKeyFile };
  if (opts.json) printJson(ctx, out);
  else {
    ctx.out(
      `key ${pair.keyId}: private ${privateKeyFile} (mode 600, keep it secret), public ${publicKeyFile}`,
    );
    ctx.out(`publisher: RULES_SIGNING_KEY_FILE=${privateKeyFile}`);
    ctx.out(`engine:    RULES_PUBLIC_KEYS=${publicKeyFile} (comma-separate several during a rotation)`);
  }
  return EXIT.ok;
}

export async function diff(ctx: CliContext, path: string, opts: { json?: boolean }): Promise<number> {
  const rs = validDraft(ctx, path, opts.json);
  const current = latestById(await published(ctx)).get(rs.id);
  const d = diffRuleSets(rs, current ? rulesOf(current) : null);
  const changed = d.changed.map((c) => ({
    id: c.after.id,
    from: c.before.version,
    to: c.after.version,
    keys: changedKeys(c.before, c.after),
    versionUnchanged: c.before.version === c.after.version,
  }));
  if (opts.json) {
    printJson(ctx, {
      id: rs.id,
      draftVersion: rs.version,
      publishedVersion: current?.version ?? null,
      added: d.added.map((r) => ({ id: r.id, version: r.version, type: r.event.type, status: r.status })),
      removed: d.removed.map((r) => ({ id: r.id, version: r.version })),
      changed,
    });
    return EXIT.ok;
  }
  ctx.out(
    `${rs.id}: draft v${rs.version} vs ${current ? `published v${current.version}` : "nothing published"}`,
  );
  for (const r of d.added) ctx.out(`+ ${r.id} v${r.version} (${r.event.type}, ${r.status})`);
  for (const r of d.removed) ctx.out(`- ${r.id} v${r.version}`);
  for (const c of changed)
    ctx.out(
      `~ ${c.id} v${c.from} -> v${c.to}: ${c.keys.join(", ")}${c.versionUnchanged ? "  (WARNING: content changed, version did not)" : ""}`,
    );
  if (d.added.length + d.removed.length + d.changed.length === 0) ctx.out("no rule differences");
  return EXIT.ok;
}

export async function simulate(
  ctx: CliContext,
  opts: { rules: string; orders: string; limit?: number; json?: boolean },
): Promise<number> {
  const ruleSet = validDraft(ctx, opts.rules, opts.json);
  const { programme } = readRuleSetSource(resolve(ctx.cwd, opts.rules));
  let text: string;
  try {
    text = readFileSync(resolve(ctx.cwd, opts.orders), "utf8");
  } catch (err) {
    throw new UsageError(`--orders ${opts.orders}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const { purchases, rejected } = purchasesFromText(text, opts.limit);
  const started = process.hrtime.bigint();
  const { report } = simulateDraft(ruleSet, programme, purchases);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (opts.json) {
    printJson(ctx, report);
    return EXIT.ok;
  }
  const members = new Set(purchases.map((p) => p.memberId)).size;
  ctx.out(
    `simulated ${ruleSet.id} v${ruleSet.version} over ${purchases.length} orders of ${members} members` +
      `${rejected ? ` (${rejected} rejected lines)` : ""} in ${seconds.toFixed(2)} s; nothing was written`,
  );
  const w = Math.max(4, ...report.byRule.map((r) => r.ruleId.length));
  ctx.out(
    `${"rule".padEnd(w)}  ${"ver".padStart(3)}  ${"matched".padStart(8)}  ${"awards".padStart(8)}  ${"points".padStart(10)}  ${"members".padStart(8)}  ${"denied".padStart(6)}  ${"suppr.".padStart(6)}  ${"campaigns".padStart(9)}`,
  );
  for (const r of report.byRule)
    ctx.out(
      `${r.ruleId.padEnd(w)}  ${r.versions.join(",").padStart(3)}  ${String(r.matched).padStart(8)}  ${String(r.awards).padStart(8)}  ${String(r.points).padStart(10)}  ${String(r.membersReached).padStart(8)}  ${String(r.denied).padStart(6)}  ${String(r.suppressed).padStart(6)}  ${String(r.campaigns).padStart(9)}`,
    );
  const exp = programme.currencyExponent;
  const major = (report.liabilityMinor / 10 ** exp).toFixed(exp);
  ctx.out(
    `total points ${report.totalPoints}; liability ${major} ${report.currency} (${report.liabilityMinor} minor units at ${programme.pointValueMinor} per point)`,
  );
  return EXIT.ok;
}

export interface BacktestOpts {
  from: number;
  to: number;
  running?: string;
  runningPublished?: boolean;
  orders?: string;
  fromTopic?: boolean;
  json?: boolean;
}

/** Where a backtest's history came from, as printed and in --json. */
type HistorySource =
  | { file: string; read: number; rejected: number }
  | {
      topics: Record<string, number>;
      purchases: number;
      memberEvents: number;
      skipped: number;
      principal: string;
    };

/**
 * The environment history is read with: on the local stack (a credentials file) the `backtest`
 * principal, even where the CLI otherwise acts as its admin fallback (main.ts puts admin's
 * credentials in the environment when it names none); an environment naming a principal other
 * than admin (an operator's, e.g. backtest's own credentials in production) is used as it is.
 */
function backtestEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const named = env.KAFKA_SASL_USERNAME || undefined;
  if ((named !== undefined && named !== "admin") || readCredentials(env) === null) return env;
  const cleared = {
    ...env,
    KAFKA_SASL_USERNAME: "",
    KAFKA_SASL_PASSWORD: "",
    SCHEMA_REGISTRY_USERNAME: "",
    SCHEMA_REGISTRY_PASSWORD: "",
  };
  return withStackCredentials(cleared, "backtest");
}

/**
 * --from-topic: the namespace's loyalty.purchases.v1 and loyalty.members.v1 up to --to, read by
 * the same reader as the console's server (readTopicHistory), as the `backtest` principal (its
 * ACL is in schemas/asyncapi.yaml: read those two topics, nothing else).
 */
async function historyFromTopic(ctx: CliContext, to: number) {
  const env = backtestEnv(ctx.env);
  const as: CliContext = { ...ctx, env };
  const kafka = kafkaClient(as, "loyalty-cli-backtest");
  const codec = new AvroCodec(endpointsOf(as).schemaRegistryUrl, registryAuth(env));
  try {
    const h = await readTopicHistory(kafka, codec, topics(ctx), { to });
    return { ...h, principal: env.KAFKA_SASL_USERNAME ?? "(none)" };
  } catch (err) {
    throw translateKafkaError(err, ctx);
  }
}

/**
 * `rules backtest DIR --from --to`: the draft in DIR beside the running set (runningSet) over the
 * orders of a file (--orders, default the CDNOW master file) in [from, to). Offline unless
 * --running-published.
 */
export async function backtest(ctx: CliContext, path: string, opts: BacktestOpts): Promise<number> {
  if (opts.from >= opts.to)
    throw new UsageError(
      `--from must be before --to, got --from ${new Date(opts.from).toISOString()} --to ${new Date(opts.to).toISOString()}`,
    );
  const draft = validDraft(ctx, path, opts.json);
  if (opts.runningPublished && opts.running !== undefined)
    throw new UsageError("--running and --running-published exclude each other: give one of them");
  if (opts.fromTopic && opts.orders !== undefined)
    throw new UsageError("--orders and --from-topic exclude each other: give one of them");
  let purchases: PurchaseEvent[];
  let memberEvents: MemberChanged[] = [];
  let source: HistorySource;
  if (opts.fromTopic) {
    const h = await historyFromTopic(ctx, opts.to);
    purchases = h.purchases;
    memberEvents = h.memberEvents;
    source = {
      topics: h.records,
      purchases: h.purchases.length,
      memberEvents: h.memberEvents.length,
      skipped: h.skipped,
      principal: h.principal,
    };
  } else {
    const ordersPath = opts.orders === undefined ? cdnow.master() : resolve(ctx.cwd, opts.orders);
    let text: string;
    try {
      text = readFileSync(ordersPath, "utf8");
    } catch (err) {
      throw new UsageError(`--orders ${opts.orders}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const parsed = purchasesFromText(text);
    purchases = parsed.purchases;
    source = { file: ordersPath, read: purchases.length, rejected: parsed.rejected };
  }
  const { running, programme, runningFrom } = await runningSet(ctx, path, draft, opts);
  let report: BacktestReport;
  try {
    // The two sides on two threads; the report is the same as on one.
    ({ report } = await backtestParallel({
      running,
      draft,
      programme,
      purchases,
      memberEvents,
      from: opts.from,
      to: opts.to,
    }));
  } catch (err) {
    if (err instanceof BacktestError) throw new CheckFailedError(err.message);
    throw err;
  }
  if (opts.json) {
    printJson(ctx, {
      ...report,
      runningFrom,
      ...("file" in source ? { orders: source } : { history: source }),
    });
    return EXIT.ok;
  }
  printBacktest(ctx, report, programme.currencyExponent, runningFrom, source);
  return EXIT.ok;
}

/**
 * The running set: --running PATH (with its programme.json), or with --running-published the
 * latest version of the draft's id on the namespace's rules topic (programme.json of the draft's
 * folder), or rules/standard when neither is given or nothing is published under that id.
 */
async function runningSet(
  ctx: CliContext,
  draftPath: string,
  draft: RuleSet,
  opts: BacktestOpts,
): Promise<{ running: RuleSet; programme: ProgrammeFile; runningFrom: string }> {
  const fromFiles = (path: string, from: string) => ({
    running: validDraft(ctx, path, opts.json),
    programme: readRuleSetSource(resolve(ctx.cwd, path)).programme,
    runningFrom: from,
  });
  if (!opts.runningPublished)
    return opts.running === undefined
      ? fromFiles(STANDARD_RULES_DIR(), "rules/standard")
      : fromFiles(opts.running, opts.running);
  const topic = topics(ctx).rules.name;
  const current = latestById(await published(ctx)).get(draft.id);
  if (current === undefined)
    return fromFiles(STANDARD_RULES_DIR(), `rules/standard (nothing published as ${draft.id} on ${topic})`);
  let json: unknown;
  try {
    json = JSON.parse(current.ruleSetJson);
  } catch {
    json = null;
  }
  const programme = readRuleSetSource(resolve(ctx.cwd, draftPath)).programme;
  const v = validateRuleSet(json, programme);
  if (!v.ok)
    throw new CheckFailedError(
      `${current.ruleSetId} v${current.version} on ${topic} is not a valid rule set for this engine`,
    );
  return {
    running: v.ruleSet,
    programme,
    runningFrom: `${topic} v${current.version}`,
  };
}

function printBacktest(
  ctx: CliContext,
  r: BacktestReport,
  exponent: number,
  runningFrom: string,
  source: HistorySource,
): void {
  const money = (minor: number) => `${(minor / 10 ** exponent).toFixed(exponent)} ${r.currency}`;
  const signed = (n: number) => (n > 0 ? `+${n}` : String(n));
  ctx.out(
    `backtest of ${r.draft.id} v${r.draft.version} beside ${r.running.id} v${r.running.version} (${runningFrom}), ` +
      `[${r.window.from}, ${r.window.to}): ${r.events.inWindow} events of ${r.members} members ` +
      `(${r.events.warmUp} before the window as warm-up; ${
        "file" in source
          ? `${source.read} orders read from ${source.file}${source.rejected ? `, ${source.rejected} rejected lines` : ""}`
          : `${source.purchases} purchases and ${source.memberEvents} member changes read from ${Object.keys(source.topics).join(" and ")} as ${source.principal}${source.skipped ? `, ${source.skipped} undecodable records skipped` : ""}`
      }); nothing was written`,
  );
  const w = Math.max(4, ...r.byRule.map((x) => x.ruleId.length));
  ctx.out(
    `${"rule".padEnd(w)}  ${"running".padStart(10)}  ${"draft".padStart(10)}  ${"difference".padStart(11)}`,
  );
  for (const x of r.byRule)
    ctx.out(
      `${x.ruleId.padEnd(w)}  ${String(x.running.netPoints).padStart(10)}  ${String(x.draft.netPoints).padStart(10)}  ${signed(x.difference).padStart(11)}`,
    );
  const t = r.totals;
  ctx.out(
    `${"total".padEnd(w)}  ${String(t.running.netPoints).padStart(10)}  ${String(t.draft.netPoints).padStart(10)}  ${signed(t.difference.netPoints).padStart(11)}`,
  );
  ctx.out(
    `liability: running ${money(t.running.liabilityMinor)}, draft ${money(t.draft.liabilityMinor)}, difference ${money(t.difference.liabilityMinor)} (${r.pointValueMinor} minor units per point, ${r.rounding})`,
  );
  ctx.out(`members affected: ${r.membersAffected} of ${r.members}`);
  for (const b of r.budgets) {
    const used = (side: "running" | "draft") => b.weeks.reduce((s, wk) => s + wk[side], 0);
    const cap = (n: number | null) => (n === null ? "no budget" : `budget ${n}`);
    ctx.out(
      `budget ${b.ruleId}: running used ${used("running")} in the window (${cap(b.runningBudget)}), draft ${used("draft")} (${cap(b.draftBudget)}); per week in --json`,
    );
  }
  if (r.tiers.moves.length === 0) ctx.out(`tier moves: none (${r.tiers.note})`);
  else
    ctx.out(
      `tier moves: ${r.tiers.membersMoved} members: ${r.tiers.moves.map((m) => `${m.from} -> ${m.to} ${m.members}`).join(", ")}`,
    );
  if (r.topMembers.length > 0) {
    ctx.out(`top ${r.topMembers.length} members by difference:`);
    for (const m of r.topMembers)
      ctx.out(
        `  ${m.memberId.padEnd(12)} ${String(m.running).padStart(8)} -> ${String(m.draft).padStart(8)}  ${signed(m.difference)}`,
      );
  }
}

/** Canonical purchases from a CDNOW or JSON Lines file, as the ingestor would publish them. */
export function purchasesFromText(
  text: string,
  limit = Number.POSITIVE_INFINITY,
): { purchases: PurchaseEvent[]; rejected: number } {
  const fx = compileFx({ baseCurrency: "USD", rates: [] });
  const purchases: PurchaseEvent[] = [];
  let rejected = 0;
  for (const rec of parseText(text) as ReplayRecord[]) {
    if (purchases.length >= limit) break;
    const value = rec.kind === "order" ? rec.order : rec.kind === "json" ? rec.value : undefined;
    if (value === undefined) {
      rejected++;
      continue;
    }
    const order = validateOrder(value);
    if (!order.ok) {
      rejected++;
      continue;
    }
    const p = normaliseOrder(order.value, { memberId: order.value.customerId, fx });
    if (!p.ok) {
      rejected++;
      continue;
    }
    purchases.push(p.value);
  }
  return { purchases, rejected };
}

function deepSorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(deepSorted);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = deepSorted((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

export function diffRuleSets(
  draft: RuleSet,
  current: RuleSet | null,
): { added: Rule[]; removed: Rule[]; changed: Array<{ before: Rule; after: Rule }> } {
  const before = new Map((current?.rules ?? []).map((r) => [r.id, r]));
  const after = new Map(draft.rules.map((r) => [r.id, r]));
  const added = draft.rules.filter((r) => !before.has(r.id));
  const removed = (current?.rules ?? []).filter((r) => !after.has(r.id));
  const changed: Array<{ before: Rule; after: Rule }> = [];
  for (const r of draft.rules) {
    const b = before.get(r.id);
    if (b && JSON.stringify(deepSorted(b)) !== JSON.stringify(deepSorted(r)))
      changed.push({ before: b, after: r });
  }
  return { added, removed, changed };
}

function changedKeys(a: Rule, b: Rule): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    const x = JSON.stringify(deepSorted((a as unknown as Record<string, unknown>)[k]));
    const y = JSON.stringify(deepSorted((b as unknown as Record<string, unknown>)[k]));
    if (x !== y) out.push(k);
  }
  return out;
}
