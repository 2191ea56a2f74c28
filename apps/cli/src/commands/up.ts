// `loyalty up` and `loyalty demo`: the local stack, every service, and a replay of CDNOW as a
// demonstration with a progress bar and a summary. `up` then keeps the engine running for live
// events until Ctrl-C; `demo` stops it and exits. `--fresh` picks a namespace of its own.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cdnow } from "@loyalty/datasets";
import { type Pool, createPool } from "@loyalty/db";
import { type ReplayProgress, orderEventId, parseText, replayFile, validateOrder } from "@loyalty/ingestor";
import { stackPaths, stackUp } from "@loyalty/local-stack";
import { SingleBar } from "cli-progress";
import type { Admin, Kafka } from "kafkajs";
import { kafkaClient, namespace, translateDbError } from "../connections.ts";
import { type CliContext, endpointsOf, printJson } from "../context.ts";
import { type ConsoleRun, consolePort, formatConsole, startConsole } from "../demo/console.ts";
import { formatHints, hints } from "../demo/hints.ts";
import { type EngineFigures, type ReplayFigures, engineFigures, formatFigures } from "../demo/summary.ts";
import { PipelineWatch, type Poll, ordersThrough } from "../demo/watch.ts";
import {
  type Running,
  SERVICES,
  busyPorts,
  opsPort,
  portFree,
  startServices,
  stopServices,
  topicsFor,
  waitHealthy,
} from "../engine.ts";
import {
  CheckFailedError,
  EXIT,
  InterruptedError,
  PortBusyError,
  ServiceFailedError,
  UsageError,
} from "../errors.ts";
import { churnSettings } from "./churn.ts";
import { provision } from "./migrate.ts";

export interface EngineOpts {
  fresh?: boolean;
  limit?: number;
  rate?: number;
  json?: boolean;
}

/** How long the demo waits for churn-alert's tail once everything else is idle (its idle time is 2 s). */
const TAIL_PATIENCE_MS = 60_000;
const POLL_MS = 500;

/** A namespace no engine has used: demo_<UTC date>_<time>_<random>. */
export function freshNamespace(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15).toLowerCase();
  return `demo_${stamp}_${randomBytes(2).toString("hex")}`;
}

export async function demo(ctx: CliContext, opts: EngineOpts): Promise<number> {
  return session(ctx, { ...opts, replay: true, keepRunning: false });
}

export async function up(ctx: CliContext, opts: EngineOpts & { demo?: boolean }): Promise<number> {
  return session(ctx, { ...opts, replay: opts.demo !== false, keepRunning: true });
}

interface Session extends EngineOpts {
  replay: boolean;
  keepRunning: boolean;
}

