// Shared pieces of the rules engine's integration tests: canonical purchases built from CDNOW
// with the ingestor's domain, producing them like the ingestor does, and running the service
// as a child process.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AvroCodec,
  type PurchaseEvent,
  type RuleSetPublished,
  type TopicSpec,
  namespacedTopics,
} from "@loyalty/contracts";
import { cdnow } from "@loyalty/datasets";
import { compileFx, normaliseOrder, orderEventId, parseText, validateOrder } from "@loyalty/ingestor";
import {
  type TestStack,
  devRulesKeyEnv,
  grantTestNamespace,
  publisherKafka,
  serviceEnv,
  testKafka,
} from "@loyalty/testkit";
import type { Kafka } from "kafkajs";
import {
  STANDARD_RULES_DIR,
  type Signer,
  publishRuleSet,
  readPublicationRecords,
  readRuleSetSource,
  sendPublication,
  signerOf,
  signingKeyFromEnv,
  validateRuleSet,
} from "../../src/index.ts";

/** The signer `loyalty rules publish` would use in tests: the local stack's dev key pair. */
export function devSigner(publisher = "test-publisher"): Signer {
  const key = signingKeyFromEnv({ ...devRulesKeyEnv(), ...process.env });
  if (key === null) throw new Error("no dev signing key");
  return signerOf(key, publisher);
}

export const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
export const REPO = new URL("../../../../", import.meta.url).pathname;

/** The first `lines` CDNOW master rows as canonical purchases (memberId = customer id). */
export function cdnowPurchases(lines: number): PurchaseEvent[] {
  const text = readFileSync(cdnow.master(), "utf8");
  const fx = compileFx({ baseCurrency: "USD", rates: [] });
  const out: PurchaseEvent[] = [];
  for (const r of parseText(
    text
      .split("\n")
      .slice(0, lines + 1)
      .join("\n"),
  )) {
    if (r.kind !== "order") continue;
    const v = validateOrder(r.order);
    if (!v.ok) throw new Error(v.reason);
    const p = normaliseOrder(v.value, { memberId: v.value.customerId, fx });
    if (!p.ok) throw new Error(p.reason);
    if (p.value.eventId !== orderEventId(v.value)) throw new Error("event id mismatch");
    out.push(p.value);
  }
  return out;
}

/** A refund of part of an order, as the ingestor would emit it (amounts in USD = base). */
export function refundOf(p: PurchaseEvent, amountMinor: number, refundId: string, at: number): PurchaseEvent {
  return {
    ...p,
    eventId: orderEventId({
      source: p.source,
      orderId: p.orderId,
      type: "ORDER_REFUNDED",
      revision: 0,
      refundId,
    }),
    type: "REFUND",
    eventTime: at,
    amountMinor,
    baseAmountMinor: amountMinor,
    lines: [],
    refundId,
    refundedLineIds: [],
  };
}

export function cancellationOf(p: PurchaseEvent, at: number): PurchaseEvent {
  return {
    ...p,
    eventId: orderEventId({
      source: p.source,
      orderId: p.orderId,
      type: "ORDER_CANCELLED",
      revision: 0,
      refundId: null,
    }),
    type: "CANCELLATION",
    eventTime: at,
    refundId: null,
  };
}

export class Inputs {
  readonly kafka: Kafka;
  readonly codec: AvroCodec;
  readonly topics: ReturnType<typeof namespacedTopics>;
  private ready: Promise<void> | null = null;
  constructor(
    readonly stack: TestStack,
    readonly ns: string,
  ) {
    this.kafka = testKafka(stack.kafkaBrokers);
    this.codec = new AvroCodec(stack.schemaRegistryUrl);
    this.topics = namespacedTopics(ns);
  }

  /** Topics and schemas, as a service's start would create them. */
  async prepare(partitions = 3): Promise<void> {
    this.ready ??= (async () => {
      const { ensureTopics } = await import("@loyalty/stream-runtime");
      const admin = this.kafka.admin();
      await admin.connect();
      await ensureTopics(admin, { partitions, replication: 1, topics: Object.values(this.topics) });
      await admin.disconnect();
      await this.codec.registerAll(Object.values(this.topics));
    })();
    return this.ready;
  }

