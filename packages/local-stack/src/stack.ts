import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { applyGrants, namespaceGrants, registryGrants, revokeStaleTopicGrants } from "./acl.ts";
import {
  PRINCIPALS,
  type Principal,
  SERVICE_PRINCIPALS,
  type StackCredentials,
  ensureCredentials,
  readCredentials,
} from "./credentials.ts";
import { type Endpoints, endpointsFromEnv } from "./endpoints.ts";
import { REPO_ROOT, type StackPaths, jarsPresent, stackPaths, stackVersions } from "./paths.ts";
import { type Probe, type StackAuth, probeAll, probeKafka, probeRegistry } from "./probes.ts";
import { type Daemon, runningPid, startDaemon, stopDaemon, withLock } from "./process.ts";
import {
  type ListenerProtocol,
  type StackTlsFiles,
  ensureTls,
  recordListener,
  recordedListener,
  requestedListener,
  stackCaFile,
} from "./tls.ts";

export interface StackOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/** How the stack's clients reach the client listener: its protocol and, with TLS, the stack's files. */
interface Listener {
  protocol: ListenerProtocol;
  tls: StackTlsFiles | null;
}

/** A JDK client's TLS settings for the listener (none on SASL_PLAINTEXT). */
function jdkTls(l: Listener, prefix = ""): string[] {
  if (l.tls === null) return [];
  return [`${prefix}ssl.truststore.type=PEM`, `${prefix}ssl.truststore.location=${l.tls.caCert}`];
}

const KAFKA_MAIN = "kafka.Kafka";
const REGISTRY_MARKER = "apicurio-registry-app";
const PROXY_MARKER = "registry-proxy.mjs";
const PROXY_SCRIPT = fileURLToPath(new URL("./registry-proxy.mjs", import.meta.url));

/** The stack's own setup failed in a way retrying will not fix (old data, a bad address). */
export class StackSetupError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "StackSetupError";
  }
}

/** A file only the stack's user may read: it holds passwords. */
function writeSecretFile(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

const scramJaas = (user: string, password: string) =>
  `org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${password}";`;

/** The admin principal's client settings, for the JDK tools (kafka-acls, kafka-configs, ...). */
function writeAdminClientProperties(p: StackPaths, creds: StackCredentials, l: Listener): string {
  const file = join(p.stateDir, "admin-client.properties");
  writeSecretFile(
    file,
    [
      `security.protocol=${l.protocol}`,
      "sasl.mechanism=SCRAM-SHA-512",
      `sasl.jaas.config=${scramJaas("admin", creds.admin)}`,
      ...jdkTls(l),
      "",
    ].join("\n"),
  );
  return file;
}

function hostPort(address: string): { host: string; port: number } {
  const [host, port] = address.split(":");
  if (!host || !port || !Number.isInteger(Number(port)))
    throw new StackSetupError(`KAFKA_BROKERS entry '${address}' is not host:port`);
  return { host, port: Number(port) };
}

/**
 * The broker: clients on SASL_PLAINTEXT (SASL_SSL with the stack's CA and broker certificate as
 * PEM key and trust stores when TLS is on) with SCRAM-SHA-512 (the users are created when the
 * storage is formatted, see formatKafka), the controller on its own listener with SASL/PLAIN and
 * a single static user, admin (SCRAM cannot authenticate the controller listener in KRaft: its
 * credentials live in the metadata the controller serves). The StandardAuthorizer denies what
 * no ACL allows; admin is the only super user.
 */
function kafkaDaemon(p: StackPaths, e: Endpoints, creds: StackCredentials, l: Listener): Daemon {
  const { host, port } = hostPort(e.kafkaBrokers[0] ?? "");
  const controllerPort = port + 1;
  const props = join(p.stateDir, "server.properties");
  const plain = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${creds.admin}" user_admin="${creds.admin}";`;
  writeSecretFile(
    props,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@${host}:${controllerPort}`,
      `listeners=${l.protocol}://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
      `advertised.listeners=${l.protocol}://${host}:${port}`,
      "controller.listener.names=CONTROLLER",
      `inter.broker.listener.name=${l.protocol}`,
      "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
      "sasl.enabled.mechanisms=SCRAM-SHA-512",
      "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
      `listener.name.${l.protocol.toLowerCase()}.scram-sha-512.sasl.jaas.config=${scramJaas("admin", creds.admin)}`,
      ...(l.tls === null
        ? []
        : [
            // PEM stores (Kafka 3.x): the key (unencrypted PKCS#8, 0600) and chain, and the CA.
            "ssl.keystore.type=PEM",
            `ssl.keystore.location=${l.tls.keystore}`,
            ...jdkTls(l),
            "ssl.client.auth=none",
          ]),
      "sasl.mechanism.controller.protocol=PLAIN",
      "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
      `listener.name.controller.plain.sasl.jaas.config=${plain}`,
      "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
      "super.users=User:admin",
      "allow.everyone.if.no.acl.found=false",
      `log.dirs=${p.kafkaData}`,
      // Single node: internal topics cannot have more replicas than brokers.
      "offsets.topic.replication.factor=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      // The project creates its topics with explicit settings; a typo must not create one.
      "auto.create.topics.enable=false",
      "",
    ].join("\n"),
  );
  const log4j = join(p.stateDir, "log4j.properties");
  writeFileSync(
    log4j,
    [
      "log4j.rootLogger=WARN, stdout",
      "log4j.logger.kafka.server.KafkaRaftServer=INFO",
      "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
      "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
      "",
    ].join("\n"),
  );
  return {
    name: "kafka",
    marker: KAFKA_MAIN,
    command: "java",
    args: [
      `-Xmx${process.env.KAFKA_HEAP ?? "1g"}`,
      "-XX:+UseG1GC",
      // C1 only: on two cores the C2 compiler thread took 13-15 CPU-s of a fresh broker's first
      // replay (28.9 CPU-s cold vs 13-17 warm); with C1 alone it was 18.1 cold and 14.5 warm.
      "-XX:TieredStopAtLevel=1",
      `-Dlog4j.configuration=file:${log4j}`,
      "-cp",
      `${p.kafkaLibs}/*`,
      KAFKA_MAIN,
      props,
    ],
  };
}

