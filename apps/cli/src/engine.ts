// Runs the engine's services as child processes and reads their progress from Kafka and
// PostgreSQL: shared by `loyalty up` (the demo) and `loyalty bench e2e`.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Topics, namespacedTopics } from "@loyalty/contracts";
import {
  REPO_ROOT,
  devRulesKeys,
  isServicePrincipal,
  principalEnv,
  readCredentials,
} from "@loyalty/local-stack";
import { STANDARD_RULES_DIR, readRuleSetSource } from "@loyalty/rules-engine";
import type { Admin } from "kafkajs";
import { UsageError } from "./errors.ts";

export interface ServiceSpec {
  name: string;
  /** Consumer group (before namespacing) whose lag says how far behind the service is. */
  group: string;
  opsPort: number;
  input: Array<keyof Topics>;
}

/** Each service's consumer group and every topic it subscribes to (its lag covers all of them). */
export const SERVICES: readonly ServiceSpec[] = [
  { name: "ingestor", group: "ingestor", opsPort: 9101, input: ["orders", "members"] },
  // Churn alerts come back into the rules engine (the win-back join, ADR 12) in the same group.
  {
    name: "rules-engine",
    group: "rules-engine",
    opsPort: 9102,
    input: ["purchases", "memberChanges", "churnAlerts"],
  },
  // It subscribes only to the topic of its programme's metric (ADR 16): purchases for the
  // default spend metric, as the demo and the bench run it.
  { name: "tier-evaluator", group: "tier-evaluator", opsPort: 9103, input: ["purchases"] },
  { name: "churn-alert", group: "churn-alert", opsPort: 9104, input: ["purchases"] },
  // Its read model of the rules engine's output (balances, lots, history; in event mode also its
  // clock): caught up means `member show` and GET /v1/members show the ledger (ADR 16 step 3).
  { name: "api", group: "api.points", opsPort: 9105, input: ["points"] },
];

/**
 * The ops (health, metrics) port of a service: 9101-9105 by default; LOYALTY_OPS_PORT_BASE moves
 * the five together so that two engines (a test's and a demo's) can run on one machine.
 */
export function opsPort(spec: ServiceSpec, env: NodeJS.ProcessEnv): number {
  const base = env.LOYALTY_OPS_PORT_BASE;
  if (base === undefined || base === "") return spec.opsPort;
  const n = Number(base);
  if (!Number.isInteger(n) || n < 1024 || n > 65_000)
    throw new UsageError(`LOYALTY_OPS_PORT_BASE must be a port number 1024-65000, got ${base}`);
  return n + (spec.opsPort - 9101);
}

export interface Running {
  spec: ServiceSpec;
  child: ChildProcess;
  port: number;
}

export function startServices(
  env: NodeJS.ProcessEnv,
  logDir: string,
  only?: string[],
  nodeArgs: string[] = [],
): Running[] {
  mkdirSync(logDir, { recursive: true });
  // The API forwards GET /v1/churn/calibration to churn-alert's ops server.
  const churn = SERVICES.find((s) => s.name === "churn-alert");
  const churnAlertUrl =
    env.CHURN_ALERT_URL ?? (churn === undefined ? undefined : `http://127.0.0.1:${opsPort(churn, env)}`);
  // The API's dashboard prices the points liability at the programme's money per point, which no
  // topic carries: the standard programme's (the one `loyalty up` publishes), unless set.
  const programme = readRuleSetSource(STANDARD_RULES_DIR()).programme;
  const apiProgramme = {
    PROGRAMME_BASE_CURRENCY: env.PROGRAMME_BASE_CURRENCY ?? programme.baseCurrency,
    PROGRAMME_CURRENCY_EXPONENT: env.PROGRAMME_CURRENCY_EXPONENT ?? String(programme.currencyExponent),
    PROGRAMME_POINT_VALUE_MINOR: env.PROGRAMME_POINT_VALUE_MINOR ?? programme.pointValueMinor,
  };
  // On the local stack each service runs as its own principal (schemas/asyncapi.yaml's ACLs).
  const creds = readCredentials(env);
  const credentialsOf = (name: string) =>
    creds !== null && isServicePrincipal(name) ? principalEnv(creds, name) : {};
  return SERVICES.filter((s) => !only || only.includes(s.name)).map((spec) => {
    const port = opsPort(spec, env);
    const log = openSync(join(logDir, `${spec.name}.log`), "a");
    const child = spawn(
      process.execPath,
      [...nodeArgs, "--import", "tsx", join(REPO_ROOT, "services", spec.name, "src", "main.ts")],
      {
        cwd: REPO_ROOT,
        env: {
          // The local stack's dev public key verifies publications unless the environment names
          // real keys (docs/security.md). No service gets a signing key: none publishes rule sets.
          RULES_PUBLIC_KEYS: devRulesKeys(env).publicKeyFile,
          ...env,
          ...credentialsOf(spec.name),
          SERVICE_NAME: spec.name,
          HTTP_PORT: String(port),
          ...(churnAlertUrl === undefined ? {} : { CHURN_ALERT_URL: churnAlertUrl }),
          ...(spec.name === "api" ? apiProgramme : {}),
        },
        stdio: ["ignore", log, log],
      },
    );
    closeSync(log);
    return { spec, child, port };
  });
}

