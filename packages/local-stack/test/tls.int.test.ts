// A TLS stack (LOYALTY_KAFKA_TLS=1) against real clients: this test starts its own broker (no
// registry) from the Maven jars, in its own stack dir and on free ports, and stops and deletes it
// afterwards. A SASL_SSL client that trusts the stack's CA produces and consumes; a client
// without TLS, and one that does not trust the CA, are refused. The registry's kafkasql storage
// over TLS is exercised by `LOYALTY_KAFKA_TLS=1 pnpm loyalty stack up` (packages/local-stack/README.md).
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, type KafkaConfig, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredentials, withStackCredentials } from "../src/credentials.ts";
import { stackDown, stackUp } from "../src/stack.ts";
import { stackCaFile, tlsFiles } from "../src/tls.ts";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A free port whose successor (the controller's) is free too. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 40_000 + Math.floor(Math.random() * 20_000);
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error("no two consecutive free ports found");
}

describe("local stack with LOYALTY_KAFKA_TLS=1", () => {
  const dir = mkdtempSync(join(tmpdir(), "loyalty-tls-stack-"));
  let env: NodeJS.ProcessEnv = {};
  let brokers: string[] = [];
  let admin = { username: "admin", password: "" };
  let ca = "";
  let startSeconds = 0;

  const client = (config: Partial<KafkaConfig>) =>
    new Kafka({
      clientId: "loyalty-tls-test",
      brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 5000,
      retry: { retries: 0 },
      ...config,
    });

  beforeAll(async () => {
    const port = await freePortPair();
    brokers = [`127.0.0.1:${port}`];
    env = {
      ...process.env,
      LOYALTY_STACK_DIR: dir,
      KAFKA_BROKERS: brokers.join(","),
      LOYALTY_KAFKA_TLS: "1",
    };
    const up = await stackUp({ env, registry: false });
    startSeconds = up.seconds;
    process.stderr.write(`[tls] broker-only TLS stack up in ${up.seconds.toFixed(1)} s on ${brokers[0]}\n`);
    const creds = readCredentials(env);
    if (creds === null) throw new Error(`stack up left no credentials in ${dir}`);
    admin = { username: "admin", password: creds.admin };
    ca = readFileSync(tlsFiles(dir).caCert, "utf8");
  });

  afterAll(async () => {
    await stackDown({ env, wipe: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts the broker on SASL_SSL with the stack's CA, keys 0600, and tells clients to trust it", () => {
    expect(startSeconds).toBeGreaterThan(0);
    const files = tlsFiles(dir);
    for (const f of [files.caKey, files.brokerKey, files.keystore])
      expect(statSync(f).mode & 0o777).toBe(0o600);
    const props = readFileSync(join(dir, "server.properties"), "utf8");
    expect(props).toContain(`listeners=SASL_SSL://${brokers[0]},CONTROLLER://`);
    expect(props).toContain(
      "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
    );
    expect(stackCaFile(env)).toBe(files.caCert);
    expect(withStackCredentials({ LOYALTY_STACK_DIR: dir })).toMatchObject({
      KAFKA_SSL: "true",
      KAFKA_SSL_CA_FILE: files.caCert,
    });
  });

  it("lets a SASL_SSL client that trusts the CA produce and consume", async () => {
    // Retries on: the first consumer group of a fresh broker waits for __consumer_offsets.
    const kafka = client({
      ssl: { ca: [ca] },
      sasl: { mechanism: "scram-sha-512", ...admin },
      retry: { initialRetryTime: 200, retries: 10 },
    });
    const topic = `tls-check-${Date.now()}`;
    const a = kafka.admin();
    await a.connect();
    try {
      await a.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    } finally {
      await a.disconnect();
    }
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: "k", value: "over TLS" }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `${topic}-reader` });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
    const deadline = Date.now() + 30_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    expect(seen).toEqual(["over TLS"]);
  });

  it("refuses a client without TLS, even with the right credentials", async () => {
    const a = client({ sasl: { mechanism: "scram-sha-512", ...admin } }).admin();
    await expect(a.connect().then(() => a.describeCluster())).rejects.toThrow();
    await a.disconnect().catch(() => undefined);
  });

  it("refuses a TLS client that does not trust the stack's CA", async () => {
    // ssl: true trusts Node's public roots only, which never signed the stack's CA.
    const a = client({ ssl: true, sasl: { mechanism: "scram-sha-512", ...admin } }).admin();
    await expect(a.connect()).rejects.toThrow(/certificate/i);
    await a.disconnect().catch(() => undefined);
  });
});