async function session(ctx: CliContext, opts: Session): Promise<number> {
  // The environment's own mistakes are usage errors, found before anything starts.
  const apiPort = Number(ctx.env.API_PORT ?? "8080");
  if (!Number.isInteger(apiPort) || apiPort < 1 || apiPort > 65_535)
    throw new UsageError(`API_PORT must be a port number, got ${ctx.env.API_PORT}`);
  for (const s of SERVICES) opsPort(s, ctx.env);
  const uiPort = consolePort(ctx.env);
  const ns = opts.fresh ? freshNamespace() : namespace(ctx);
  const env: NodeJS.ProcessEnv = { ...ctx.env, LOYALTY_NAMESPACE: ns };
  const ectx: CliContext = { ...ctx, env };
  if (opts.fresh)
    ctx.err(`demo: fresh namespace ${ns} (LOYALTY_NAMESPACE=${ns} selects it in later commands)`);
  const stack = await stackUp({ env, log: (l) => ctx.err(`stack: ${l}`) });
  ctx.err(`stack: ready in ${stack.seconds.toFixed(1)} s`);
  await provision(ectx);
  // The engine never writes the rules topic: the programme is published first, as `publisher`.
  await (await import("./rules.ts")).publishProgramme(ectx, (l) => ctx.err(`rules: ${l}`));

  const stateDir = stackPaths(env).stateDir;
  const keyFile = join(stateDir, "api-admin-key");
  const adminKey =
    env.API_ADMIN_KEY ??
    (existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : randomBytes(24).toString("hex"));
  if (!env.API_ADMIN_KEY) writeFileSync(keyFile, adminKey, { mode: 0o600 });
  const serviceEnv: NodeJS.ProcessEnv = {
    ...env,
    API_ADMIN_KEY: adminKey,
    API_PORT: String(apiPort),
    LOG_LEVEL: env.LOG_LEVEL ?? "info",
  };
  const logDir = join(stateDir, "logs", ns === "" ? "default" : ns);
  const busy = await busyPorts(serviceEnv);
  if (busy.length || !(await portFree(apiPort))) throw new PortBusyError(busy.length ? busy : [apiPort]);
  // The console (ADR 18) runs while the engine does: with `loyalty up`, not the one-shot demo.
  if (opts.keepRunning && !(await portFree(uiPort))) throw new PortBusyError([uiPort]);
  // Set inside work() once the services answer; closed in the finally below.
  const ui: { run: ConsoleRun | null } = { run: null };
  const services = startServices(serviceEnv, logDir);
  let stopped: Promise<Record<string, number | null>> | null = null;
  const stop = () => {
    stopped ??= stopServices(services);
    return stopped;
  };
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const kafka = kafkaClient(ectx, "loyalty-up");
  const admin = kafka.admin();
  const pool = createPool(endpointsOf(ectx).databaseUrl, {
    max: 2,
    namespace: ns,
    applicationName: "loyalty-up",
  });
  pool.on("error", (err) => ctx.err(`PostgreSQL: idle connection lost: ${err.message}`));
  const serviceFailure = failedService(services, logDir);
  // Awaited in races below; this handler only keeps an early failure from being "unhandled".
  serviceFailure.catch(() => undefined);

  const work = async (): Promise<{ refused: string | null }> => {
    await Promise.race([waitHealthy(services), serviceFailure]);
    ctx.err(
      `services: ${services.map((s) => `${s.spec.name} (:${s.port})`).join(", ")} running; logs in ${logDir}`,
    );
    if (opts.keepRunning) {
      ui.run = await startConsole(serviceEnv, pool, apiPort, ctx.err);
      if (ui.run) ctx.err(`console: ${ui.run.url} (sign in with the marketer key printed at the end)`);
    }
    await admin.connect();
    let figures: EngineFigures | null = null;
    let replay: (ReplayFigures & { lastEventTime: number | null }) | null = null;
    let refused: string | null = null;
    if (opts.replay) {
      const file = cdnow.master();
      const orders = ordersOf(file, opts.limit);
      const held = await heldCount(pool, orders.ids, ectx);
      if (held > 0) {
        // The engine dedupes on event ids kept in PostgreSQL: replayed again, these orders would
        // be dropped as duplicates and the demo's figures would mean nothing.
        refused =
          `namespace '${ns || "(default)"}' has already ingested ${held} of the ${orders.ids.length} CDNOW orders ` +
          "a demo would send: replayed again they would be dropped as duplicates, so nothing was replayed. " +
          "For a new demonstration: pnpm loyalty demo --fresh (or pnpm loyalty up --fresh)";
        ctx.err(`demo: ${refused}`);
      } else {
        replay = await replayWatched(ctx, {
          kafka,
          admin,
          pool,
          ns,
          file,
          total: orders.ids.length,
          opts,
          services,
          serviceFailure,
        });
      }
      figures = await engineFigures(pool, admin, ns, churnSettings(ectx)).catch((err: unknown) => {
        throw translateDbError(err, endpointsOf(ectx).databaseUrl, ns);
      });
    }
    const h = hints(env, {
      member: figures?.topMember ?? null,
      live: opts.keepRunning,
      occurredAt: replay?.lastEventTime ?? null,
    });
    if (opts.json)
      printJson(ctx, {
        namespace: ns,
        fresh: opts.fresh === true,
        refused,
        replay,
        figures,
        hints: h,
        console: ui.run ? { url: ui.run.url, keyId: ui.run.keyId, key: ui.run.key } : null,
      });
    else {
      if (figures) ctx.out(formatFigures(figures, replay));
      ctx.out(`\nNext (each works as printed, from the repository root):\n${formatHints(h)}`);
      if (ui.run) ctx.out(formatConsole(ui.run, env));
    }
    return { refused };
  };

  try {
    const interrupted = signalled.then((signal) => {
      throw new InterruptedError(signal);
    });
    interrupted.catch(() => undefined);
    const { refused } = await Promise.race([work(), interrupted]);
    if (opts.keepRunning) {
      ctx.err(
        `\nThe engine keeps running for live events (Ctrl-C stops it cleanly); API on http://127.0.0.1:${serviceEnv.API_PORT}, admin key in ${keyFile}${ui.run ? `; console on ${ui.run.url}` : ""}`,
      );
      await Promise.race([signalled, serviceFailure]);
      ctx.err("\nstopping services (finishing in-flight batches)...");
    }
    const codes = await stop();
    const unclean = Object.entries(codes).filter(([, c]) => c !== 0);
    if (unclean.length)
      throw new ServiceFailedError(
        `services did not stop cleanly: ${unclean.map(([k, v]) => `${k}=${v}`).join(" ")}; logs in ${logDir}`,
      );
    if (refused && !opts.keepRunning) throw new CheckFailedError("demo: nothing replayed");
    return EXIT.ok;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await ui.run?.server.close();
    await stop();
    await admin
      .disconnect()
      .catch((err: unknown) =>
        ctx.err(`kafka: disconnect: ${err instanceof Error ? err.message : String(err)}`),
      );
    await pool.end();
  }
}