/** Whether nothing listens on 127.0.0.1:port (we could bind it). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * The ports the services would listen on that are taken: another engine's (another demo, a test)
 * would answer the health checks for ours. Checked before they start.
 */
export async function busyPorts(env: NodeJS.ProcessEnv, only?: string[]): Promise<number[]> {
  const ports = SERVICES.filter((s) => !only || only.includes(s.name)).map((s) => opsPort(s, env));
  const busy: number[] = [];
  for (const port of ports) if (!(await portFree(port))) busy.push(port);
  return busy;
}

/** Healthy = its /healthz answers 200 (it has joined its consumer group). */
export async function waitHealthy(services: Running[], timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const s of services) {
    for (;;) {
      if (s.child.exitCode !== null)
        throw new Error(`${s.spec.name} exited with code ${s.child.exitCode}; see its log`);
      const ok = await fetch(`http://127.0.0.1:${s.port}/healthz`, {
        signal: AbortSignal.timeout(1000),
      })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline)
        throw new Error(`${s.spec.name} did not become healthy within ${timeoutMs / 1000}s`);
      await sleep(250);
    }
  }
}

/** Two-phase shutdown of every service; resolves with their exit codes. */
export async function stopServices(services: Running[]): Promise<Record<string, number | null>> {
  const codes: Record<string, number | null> = {};
  await Promise.all(
    services.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.child.exitCode !== null || s.child.signalCode !== null) {
            codes[s.spec.name] = s.child.exitCode;
            resolve();
            return;
          }
          s.child.once("exit", (code) => {
            codes[s.spec.name] = code;
            resolve();
          });
          s.child.kill("SIGTERM");
        }),
    ),
  );
  return codes;
}

export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

export interface GroupProgress {
  committed: number;
  lag: number;
  /**
   * Lag not explained by transaction markers: a partition written transactionally ends with a
   * commit marker, one offset the consumer never commits past.
   */
  lagBeyondMarkers: number;
}

/** Messages the group has not yet committed, over all its input topics. */
export async function groupLag(admin: Admin, groupId: string, topics: string[]): Promise<GroupProgress> {
  const out: GroupProgress = { committed: 0, lag: 0, lagBeyondMarkers: 0 };
  const fetched = await admin.fetchOffsets({ groupId, topics }).catch(() => []);
  for (const t of fetched) {
    const end = await endOffsets(admin, t.topic);
    for (const p of t.partitions) {
      const c = Math.max(0, Number(p.offset));
      const lag = Math.max(0, (end.get(p.partition) ?? 0) - c);
      out.committed += c;
      out.lag += lag;
      out.lagBeyondMarkers += Math.max(0, lag - 1);
    }
  }
  return out;
}

/**
 * Tells when each stage has finished: no lag beyond transaction markers, and its committed
 * offsets unchanged since the previous poll (a partition one behind is then a marker, not a record).
 */
export class Completion {
  private readonly prev = new Map<string, number>();
  done(name: string, g: GroupProgress): boolean {
    const before = this.prev.get(name);
    this.prev.set(name, g.committed);
    return g.lag === 0 || (g.lagBeyondMarkers === 0 && before === g.committed);
  }
}

/**
 * The stages an order passes through. The API reads the points topic only for its clock, but it
 * expires lots by it, so the ledger has settled only once it has caught up too.
 */
export const PIPELINE = SERVICES;

export function topicsFor(namespace: string): Topics {
  return namespacedTopics(namespace);
}