  /** Produces records keyed by member id, timestamped with their event time, in order. */
  async produce(
    topic: TopicSpec,
    records: ReadonlyArray<{ memberId: string; eventTime: number }>,
  ): Promise<void> {
    await this.prepare();
    const producer = this.kafka.producer();
    await producer.connect();
    try {
      for (let i = 0; i < records.length; i += 500) {
        const chunk = records.slice(i, i + 500);
        const messages = await Promise.all(
          chunk.map(async (r) => ({
            key: r.memberId,
            value: await this.codec.encode(topic, r),
            timestamp: String(r.eventTime),
          })),
        );
        await producer.send({ topic: topic.name, acks: -1, messages });
      }
    } finally {
      await producer.disconnect();
    }
  }
  /**
   * Validates a rule-set draft and publishes it on the namespace's rules topic, as
   * `loyalty rules publish` does (the CLI app is tested in apps/cli; services do not import it).
   */
  async publishRuleSet(pathOrDir: string, signer: Signer = devSigner()): Promise<RuleSetPublished> {
    await this.prepare();
    const v = validateRuleSet(readRuleSetSource(pathOrDir).json);
    if (!v.ok) throw new Error(`${pathOrDir}: ${v.errors.map((e) => `${e.path} ${e.problem}`).join("; ")}`);
    // As `loyalty rules publish`: the same signing and sending code, as the publisher principal
    // (which may write the namespace's rules topic once its ACLs exist).
    await grantTestNamespace(this.stack.kafkaBrokers, this.ns);
    return publishRuleSet(
      publisherKafka(this.stack.kafkaBrokers),
      this.codec,
      this.topics.rules,
      v.ruleSet,
      signer,
    );
  }

  /**
   * What the tooling does before an engine's first start in a namespace (`loyalty up`, bench):
   * publishes RULES_BOOTSTRAP_DIR's programme (default rules/standard; "" = none) unless a
   * version of its id is on the topic already. The engine itself never publishes.
   */
  async publishProgramme(dir: string = STANDARD_RULES_DIR()): Promise<void> {
    if (dir === "") return;
    await this.prepare();
    const id = readRuleSetSource(dir).json;
    const ruleSetId = typeof id === "object" && id !== null && "id" in id ? String(id.id) : "";
    const onTopic = await readPublicationRecords(this.kafka, this.codec, this.topics.rules.name);
    if (onTopic.some((r) => r.publication?.ruleSetId === ruleSetId)) return;
    await this.publishRuleSet(dir, devSigner("local-dev"));
  }

  /** Sends a publication as given (signed or not): the hostile cases of signing.int.test.ts. */
  async sendRuleSetPublication(p: RuleSetPublished): Promise<void> {
    await this.prepare();
    const producer = this.kafka.producer();
    await producer.connect();
    try {
      await sendPublication(producer, this.codec, this.topics.rules, p);
    } finally {
      await producer.disconnect();
    }
  }
}

const programmes = new Map<string, Promise<void>>();

/**
 * The rules engine alone. No churn-alert runs beside it, so churn alerts (those a test produces)
 * count from when they are read (CHURN_JOIN=arrival); churn-join.int.test.ts runs both.
 */
export async function startService(
  stack: TestStack,
  ns: string,
  env: Record<string, string> = {},
  opts: { publishProgramme?: boolean } = {},
): Promise<ChildProcess> {
  // Once per namespace and test process: the programme the engine waits for (it never publishes).
  // `publishProgramme: false`: the test publishes its own rule sets in the namespace.
  if (opts.publishProgramme !== false) {
    let seeded = programmes.get(ns);
    if (seeded === undefined) {
      seeded = new Inputs(stack, ns).publishProgramme(env.RULES_BOOTSTRAP_DIR);
      programmes.set(ns, seeded);
    }
    await seeded;
  }
  return spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: REPO,
    env: serviceEnv(stack, ns, {
      SERVICE_NAME: "rules-engine",
      CONSUMER_MAX_BATCH: "200",
      CHURN_JOIN: "arrival",
      ...env,
    }),
    stdio: ["ignore", "inherit", "inherit"],
  });
}

export async function stopService(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  return exited;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(250);
    last = await probe();
  }
  return last;
}