/** Where the registry listens behind its proxy: REGISTRY_INTERNAL_PORT, else the public port + 1. */
function registryPorts(
  e: Endpoints,
  env: NodeJS.ProcessEnv,
): { host: string; port: number; internal: number } {
  const url = new URL(e.schemaRegistryUrl);
  const port = Number(url.port || "8081");
  const internal = Number(env.REGISTRY_INTERNAL_PORT ?? port + 1);
  if (!Number.isInteger(internal) || internal < 1 || internal > 65_535 || internal === port)
    throw new StackSetupError(`REGISTRY_INTERNAL_PORT must be a free port other than ${port}`);
  return { host: url.hostname, port, internal };
}

const KAFKA_STUB = { name: "kafka", command: "", args: [] };
const REGISTRY_DAEMON = { name: "registry", marker: REGISTRY_MARKER, command: "", args: [] };
const PROXY_DAEMON = { name: "registry-proxy", marker: PROXY_MARKER, command: "", args: [] };

/**
 * Apicurio Registry on an internal loopback port, its kafkasql storage a SCRAM client of the
 * broker as the `registry` principal. The storage client's settings (with its password) are in
 * a 0600 properties file, not on the command line.
 */
function registryDaemon(
  p: StackPaths,
  e: Endpoints,
  env: NodeJS.ProcessEnv,
  creds: StackCredentials,
  l: Listener,
): Daemon {
  const { host, internal } = registryPorts(e, env);
  const jar = readdirSync(p.apicurioDir).find((f) => f.endsWith("-runner.jar"));
  if (!jar) throw new StackSetupError(`no Apicurio runner jar in ${p.apicurioDir}; run infra/local/fetch.sh`);
  const config = join(p.stateDir, "registry.properties");
  const client = ["producer", "consumer", "admin"].flatMap((role) => [
    `apicurio.kafkasql.${role}.security.protocol=${l.protocol}`,
    `apicurio.kafkasql.${role}.sasl.mechanism=SCRAM-SHA-512`,
    `apicurio.kafkasql.${role}.sasl.jaas.config=${scramJaas("registry", creds.registry)}`,
    ...jdkTls(l, `apicurio.kafkasql.${role}.`),
  ]);
  writeSecretFile(config, [...client, ""].join("\n"));
  return {
    name: "registry",
    marker: REGISTRY_MARKER,
    command: "java",
    args: [
      `-Xmx${process.env.REGISTRY_HEAP ?? "512m"}`,
      `-Dquarkus.http.host=${host}`,
      `-Dquarkus.http.port=${internal}`,
      `-Dquarkus.config.locations=file:${config}`,
      // Schemas are stored in Kafka itself (like Confluent's _schemas), so wiping the
      // broker's data wipes the ids with it and they can never disagree.
      "-Dapicurio.storage.kind=kafkasql",
      `-Dapicurio.kafkasql.bootstrap.servers=${e.kafkaBrokers.join(",")}`,
      "-Dquarkus.log.level=WARN",
      "-jar",
      join(p.apicurioDir, jar),
    ],
  };
}

