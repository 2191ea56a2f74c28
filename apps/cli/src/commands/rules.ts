// `pnpm loyalty rules validate|publish|list|diff|simulate`: the rule-set lifecycle.
//   validate DIR|FILE                 every error as `ruleId path problem`; exit 1 on errors
//   publish DIR|FILE                  validate, then publish to loyalty.rules.v1 (version must grow)
//   list                              published versions (the compacted topic)
//   diff DIR|FILE                     draft vs published: added / removed / changed rules
//   simulate --rules DIR --orders FILE [--limit N] [--json]
//                                     price a file of orders (CDNOW or JSON Lines) with a draft;
//                                     writes nothing
// LOYALTY_NAMESPACE selects the engine's namespace; endpoints come from KAFKA_BROKERS,
// SCHEMA_REGISTRY_URL (defaults: the local stack).
import { readFileSync } from "node:fs";
import { AvroCodec, type PurchaseEvent, namespacedTopics } from "@loyalty/contracts";
import { type ReplayRecord, compileFx, normaliseOrder, parseText, validateOrder } from "@loyalty/ingestor";
import { endpointsFromEnv } from "@loyalty/local-stack";
import {
  type Rule,
  type RuleSet,
  latestById,
  publication,
  readPublications,
  readRuleSetSource,
  sendPublication,
  simulateDraft,
  validateRuleSet,
} from "@loyalty/rules-engine";
import { createKafka, createLogger, ensureTopics } from "@loyalty/stream-runtime";
import { Partitioners } from "kafkajs";

const USAGE = `usage: pnpm loyalty rules <command>
  validate DIR|FILE
  publish DIR|FILE
  list
  diff DIR|FILE
  simulate --rules DIR --orders FILE [--limit N] [--json]`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function connect() {
  const e = endpointsFromEnv();
  const ns = process.env.LOYALTY_NAMESPACE ?? "";
  const topics = namespacedTopics(ns);
  const kafka = createKafka({
    clientId: "loyalty-cli-rules",
    brokers: e.kafkaBrokers,
    logger: createLogger("cli", "warn"),
    level: "warn",
  });
  const codec = new AvroCodec(e.schemaRegistryUrl);
  return { kafka, codec, topics };
}

/** Validates a draft; prints every error. Returns the rule set or null. */
function validated(path: string): RuleSet | null {
  const src = readRuleSetSource(path);
  const v = validateRuleSet(src.json);
  if (!v.ok) {
    for (const e of v.errors) console.log(`${e.ruleId ?? "-"} ${e.path} ${e.problem}`);
    console.error(`${src.path}: ${v.errors.length} error(s)`);
    return null;
  }
  return v.ruleSet;
}

async function published(conn: ReturnType<typeof connect>) {
  const admin = conn.kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, {
      partitions: Number(process.env.LOYALTY_PARTITIONS ?? 6),
      replication: Number(process.env.LOYALTY_REPLICATION ?? 1),
      topics: [conn.topics.rules],
    });
  } finally {
    await admin.disconnect();
  }
  return readPublications(conn.kafka, conn.codec, conn.topics.rules.name);
}

