// The event-time engine: moves the frontier to a watermark, interleaving per-member timelines,
// scheduled refits and due-time alerts in event-time order. Runs inside the caller's
// transaction; everything it decides is a function of the events before each decision's time.
//
// Order at one instant t: scheduled refit at t (sees events < t), then alerts due at t (under the
// model in force from t), then events at t.

import type { ChurnAlert as ChurnAlertRecord } from "@loyalty/contracts";
import { type PoolClient, prepared } from "@loyalty/db";
import type { ChurnSettings } from "./config.ts";
import { nextGridAfter } from "./engine/grid.ts";
import { type ActiveModel, type MemberRow, advanceMember, dueTime, newMemberRow } from "./engine/member.ts";
import { activeModelOf, fitPopulation, modelVersionFor } from "./engine/refit.ts";
import { ChurnStateError } from "./errors.ts";
import type { ModelNumericError } from "./model/index.ts";
import { type FitTrigger, insertFit, loadModel } from "./store/fits.ts";
import {
  type MemberMemory,
  type PendingByMember,
  byTimeThenId as eventOrder,
} from "./store/member-memory.ts";
import {
  type EngineRow,
  type IncomingEvent,
  insertAlerts,
  saveEngine,
  writeDueTimes,
  writeMembers,
} from "./store/members.ts";

export interface StepHooks {
  /** Called when the model could not be evaluated for a member (the score fell back): a metric. */
  onModelError?: (e: ModelNumericError) => void;
  /** Called between refits: a long catch-up must not cost the consumer its group membership. */
  heartbeat?: () => Promise<void>;
  /** True once the service is shutting down: a catch-up stops after the refit in progress. */
  stopping?: () => boolean;
}

