// The broker and the registry of the local stack authenticate and authorise (issue 21, item 1):
// no credentials, no connection; each principal may write only what schemas/asyncapi.yaml lets
// it; and the ACLs on the broker are exactly those the document generates.
import {
  type Grant,
  applyGrants,
  grantKey,
  namespaceGrants,
  principalEnv,
  readCredentials,
  registryGrants,
  revokeStaleTopicGrants,
} from "@loyalty/local-stack";
import { type Kafka, Kafka as KafkaClient, logLevel } from "kafkajs";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTopic,
  grantTestNamespace,
  principalKafka,
  readTopic,
  requireStack,
  sslOf,
  testKafka,
  testNamespace,
} from "../src/index.ts";

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

let brokers: string[];
let registryUrl: string;
let admin: Kafka;
// The contract's names (packages/contracts/src/topics.ts), spelled out: testkit does not depend on it.
const name = { rules: "loyalty.rules.v1", orders: "orders.v1", points: "loyalty.points.v1" } as const;
type Names = { [K in keyof typeof name]: { name: string } };
const topicsOf = (namespace: string): Names => ({
  rules: { name: `${namespace}${name.rules}` },
  orders: { name: `${namespace}${name.orders}` },
  points: { name: `${namespace}${name.points}` },
});
const TOPICS = topicsOf("");
const ns = testNamespace();
const nsTopics = topicsOf(`${ns}.`);
const namespacedTopics = (namespace: string) => topicsOf(`${namespace}.`);