function rulesOf(json: string): RuleSet {
  return JSON.parse(json) as RuleSet;
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

/** Canonical purchases from a CDNOW or JSON Lines file, as the ingestor would publish them. */
export function purchasesFromText(
  text: string,
  limit = Number.POSITIVE_INFINITY,
): {
  purchases: PurchaseEvent[];
  rejected: number;
} {
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

async function simulateCmd(args: string[]): Promise<number> {
  const rulesDir = option(args, "rules");
  const ordersFile = option(args, "orders");
  const limitText = option(args, "limit");
  if (!rulesDir || !ordersFile) {
    console.error(USAGE);
    return 2;
  }
  const limit = limitText === undefined ? Number.POSITIVE_INFINITY : Number(limitText);
  if (!(limit > 0)) {
    console.error("--limit must be a positive number");
    return 2;
  }
  const ruleSet = validated(rulesDir);
  if (!ruleSet) return 1;
  const { programme } = readRuleSetSource(rulesDir);
  const { purchases, rejected } = purchasesFromText(readFileSync(ordersFile, "utf8"), limit);
  const started = process.hrtime.bigint();
  const { report } = simulateDraft(ruleSet, programme, purchases);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (args.includes("--json")) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  const members = new Set(purchases.map((p) => p.memberId)).size;
  console.log(
    `simulated ${ruleSet.id} v${ruleSet.version} over ${purchases.length} orders of ${members} members` +
      `${rejected ? ` (${rejected} rejected lines)` : ""} in ${seconds.toFixed(2)} s; nothing was written`,
  );
  const w = Math.max(4, ...report.byRule.map((r) => r.ruleId.length));
  console.log(
    `${"rule".padEnd(w)}  ${"ver".padStart(3)}  ${"matched".padStart(8)}  ${"awards".padStart(8)}  ${"points".padStart(10)}  ${"members".padStart(8)}  ${"denied".padStart(6)}  ${"suppr.".padStart(6)}  ${"campaigns".padStart(9)}`,
  );
  for (const r of report.byRule) {
    console.log(
      `${r.ruleId.padEnd(w)}  ${r.versions.join(",").padStart(3)}  ${String(r.matched).padStart(8)}  ${String(r.awards).padStart(8)}  ${String(r.points).padStart(10)}  ${String(r.membersReached).padStart(8)}  ${String(r.denied).padStart(6)}  ${String(r.suppressed).padStart(6)}  ${String(r.campaigns).padStart(9)}`,
    );
  }
  const exp = programme.currencyExponent;
  const major = (report.liabilityMinor / 10 ** exp).toFixed(exp);
  console.log(
    `total points ${report.totalPoints}; liability ${major} ${report.currency} (${report.liabilityMinor} minor units at ${programme.pointValueMinor} per point)`,
  );
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "validate": {
        const path = rest[0];
        if (!path) break;
        const rs = validated(path);
        if (!rs) return 1;
        console.log(`ok: ${rs.id} v${rs.version}, ${rs.rules.length} rule(s)`);
        return 0;
      }
      case "publish": {
        const path = rest[0];
        if (!path) break;
        const rs = validated(path);
        if (!rs) return 1;
        const conn = connect();
        const current = latestById(await published(conn)).get(rs.id);
        if (current && rs.version <= current.version) {
          console.error(
            `refused: ${rs.id} v${rs.version} is not greater than the published v${current.version}`,
          );
          return 1;
        }
        await conn.codec.register(conn.topics.rules);
        const producer = conn.kafka.producer({
          allowAutoTopicCreation: false,
          idempotent: false,
          createPartitioner: Partitioners.DefaultPartitioner,
        });
        await producer.connect();
        try {
          const p = publication(rs, Date.now());
          await sendPublication(producer, conn.codec, conn.topics.rules, p);
          console.log(
            `published ${rs.id} v${rs.version} (${rs.rules.length} rules) to ${conn.topics.rules.name} at ${new Date(p.publishedAt).toISOString()}, sha256 ${p.checksum.slice(0, 12)}`,
          );
        } finally {
          await producer.disconnect();
        }
        return 0;
      }
      case "list": {
        const conn = connect();
        const pubs = await published(conn);
        if (pubs.length === 0) {
          console.log(`nothing published on ${conn.topics.rules.name}`);
          return 0;
        }
        for (const p of pubs.sort(
          (a, b) => a.ruleSetId.localeCompare(b.ruleSetId) || a.version - b.version,
        )) {
          const rs = rulesOf(p.ruleSetJson);
          const active = rs.rules.filter((r) => r.status === "active").length;
          console.log(
            `${p.ruleSetId}  v${p.version}  ${new Date(p.publishedAt).toISOString()}  ${rs.rules.length} rules (${active} active)  sha256 ${p.checksum.slice(0, 12)}`,
          );
        }
        return 0;
      }
      case "diff": {
        const path = rest[0];
        if (!path) break;
        const rs = validated(path);
        if (!rs) return 1;
        const conn = connect();
        const current = latestById(await published(conn)).get(rs.id);
        const before = current ? rulesOf(current.ruleSetJson) : null;
        const d = diffRuleSets(rs, before);
        console.log(
          `${rs.id}: draft v${rs.version} vs ${current ? `published v${current.version}` : "nothing published"}`,
        );
        for (const r of d.added) console.log(`+ ${r.id} v${r.version} (${r.event.type}, ${r.status})`);
        for (const r of d.removed) console.log(`- ${r.id} v${r.version}`);
        for (const c of d.changed) {
          const keys = changedKeys(c.before, c.after);
          const warn =
            c.before.version === c.after.version ? "  (WARNING: content changed, version did not)" : "";
          console.log(
            `~ ${c.after.id} v${c.before.version} -> v${c.after.version}: ${keys.join(", ")}${warn}`,
          );
        }
        if (d.added.length + d.removed.length + d.changed.length === 0) console.log("no rule differences");
        return 0;
      }
      case "simulate":
        return await simulateCmd(rest);
    }
  } catch (err) {
    console.error(`loyalty rules ${sub}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  console.error(USAGE);
  return 2;
}