/** Rejects as soon as a service exits on its own. */
function failedService(services: Running[], logDir: string): Promise<never> {
  return new Promise((_, reject) => {
    for (const s of services) {
      const fail = () =>
        reject(
          new ServiceFailedError(
            `${s.spec.name} exited (code ${s.child.exitCode ?? s.child.signalCode}); its log: ${join(logDir, `${s.spec.name}.log`)}`,
          ),
        );
      if (s.child.exitCode !== null) fail();
      else s.child.once("exit", fail);
    }
  });
}

/** The orders a replay of `file` (CDNOW, in event-time order as replayFile sends them) would send. */
function ordersOf(file: string, limit: number | undefined): { ids: string[] } {
  const records = parseText(readFileSync(file, "utf8"))
    .flatMap((r, i) => (r.kind === "order" ? [{ order: r.order, i }] : []))
    .sort((a, b) => a.order.occurredAt - b.order.occurredAt || a.i - b.i)
    .slice(0, limit ?? Number.POSITIVE_INFINITY);
  const ids: string[] = [];
  for (const r of records) {
    const v = validateOrder(r.order);
    if (v.ok) ids.push(orderEventId(v.value));
  }
  return { ids };
}

async function heldCount(pool: Pool, ids: string[], ctx: CliContext): Promise<number> {
  try {
    const r = await pool.query<{ n: number }>(
      "select count(*)::int as n from ingest_events where event_id = any($1)",
      [ids],
    );
    return r.rows[0]?.n ?? 0;
  } catch (err) {
    throw translateDbError(err, endpointsOf(ctx).databaseUrl, namespace(ctx));
  }
}

interface ReplayArgs {
  kafka: Kafka;
  admin: Admin;
  pool: Pool;
  ns: string;
  file: string;
  total: number;
  opts: EngineOpts;
  services: Running[];
  serviceFailure: Promise<never>;
}

const SHORT: Record<string, string> = {
  ingestor: "ing",
  "rules-engine": "rules",
  "tier-evaluator": "tiers",
  "churn-alert": "churn",
  api: "api",
};