/** Every principal may read the registry; admin, the services and the publisher may register schemas. */
/**
 * The proxy's daemon, its config file rewritten; `changed` when the file said something else
 * before (a principal added to the project): a running proxy read its users only at its start.
 */
function proxyDaemon(
  p: StackPaths,
  e: Endpoints,
  env: NodeJS.ProcessEnv,
  creds: StackCredentials,
): Daemon & { changed: boolean } {
  const { host, port, internal } = registryPorts(e, env);
  const config = join(p.stateDir, "registry-proxy.json");
  const users = Object.fromEntries(
    PRINCIPALS.map((name) => [name, createHash("sha256").update(creds[name]).digest("hex")]),
  );
  const text = JSON.stringify({
    listen: { host, port },
    target: { host, port: internal },
    users,
    // The publisher registers the rule topic's schema when it publishes.
    writers: ["admin", ...SERVICE_PRINCIPALS, "publisher"],
  });
  const before = existsSync(config) ? readFileSync(config, "utf8") : null;
  writeSecretFile(config, text);
  return {
    name: "registry-proxy",
    marker: PROXY_MARKER,
    command: process.execPath,
    args: [PROXY_SCRIPT, config],
    changed: before !== null && before !== text,
  };
}

async function waitFor(
  what: string,
  probe: () => Promise<Probe>,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Probe = { ok: false, detail: "not probed" };
  while (Date.now() < deadline) {
    last = await probe();
    if (last.ok) return;
    await sleep(500);
  }
  throw new Error(
    `${what} did not become ready within ${timeoutMs / 1000}s (${last.detail}); see ${logFile}`,
  );
}

/** The principals whose SCRAM users the broker has, as recorded when they were created. */
function scramUsersFile(p: StackPaths): string {
  return join(p.stateDir, "scram-users");
}

/**
 * Formats the storage with a SCRAM-SHA-512 user per principal (KRaft creates them in its first
 * metadata records, so the broker authenticates from its first start). Storage formatted by a
 * stack from before SASL has none: it must be wiped.
 */
function formatKafka(p: StackPaths, creds: StackCredentials): void {
  if (existsSync(join(p.kafkaData, "meta.properties"))) {
    if (!existsSync(scramUsersFile(p)))
      throw new StackSetupError(
        `the Kafka data in ${p.kafkaData} was formatted without SASL users (a stack from before SASL): ` +
          "`pnpm loyalty stack down --wipe` then `pnpm loyalty stack up` (this deletes the topics and schemas)",
      );
    return;
  }
  mkdirSync(p.kafkaData, { recursive: true });
  const cp = `${p.kafkaLibs}/*`;
  const clusterId = execFileSync(
    "java",
    [
      "-cp",
      cp,
      `-Dlog4j.configuration=file:${join(p.stateDir, "log4j.properties")}`,
      "kafka.tools.StorageTool",
      "random-uuid",
    ],
    { encoding: "utf8" },
  )
    .trim()
    .split("\n")
    .pop();
  execFileSync(
    "java",
    [
      "-cp",
      cp,
      `-Dlog4j.configuration=file:${join(p.stateDir, "log4j.properties")}`,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId ?? "",
      "-c",
      join(p.stateDir, "server.properties"),
      ...PRINCIPALS.flatMap((name) => [
        "--add-scram",
        `SCRAM-SHA-512=[name=${name},password=${creds[name]}]`,
      ]),
    ],
    { stdio: "ignore" },
  );
  writeFileSync(scramUsersFile(p), `${PRINCIPALS.join("\n")}\n`);
}

/**
 * Principals added to the project after the storage was formatted get their SCRAM user through
 * the admin API (kafka-configs), as the admin principal.
 */
