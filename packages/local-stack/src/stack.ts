import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Endpoints, endpointsFromEnv } from "./endpoints.ts";
import { REPO_ROOT, type StackPaths, jarsPresent, stackPaths, stackVersions } from "./paths.ts";
import { type Probe, probeAll, probeKafka, probeRegistry } from "./probes.ts";
import { type Daemon, runningPid, startDaemon, stopDaemon, withLock } from "./process.ts";

export interface StackOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

const KAFKA_MAIN = "kafka.Kafka";
const REGISTRY_MARKER = "apicurio-registry-app";

function hostPort(address: string): { host: string; port: number } {
  const [host, port] = address.split(":");
  if (!host || !port || !Number.isInteger(Number(port)))
    throw new Error(`KAFKA_BROKERS entry '${address}' is not host:port`);
  return { host, port: Number(port) };
}

function kafkaDaemon(p: StackPaths, e: Endpoints): Daemon {
  const { host, port } = hostPort(e.kafkaBrokers[0] ?? "");
  const controllerPort = port + 1;
  const props = join(p.stateDir, "server.properties");
  writeFileSync(
    props,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@${host}:${controllerPort}`,
      `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://${host}:${port}`,
      "controller.listener.names=CONTROLLER",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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

function registryDaemon(p: StackPaths, e: Endpoints): Daemon {
  const url = new URL(e.schemaRegistryUrl);
  const jar = readdirSync(p.apicurioDir).find((f) => f.endsWith("-runner.jar"));
  if (!jar) throw new Error(`no Apicurio runner jar in ${p.apicurioDir}; run infra/local/fetch.sh`);
  return {
    name: "registry",
    marker: REGISTRY_MARKER,
    command: "java",
    args: [
      `-Xmx${process.env.REGISTRY_HEAP ?? "512m"}`,
      `-Dquarkus.http.host=${url.hostname}`,
      `-Dquarkus.http.port=${url.port || "8081"}`,
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

function formatKafka(p: StackPaths): void {
  if (existsSync(join(p.kafkaData, "meta.properties"))) return;
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
    ],
    { stdio: "ignore" },
  );
}

export interface UpResult {
  kafka: "started" | "running" | "external";
  registry: "started" | "running" | "external";
  seconds: number;
}

/** Starts Kafka (KRaft) and Apicurio Registry from the Maven jars; idempotent. */
export async function stackUp(opts: StackOptions = {}): Promise<UpResult> {
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
    let kafka: UpResult["kafka"] = "running";
    const kd = kafkaDaemon(p, e);
    if (runningPid(p.stateDir, kd) === null) {
      if ((await probeKafka(e.kafkaBrokers)).ok) kafka = "external";
      else {
        formatKafka(p);
        log(`starting Kafka ${stackVersions().kafka} (KRaft) on ${e.kafkaBrokers[0]}`);
        startDaemon(p.stateDir, p.logs, kd);
        kafka = "started";
      }
    }
    await waitFor("Kafka", () => probeKafka(e.kafkaBrokers), 90_000, join(p.logs, "kafka.log"));

    let registry: UpResult["registry"] = "running";
    const rd = registryDaemon(p, e);
    if (runningPid(p.stateDir, rd) === null) {
      if ((await probeRegistry(e.schemaRegistryUrl)).ok) registry = "external";
      else {
        log(`starting Apicurio Registry ${stackVersions().apicurio} on ${e.schemaRegistryUrl}`);
        startDaemon(p.stateDir, p.logs, rd);
        registry = "started";
      }
    }
    await waitFor(
      "Schema registry",
      () => probeRegistry(e.schemaRegistryUrl),
      120_000,
      join(p.logs, "registry.log"),
    );
    return { kafka, registry, seconds: (Date.now() - t0) / 1000 };
  });
}

export async function stackDown(opts: StackOptions & { wipe?: boolean } = {}): Promise<string[]> {
  const env = opts.env ?? process.env;
  const e = endpointsFromEnv(env);
  const p = stackPaths(env);
  mkdirSync(p.stateDir, { recursive: true });
  const stopped: string[] = [];
  // Registry first: it is a client of the broker.
  if (await stopDaemon(p.stateDir, registryDaemon(p, e))) stopped.push("registry");
  if (await stopDaemon(p.stateDir, { name: "kafka", marker: KAFKA_MAIN, command: "", args: [] }))
    stopped.push("kafka");
  if (opts.wipe) rmSync(p.kafkaData, { recursive: true, force: true });
  return stopped;
}

export async function stackStatus(
  opts: StackOptions = {},
): Promise<Record<string, Probe & { managed: boolean }>> {
  const env = opts.env ?? process.env;
  const e = endpointsFromEnv(env);
  const p = stackPaths(env);
  const probes = await probeAll(e);
  const managed = (name: string, marker: string) =>
    runningPid(p.stateDir, { name, marker, command: "", args: [] }) !== null;
  return {
    kafka: { ...probes.kafka, managed: managed("kafka", KAFKA_MAIN) },
    registry: { ...probes.registry, managed: managed("registry", REGISTRY_MARKER) },
    postgres: { ...probes.postgres, managed: false },
    redis: { ...probes.redis, managed: false },
  };
}