function formatSeconds(s: number): string {
  const t = Math.ceil(s);
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s` : `${t}s`;
}

/** Replays the file while a progress bar shows orders/s, ETA and each service's lag. */
async function replayWatched(
  ctx: CliContext,
  a: ReplayArgs,
): Promise<ReplayFigures & { lastEventTime: number | null }> {
  const watch = new PipelineWatch(a.admin, a.pool, a.ns);
  const inputStart = await watch.inputEnd();
  ctx.err(`demo: replaying ${a.total} orders of ${a.file} into ${topicsFor(a.ns).orders.name}`);
  const bar = new SingleBar({
    format:
      "demo [{bar}] {percentage}% | {value}/{total} orders | {speed} orders/s | ETA {etaText} | lag {lags}",
    stream: process.stderr,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    etaBuffer: 20,
  });
  const t0 = Date.now();
  bar.start(a.total, 0, { speed: 0, etaText: "-", lags: "-" });
  // Set by the replay as it ends (a holder: TypeScript does not follow assignments in callbacks).
  const outcome: { sent: ReplayProgress | null; error: unknown } = { sent: null, error: null };
  const replaying = replayFile({
    kafka: a.kafka,
    topic: topicsFor(a.ns).orders.name,
    file: a.file,
    ...(a.opts.rate ? { rate: a.opts.rate } : {}),
    ...(a.opts.limit !== undefined ? { limit: a.opts.limit } : {}),
  }).then(
    (r) => {
      outcome.sent = r;
    },
    (err: unknown) => {
      outcome.error = err ?? new Error("replay failed");
    },
  );
  let note: string | null = null;
  let idleSince: number | null = null;
  let through = 0;
  let last: Poll;
  try {
    for (;;) {
      if (a.services.some((s) => s.child.exitCode !== null)) await a.serviceFailure;
      if (outcome.error !== null) throw outcome.error;
      last = await watch.poll();
      // Never backwards: the API's and the tier evaluator's input (points) grows as the rules
      // engine catches up, which would lower the estimate for a while.
      through = Math.max(through, ordersThrough(last, inputStart, a.total));
      const speed = through / Math.max(0.001, (last.at - t0) / 1000);
      bar.update(through, {
        speed: Math.round(speed),
        etaText: speed >= 1 ? formatSeconds((a.total - through) / speed) : "-",
        lags: Object.entries(last.stages)
          .map(([n, g]) => `${SHORT[n] ?? n} ${g.lagBeyondMarkers}`)
          .join(" "),
      });
      const done = outcome.sent;
      if (done !== null) {
        const target = inputStart + done.sent;
        if (watch.settled(last, target)) {
          bar.update(a.total, { etaText: "0s" });
          break;
        }
        idleSince = watch.idle(last, target) ? (idleSince ?? Date.now()) : null;
        // The tail normally follows within seconds; never wait for it for ever.
        if (idleSince !== null && Date.now() - idleSince > TAIL_PATIENCE_MS) {
          note = `churn-alert had not released the replay's tail ${TAIL_PATIENCE_MS / 1000} s after its input went idle: figures without it`;
          break;
        }
      }
      await sleep(POLL_MS);
    }
  } finally {
    bar.stop();
  }
  const noticed = Date.now();
  await replaying;
  const r = outcome.sent;
  if (r === null) throw outcome.error ?? new Error("replay did not finish");
  const caught = watch.caughtUp();
  const seconds = Math.max(0.001, (caught.at - t0) / 1000);
  return {
    file: a.file,
    sent: r.sent,
    seconds,
    ordersPerSecond: r.sent / seconds,
    publishSeconds: r.elapsedMs / 1000,
    lastToCatchUp: caught.last,
    noticedAtSeconds: (noticed - t0) / 1000,
    caughtUpAtSeconds: Object.fromEntries(
      Object.entries(caught.perStage).map(([k, v]) => [k, Math.max(0, (v - t0) / 1000)]),
    ),
    note,
    lastEventTime: r.lastEventTime,
  };
}