/** Sends one record as `kafka`'s principal: "ok", or the broker's error type (no retries). */
async function produceAs(kafka: Kafka, topic: string, value: string): Promise<string> {
  const producer = kafka.producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
  try {
    await producer.connect();
    await producer.send({ topic, messages: [{ key: "k", value }] });
    return "ok";
  } catch (err) {
    // kafkajs wraps the broker's error when it gives up: the type is on the error or its cause.
    for (
      let e = err as { type?: string; name?: string; message?: string; cause?: unknown } | undefined;
      e;
    ) {
      if (e.type) return e.type;
      if (e.name === "KafkaJSSASLAuthenticationError") return e.name;
      if (e.cause === undefined) return `${e.name}: ${e.message}`;
      e = e.cause as typeof e;
    }
    return String(err);
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

async function values(topic: string, atLeast: number): Promise<string[]> {
  const msgs = await readTopic(admin, topic, (m) => m.length >= atLeast, 20_000, 1000);
  return msgs.map((m) => m.value?.toString() ?? "");
}

beforeAll(async () => {
  const stack = await requireStack();
  brokers = stack.kafkaBrokers;
  registryUrl = stack.schemaRegistryUrl;
  expect(readCredentials(), "the test stack must be the SASL stack (credentials file)").not.toBeNull();
  admin = testKafka(brokers);
  const a = admin.admin();
  await a.connect();
  try {
    // The production names (stack up granted them) and a namespace's (granted like a test's).
    const existing = new Set(await a.listTopics());
    for (const t of [TOPICS.rules, TOPICS.orders, TOPICS.points])
      if (!existing.has(t.name)) await createTopic(a, t.name);
    for (const t of [nsTopics.rules, nsTopics.orders, nsTopics.points]) await createTopic(a, t.name);
    // What `loyalty stack up` does on every run: the production names' ACLs as the contract says
    // now (a stack started before a contract change keeps grants it no longer makes otherwise).
    const production = [...namespaceGrants(""), ...registryGrants()];
    await applyGrants(a, production);
    await revokeStaleTopicGrants(a, production);
  } finally {
    await a.disconnect();
  }
  await grantTestNamespace(brokers, ns);
});

afterAll(async () => {
  const a = admin.admin();
  await a.connect();
  await a.deleteTopics({ topics: [nsTopics.rules.name, nsTopics.orders.name, nsTopics.points.name] });
  await a.disconnect();
});

describe("authentication", () => {
  it("refuses a client with no credentials", async () => {
    const anonymous = new KafkaClient({
      clientId: "anonymous",
      brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3000,
      retry: { retries: 0 },
      // Over TLS when the stack speaks it, so that SASL (not the handshake) is what refuses.
      ...(sslOf() === undefined ? {} : { ssl: sslOf() }),
    });
    const a = anonymous.admin();
    await expect(a.connect().then(() => a.listTopics())).rejects.toThrow();
    await a.disconnect().catch(() => undefined);
    expect(await produceAs(anonymous, TOPICS.orders.name, "anonymous")).not.toBe("ok");
  });

  it("refuses a known principal with a wrong password", async () => {
    const creds = readCredentials();
    const forged = new KafkaClient({
      clientId: "forged",
      brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      sasl: { mechanism: "scram-sha-512", username: "publisher", password: `${creds?.publisher}x` },
      ...(sslOf() === undefined ? {} : { ssl: sslOf() }),
    });
    expect(await produceAs(forged, TOPICS.rules.name, "forged")).toBe("KafkaJSSASLAuthenticationError");
  });
});

// Production names are the default namespace of whoever runs the tests (their demo, their
// engine): only refusals are tried there, so nothing lands. That the allowed principals may write
// them is shown by the same generated rules on a namespace's topics below, and by the broker's
// ACLs being exactly the generated ones (last block).
describe("authorisation (production topic names)", () => {
  it("ingestor and rules-engine get TopicAuthorizationFailed on loyalty.rules.v1", async () => {
    const marker = `rules-${ns}`;
    expect(
      await produceAs(principalKafka(brokers, "ingestor"), TOPICS.rules.name, `${marker}-ingestor`),
    ).toBe("TOPIC_AUTHORIZATION_FAILED");
    // The engine only reads rule sets (ADR 17): it never publishes, not even the standard programme.
    expect(
      await produceAs(principalKafka(brokers, "rules-engine"), TOPICS.rules.name, `${marker}-engine`),
    ).toBe("TOPIC_AUTHORIZATION_FAILED");
  });

  it("upstream may not write loyalty.points.v1", async () => {
    const marker = `upstream-${ns}`;
    expect(await produceAs(principalKafka(brokers, "upstream"), TOPICS.points.name, `${marker}-points`)).toBe(
      "TOPIC_AUTHORIZATION_FAILED",
    );
    const points = await readTopic(admin, TOPICS.points.name, () => true, 5000, 1000);
    expect(points.filter((m) => m.value?.toString().startsWith(marker))).toEqual([]);
  });
});

describe("authorisation (a namespace's topics)", () => {
  it("applies the same rules to <namespace>.<topic>", async () => {
    expect(await produceAs(principalKafka(brokers, "ingestor"), nsTopics.rules.name, "x")).toBe(
      "TOPIC_AUTHORIZATION_FAILED",
    );
    expect(await produceAs(principalKafka(brokers, "rules-engine"), nsTopics.rules.name, "x")).toBe(
      "TOPIC_AUTHORIZATION_FAILED",
    );
    expect(await produceAs(principalKafka(brokers, "publisher"), nsTopics.rules.name, "rules")).toBe("ok");
    expect(await produceAs(principalKafka(brokers, "upstream"), nsTopics.orders.name, "order")).toBe("ok");
    expect(await produceAs(principalKafka(brokers, "upstream"), nsTopics.points.name, "points")).toBe(
      "TOPIC_AUTHORIZATION_FAILED",
    );
    // A namespace's grant does not reach another namespace's topics.
    const other = namespacedTopics(testNamespace());
    expect(await produceAs(principalKafka(brokers, "publisher"), other.rules.name, "r")).toBe(
      "TOPIC_AUTHORIZATION_FAILED",
    );
    expect(await values(nsTopics.rules.name, 1)).toEqual(["rules"]);
  });
});

const RESOURCE_NAME = new Map<number, Grant["resource"]>([
  [AclResourceTypes.TOPIC, "TOPIC"],
  [AclResourceTypes.GROUP, "GROUP"],
  [AclResourceTypes.TRANSACTIONAL_ID, "TRANSACTIONAL_ID"],
]);
const OPERATION_NAME = new Map<number, Grant["operation"]>([
  [AclOperationTypes.READ, "READ"],
  [AclOperationTypes.WRITE, "WRITE"],
  [AclOperationTypes.DESCRIBE, "DESCRIBE"],
  [AclOperationTypes.CREATE, "CREATE"],
]);

describe("the broker's ACLs", () => {
  it("are exactly those generated from schemas/asyncapi.yaml (production and namespace)", async () => {
    const a = admin.admin();
    await a.connect();
    try {
      const described = await a.describeAcls({
        resourceType: AclResourceTypes.ANY,
        resourcePatternType: ResourcePatternTypes.ANY,
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ANY,
      });
      // Other tests' namespaces are on the broker too: compare every ACL on a production name
      // (the contract's topics, the services' groups, the registry's) and on this namespace's.
      const production = new Set([...namespaceGrants(""), ...registryGrants()].map((g) => g.name));
      const ours = (g: Grant) => production.has(g.name) || g.name.startsWith(`${ns}.`);
      const onBroker = new Set<string>();
      for (const r of described.resources)
        for (const acl of r.acls) {
          expect(acl.permissionType).toBe(AclPermissionTypes.ALLOW);
          const g: Grant = {
            principal: acl.principal.replace(/^User:/, ""),
            resource: RESOURCE_NAME.get(r.resourceType) ?? "TOPIC",
            pattern: r.resourcePatternType === ResourcePatternTypes.PREFIXED ? "PREFIXED" : "LITERAL",
            name: r.resourceName,
            operation: OPERATION_NAME.get(acl.operation) ?? "READ",
          };
          if (ours(g)) onBroker.add(grantKey(g));
        }
      // A set: grants that are not namespaced (the CLI's rule-reading groups) are in both.
      const expected = [
        ...new Set([...namespaceGrants(""), ...namespaceGrants(ns), ...registryGrants()].map(grantKey)),
      ].sort();
      // Other test files' namespaces may be on the broker too: compare ours and the production set.
      expect([...onBroker].sort()).toEqual(expected);
    } finally {
      await a.disconnect();
    }
  });
});

describe("the registry", () => {
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
  });

  it("answers 401 without credentials and with a wrong password", async () => {
    expect((await fetch(`${registryUrl}/subjects`)).status).toBe(401);
    expect((await fetch(`${registryUrl}/subjects`, { headers: basic("admin", "wrong") })).status).toBe(401);
  });

  it("lets every principal read, and only admin and services write", async () => {
    const creds = readCredentials();
    if (creds === null) throw new Error("no credentials");
    const up = principalEnv(creds, "upstream");
    const read = await fetch(`${registryUrl}/subjects`, {
      headers: basic("upstream", up.SCHEMA_REGISTRY_PASSWORD ?? ""),
    });
    expect(read.status).toBe(200);
    const write = await fetch(`${registryUrl}/config/${ns}-x-value`, {
      method: "PUT",
      headers: {
        ...basic("upstream", up.SCHEMA_REGISTRY_PASSWORD ?? ""),
        "content-type": "application/json",
      },
      body: JSON.stringify({ compatibility: "NONE" }),
    });
    expect(write.status).toBe(403);
  });
});