function addMissingScramUsers(p: StackPaths, e: Endpoints, creds: StackCredentials, l: Listener): string[] {
  const have = new Set(readFileSync(scramUsersFile(p), "utf8").split("\n").filter(Boolean));
  const missing = PRINCIPALS.filter((name) => !have.has(name));
  if (missing.length === 0) return [];
  const adminProps = writeAdminClientProperties(p, creds, l);
  for (const name of missing) {
    execFileSync(
      "java",
      [
        "-cp",
        `${p.kafkaLibs}/*`,
        `-Dlog4j.configuration=file:${join(p.stateDir, "log4j.properties")}`,
        "kafka.admin.ConfigCommand",
        "--bootstrap-server",
        e.kafkaBrokers.join(","),
        "--command-config",
        adminProps,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        name,
        "--add-config",
        `SCRAM-SHA-512=[password=${creds[name]}]`,
      ],
      { stdio: "ignore" },
    );
    have.add(name);
  }
  writeFileSync(scramUsersFile(p), `${[...have].join("\n")}\n`);
  return missing;
}

/**
 * How a principal reaches the stack: its SCRAM credentials and, when the stack's broker speaks
 * TLS (see tls.ts), the stack's CA. `env` names the stack (LOYALTY_STACK_DIR).
 */
export function authOf(
  creds: StackCredentials | null,
  principal: Principal = "admin",
  env: NodeJS.ProcessEnv = process.env,
): StackAuth | undefined {
  if (creds === null) return undefined;
  const ca = stackCaFile(env);
  return {
    username: principal,
    password: creds[principal],
    ...(ca === null ? {} : { ca: readFileSync(ca, "utf8") }),
  };
}

/** The ACLs of the production (empty) namespace and of the registry's storage, as admin. */
async function applyStackAcls(e: Endpoints, auth: StackAuth): Promise<number> {
  const admin = new Kafka({
    clientId: "loyalty-stack",
    brokers: e.kafkaBrokers,
    logLevel: logLevel.NOTHING,
    sasl: { mechanism: "scram-sha-512", username: auth.username, password: auth.password },
    ...(auth.ca === undefined ? {} : { ssl: { ca: [auth.ca] } }),
  }).admin();
  await admin.connect();
  try {
    const grants = [...namespaceGrants(""), ...registryGrants()];
    const n = await applyGrants(admin, grants);
    await revokeStaleTopicGrants(admin, grants);
    return n;
  } finally {
    await admin.disconnect();
  }
}

export interface UpResult {
  kafka: "started" | "running" | "external";
  /** "skipped" when asked for the broker alone (`registry: false`, the TLS test's stack). */
  registry: "started" | "running" | "external" | "skipped";
  /** ACLs created (or confirmed) on the broker for the production namespace and the registry. */
  acls: number;
  seconds: number;
}

/**
 * Starts Kafka (KRaft, SASL/SCRAM, StandardAuthorizer) and Apicurio Registry (behind its
 * authenticating proxy) from the Maven jars, with the ACLs of schemas/asyncapi.yaml; idempotent.
 */