export interface StepLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Event-time order, ties by id compared bytewise (as PostgreSQL's collate "C"). */
const timeThenId = (t: number, id: string, u: number, jd: string) =>
  t - u || (id < jd ? -1 : id > jd ? 1 : 0);
const byTimeThenId = (p: ChurnAlertRecord, q: ChurnAlertRecord) =>
  timeThenId(p.eventTime, p.eventId, q.eventTime, q.eventId);

/** The alert with the BG/NBD parameters of the model that raised it. */
export function withModel(alert: ChurnAlertRecord, model: ActiveModel): ChurnAlertRecord {
  const { r, alpha, a, b } = model.bg;
  return { ...alert, modelVersion: model.version, bgnbd: { r, alpha, a, b } };
}

/**
 * Events not yet in member state: those held after the frontier, and `late` ones (recorded in
 * this transaction at or before the frontier). Taken segment by segment; late events go into
 * the first segment.
 */
class Pending {
  constructor(
    private readonly members: MemberMemory,
    private late: readonly IncomingEvent[],
  ) {}

  take(limit: number, inclusive: boolean): PendingByMember {
    const pending = this.members.takeEvents(limit, inclusive);
    if (this.late.length === 0) return pending;
    const touched = new Set<string>();
    for (const e of this.late) {
      const list = pending.get(e.memberId) ?? [];
      list.push({ id: e.eventId, time: e.time, event: e.event });
      pending.set(e.memberId, list);
      touched.add(e.memberId);
    }
    this.late = [];
    for (const id of touched) pending.get(id)?.sort(eventOrder);
    return pending;
  }
}

/**
 * Members with pending events or due alerts up to `limit`, each advanced under `model`, decided
 * against the members held in memory (and left there: the step writes them back at its end).
 */
function processSegment(
  events: Pending,
  limit: number,
  inclusive: boolean,
  model: ActiveModel | null,
  settings: ChurnSettings,
  horizon: number,
  members: MemberMemory,
  hooks: StepHooks,
): ChurnAlertRecord[] {
  const pending = events.take(limit, inclusive);
  const ids = [...new Set([...pending.keys(), ...members.dueUpTo(limit, inclusive)])].sort();
  const alerts: ChurnAlertRecord[] = [];
  for (const id of ids) {
    const start = members.get(id) ?? newMemberRow(id, settings.timeZone);
    const out = advanceMember(start, pending.get(id) ?? [], model, settings, limit, inclusive, hooks);
    // Past the next scheduled refit a due time would be recomputed before it fires (see refitAt).
    const due = out.row.dueAt;
    members.put(due !== null && due >= horizon ? { ...out.row, dueAt: null } : out.row);
    // Alerts come only from a model in force, i.e. an accepted fit; each names its parameters.
    for (const a of out.alerts) alerts.push(model === null ? a : withModel(a, model));
  }
  return alerts.sort(byTimeThenId);
}

/**
 * Fits the population as it stands (all applied events) at event time `at`, stores the fit and
 * recomputes (in `members`) every member's due time for grid points after `dueAfter`. Null when there are too
 * few members to fit, the fit fails or it is rejected (`judgeFit`: not converged, a parameter at
 * the optimiser's cap, too few repeat buyers or too little history): the model in force stays.
 * A rejected fit is stored with `accepted = false` and its reason, and never comes in force.
 *
 * Only due times before `horizon` (the next scheduled refit) are stored: that refit recomputes
 * every one of them before anything at its instant fires, so a later one would be overwritten
 * unused. Storing all of them rewrote a row per member per refit, the largest cost of a replay.
 * When no new model comes out, the one in force carries the due times on to the new horizon.
 */
export async function refitAt(
  c: PoolClient,
  at: number,
  dueAfter: number,
  trigger: FitTrigger,
  settings: ChurnSettings,
  horizon: number,
  inForce: ActiveModel | null,
  members: MemberMemory,
  log?: StepLog,
): Promise<ActiveModel | null> {
  const summaries = members.allSummaries();
  let fitted: ActiveModel | null = null;
  try {
    const fit = fitPopulation(summaries, at, settings);
    if (fit !== null) {
      const version = modelVersionFor(at, trigger);
      await insertFit(c, version, trigger, at, settings.unitMs, fit);
      fitted = activeModelOf(version, fit);
      const facts = {
        modelVersion: version,
        members: fit.bg.members,
        ...fit.population,
        converged: fit.bg.converged,
        params: fit.bg.params,
        ll: fit.bg.logLikelihood,
      };
      if (fitted !== null) log?.info(facts, "churn model refitted");
      else
        log?.warn(
          { ...facts, rejectedReason: fit.verdict.rejectedReason, inForce: inForce?.version ?? null },
          "churn fit rejected; the model in force stays",
        );
    }
  } catch (err) {
    log?.warn({ err, at: new Date(at).toISOString() }, "churn model fit failed; the model in force stays");
  }
  const model = fitted ?? inForce;
  if (model === null) return null;
  const dues = new Map<string, number>();
  for (const s of summaries) {
    const armed = s.armed || s.alertLastPurchaseAt === null || s.lastPurchaseAt > s.alertLastPurchaseAt;
    const due = armed ? dueTime(s, dueAfter, model.bg, settings) : null;
    if (due !== null && due < horizon) dues.set(s.memberId, due);
  }
  members.replaceDues(dues);
  return fitted;
}

export interface AdvanceResult {
  readonly alerts: ChurnAlertRecord[];
  readonly frontier: number | null;
  readonly refits: number;
  /** The engine row's generation as this step leaves it (MemberMemory.committed after commit). */
  readonly generation: number;
}

/**
 * Writes what the step decided: the members and due times it changed (from `members`), its
 * alerts and the engine's position, each in one statement. Returns the new generation.
 */
async function apply(
  c: PoolClient,
  members: MemberMemory,
  alerts: readonly ChurnAlertRecord[],
  engine: Omit<EngineRow, "generation">,
): Promise<number> {
  const changed = members.changes();
  await writeMembers(c, changed.members);
  await writeDueTimes(c, changed.dues);
  await insertAlerts(c, alerts);
  return saveEngine(c, engine);
}

/**
 * Moves event time to `to` (never backwards); alerts raised are stored and returned. `engine`:
 * the engine row as the caller read it locked (`loadEngine(c, true)`) before `members.begin`,
 * so that it cannot have moved since. `late`: events recorded in this transaction at or before
 * the frontier. Decides against `members`, writes back what changed.
 */
export async function advance(
  c: PoolClient,
  engine: EngineRow,
  to: number,
  settings: ChurnSettings,
  members: MemberMemory,
  log?: StepLog,
  hooks: StepHooks = {},
  late: readonly IncomingEvent[] = [],
): Promise<AdvanceResult> {
  const target = engine.frontier === null ? to : Math.max(to, engine.frontier);
  if (late.length > 0 && engine.frontier === null)
    throw new ChurnStateError("late events without a frontier");
  const events = new Pending(members, late);
  let model = await loadModel(c, engine.modelVersion);
  let nextRefit = engine.nextRefitAt;
  if (nextRefit === null) {
    const first = members.earliestPending();
    if (first === null || first > target)
      return { alerts: [], frontier: engine.frontier, refits: 0, generation: engine.generation };
    nextRefit = nextGridAfter(first, settings.refitMs, settings.refitAnchor);
  }
  const alerts: ChurnAlertRecord[] = [];
  let refits = 0;
  while (nextRefit <= target) {
    alerts.push(...processSegment(events, nextRefit, false, model, settings, nextRefit, members, hooks));
    const horizon = nextRefit + settings.refitMs;
    const fitted = await refitAt(
      c,
      nextRefit,
      nextRefit - 1,
      "schedule",
      settings,
      horizon,
      model,
      members,
      log,
    );
    if (fitted !== null) {
      model = fitted;
      refits++;
    }
    const refitted = nextRefit;
    nextRefit += settings.refitMs;
    await hooks.heartbeat?.();
    if (hooks.stopping?.() && nextRefit <= target) {
      // Everything before the refit instant is done; its alerts and events come next time.
      const frontier = refitted - 1;
      const generation = await apply(c, members, alerts, {
        frontier,
        nextRefitAt: nextRefit,
        modelVersion: model?.version ?? null,
      });
      log?.info({ frontier: new Date(frontier).toISOString() }, "catch-up paused for shutdown");
      return { alerts, frontier, refits, generation };
    }
  }
  alerts.push(...processSegment(events, target, true, model, settings, nextRefit, members, hooks));

  // Refits asked for by an operator happen at the frontier (not reproducible by a replay: an
  // operator's choice of moment is not in the stream).
  const requests = await c.query<{ id: number }>(
    prepared("select id from churn_refit_requests where done_at is null order by id for update"),
  );
  if (requests.rows.length > 0) {
    const fitted = await refitAt(
      c,
      target + 1,
      target,
      "on-demand",
      settings,
      nextRefit,
      model,
      members,
      log,
    );
    if (fitted !== null) {
      model = fitted;
      refits++;
      alerts.push(...processSegment(events, target, true, model, settings, nextRefit, members, hooks));
    }
    await c.query(
      prepared("update churn_refit_requests set done_at = $1, model_version = $2 where id = any($3)"),
      [target, fitted?.version ?? null, requests.rows.map((r) => r.id)],
    );
  }
  const generation = await apply(c, members, alerts, {
    frontier: target,
    nextRefitAt: nextRefit,
    modelVersion: model?.version ?? null,
  });
  return { alerts, frontier: target, refits, generation };
}