export async function stackUp(opts: StackOptions & { registry?: boolean } = {}): Promise<UpResult> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const e = endpointsFromEnv(env);
  const p = stackPaths(env);
  const t0 = Date.now();
  return withLock(p.stateDir, async () => {
    if (!jarsPresent(p)) {
      log("fetching Kafka and Apicurio Registry jars with Maven (first run only)");
      execFileSync("bash", [join(REPO_ROOT, "infra/local/fetch.sh")], { stdio: "inherit" });
    }
    const creds = ensureCredentials(p.stateDir);
    const protocol = requestedListener(env, p.stateDir);
    const kafkaRunning = runningPid(p.stateDir, { ...KAFKA_STUB, marker: KAFKA_MAIN }) !== null;
    if (kafkaRunning && protocol !== recordedListener(p.stateDir))
      throw new StackSetupError(
        `the running broker speaks ${recordedListener(p.stateDir)}, LOYALTY_KAFKA_TLS asks for ${protocol}: ` +
          "`pnpm loyalty stack down` first (the data is kept)",
      );
    const listener: Listener = {
      protocol,
      tls: protocol === "SASL_SSL" ? ensureTls(p.stateDir, hostPort(e.kafkaBrokers[0] ?? "").host) : null,
    };
    const admin = {
      username: "admin",
      password: creds.admin,
      ...(listener.tls === null ? {} : { ca: readFileSync(listener.tls.caCert, "utf8") }),
    };
    writeAdminClientProperties(p, creds, listener);
    let kafka: UpResult["kafka"] = "running";
    const kd = kafkaDaemon(p, e, creds, listener);
    if (kafkaRunning && !existsSync(scramUsersFile(p)))
      throw new StackSetupError(
        "the running broker was started by a stack from before SASL: " +
          "`pnpm loyalty stack down --wipe` then `pnpm loyalty stack up` (this deletes the topics and schemas)",
      );
    if (runningPid(p.stateDir, kd) === null) {
      if ((await probeKafka(e.kafkaBrokers, admin)).ok) kafka = "external";
      else {
        formatKafka(p, creds);
        log(
          `starting Kafka ${stackVersions().kafka} (KRaft, ${protocol} with SCRAM, ACLs) on ${e.kafkaBrokers[0]}` +
            (listener.tls === null ? "" : `; clients trust the CA ${listener.tls.caCert}`),
        );
        // Recorded before the start: the clients of this stack dir speak what the broker speaks.
        recordListener(p.stateDir, protocol);
        startDaemon(p.stateDir, p.logs, kd);
        kafka = "started";
      }
    }
    await waitFor("Kafka", () => probeKafka(e.kafkaBrokers, admin), 90_000, join(p.logs, "kafka.log"));
    if (kafka !== "external") {
      const added = addMissingScramUsers(p, e, creds, listener);
      if (added.length) log(`created SCRAM users ${added.join(", ")}`);
    }
    const acls = await applyStackAcls(e, admin);
    if (opts.registry === false)
      return { kafka, registry: "skipped", acls, seconds: (Date.now() - t0) / 1000 };

    let registry: UpResult["registry"] = "running";
    const rd = registryDaemon(p, e, env, creds, listener);
    const pd = proxyDaemon(p, e, env, creds);
    if (runningPid(p.stateDir, rd) === null && runningPid(p.stateDir, pd) === null) {
      if ((await probeRegistry(e.schemaRegistryUrl, admin)).ok) registry = "external";
      else {
        log(`starting Apicurio Registry ${stackVersions().apicurio} on ${e.schemaRegistryUrl}`);
        startDaemon(p.stateDir, p.logs, rd);
        registry = "started";
      }
    } else if (runningPid(p.stateDir, rd) === null) {
      startDaemon(p.stateDir, p.logs, rd);
      registry = "started";
    }
    if (registry !== "external" && runningPid(p.stateDir, pd) !== null && pd.changed) {
      // A principal was added (or a password changed) since the proxy started: it would refuse it.
      log("restarting the registry proxy: its user list changed");
      await stopDaemon(p.stateDir, PROXY_DAEMON);
    }
    if (registry !== "external" && runningPid(p.stateDir, pd) === null) startDaemon(p.stateDir, p.logs, pd);
    await waitFor(
      "Schema registry",
      () => probeRegistry(e.schemaRegistryUrl, admin),
      120_000,
      join(p.logs, "registry.log"),
    );
    return { kafka, registry, acls, seconds: (Date.now() - t0) / 1000 };
  });
}

export async function stackDown(opts: StackOptions & { wipe?: boolean } = {}): Promise<string[]> {
  const env = opts.env ?? process.env;
  const p = stackPaths(env);
  mkdirSync(p.stateDir, { recursive: true });
  const stopped: string[] = [];
  // Registry first: it is a client of the broker.
  if (await stopDaemon(p.stateDir, PROXY_DAEMON)) stopped.push("registry-proxy");
  if (await stopDaemon(p.stateDir, REGISTRY_DAEMON)) stopped.push("registry");
  if (await stopDaemon(p.stateDir, { ...KAFKA_STUB, marker: KAFKA_MAIN })) stopped.push("kafka");
  if (opts.wipe) {
    rmSync(p.kafkaData, { recursive: true, force: true });
    // The users were in the wiped metadata; the passwords are kept for the next format.
    rmSync(scramUsersFile(p), { force: true });
  }
  return stopped;
}

export async function stackStatus(
  opts: StackOptions = {},
): Promise<Record<string, Probe & { managed: boolean }>> {
  const env = opts.env ?? process.env;
  const e = endpointsFromEnv(env);
  const p = stackPaths(env);
  const probes = await probeAll(e, authOf(readCredentials(env), "admin", env));
  const managed = (name: string, marker: string) =>
    runningPid(p.stateDir, { name, marker, command: "", args: [] }) !== null;
  return {
    kafka: { ...probes.kafka, managed: managed("kafka", KAFKA_MAIN) },
    registry: {
      ...probes.registry,
      managed: managed("registry", REGISTRY_MARKER) && managed("registry-proxy", PROXY_MARKER),
    },
    postgres: { ...probes.postgres, managed: false },
    redis: { ...probes.redis, managed: false },
  };
}
