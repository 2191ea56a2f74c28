// The routes of the marketers' console (ADR 18), registered beside the member routes: rule sets
// from the API's read model of loyalty.rules.v1, drafts submitted by marketer keys (checked with
// the rules engine's validator, a pure function: the API imports no store of another service),
// a member's lots, points per day from the ledger, and members per tier and churn alerts per week
// from the API's read models of loyalty.tiers.v1 and loyalty.churn-alerts.v1 for the dashboard.
import { validateRuleSet } from "@loyalty/rules-engine";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError, RuleSetInvalidError } from "../domain/errors.ts";
import {
  draftDetail,
  listRuleSets,
  memberLots,
  pointsByDay,
  reviewDraft,
  ruleSetVersion,
  submitDraft,
} from "../store/console.ts";
import type { Db } from "../store/db.ts";
import { alertsByWeek, tiersByWeek } from "../store/read-models.ts";
import { CONSOLE_ROUTES } from "./console-schemas.ts";

export interface ConsoleDeps {
  pool: Db;
  /** The API's clock (event time or wall time), as for the member summary. */
  now: () => number;
}

/** A draft may be larger than the member routes' 16 KiB bodies: the rules format allows 2,000 rules. */
export const DRAFT_BODY_LIMIT = 1024 * 1024;

function keyIdOf(req: FastifyRequest): string {
  if (!req.principal) throw new ApiError("AUTH_MISSING", "no API key");
  return req.principal.keyId;
}

export function registerConsoleRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  const r = CONSOLE_ROUTES;
  app.route({
    method: r.session.method,
    url: r.session.url,
    schema: r.session.schema,
    config: { scope: r.session.scope },
    handler: async (req) => {
      if (!req.principal) throw new ApiError("AUTH_MISSING", "no API key");
      return { keyId: req.principal.keyId, scopes: [...req.principal.scopes] };
    },
  });
  app.route({
    method: r.listRuleSets.method,
    url: r.listRuleSets.url,
    schema: r.listRuleSets.schema,
    config: { scope: r.listRuleSets.scope },
    handler: async () => ({ ruleSets: await listRuleSets(deps.pool) }),
  });
  app.route<{ Params: { ruleSetId: string; version: string } }>({
    method: r.getRuleSetVersion.method,
    url: r.getRuleSetVersion.url,
    schema: r.getRuleSetVersion.schema,
    config: { scope: r.getRuleSetVersion.scope },
    handler: async (req) => ruleSetVersion(deps.pool, req.params.ruleSetId, Number(req.params.version)),
  });
  app.route<{ Body: { ruleSet: Record<string, unknown> } }>({
    method: r.submitDraft.method,
    url: r.submitDraft.url,
    schema: r.submitDraft.schema,
    config: { scope: r.submitDraft.scope },
    bodyLimit: DRAFT_BODY_LIMIT,
    handler: async (req, reply) => {
      const checked = validateRuleSet(req.body.ruleSet);
      if (!checked.ok) throw new RuleSetInvalidError(checked.errors);
      const draft = await submitDraft(deps.pool, {
        ruleSetId: checked.ruleSet.id,
        version: checked.ruleSet.version,
        ruleSet: req.body.ruleSet,
        submittedBy: keyIdOf(req),
      });
      return reply.status(201).send(draft);
    },
  });
  app.route<{ Params: { draftId: string } }>({
    method: r.getDraft.method,
    url: r.getDraft.url,
    schema: r.getDraft.schema,
    config: { scope: r.getDraft.scope },
    handler: async (req) => {
      const d = await draftDetail(deps.pool, req.params.draftId);
      if (d === null)
        throw new ApiError("DRAFT_NOT_FOUND", `no draft ${req.params.draftId}`, "params.draftId");
      return d;
    },
  });
  app.route<{ Params: { draftId: string }; Body: { decision: "approve" | "reject"; note?: string } }>({
    method: r.reviewDraft.method,
    url: r.reviewDraft.url,
    schema: r.reviewDraft.schema,
    config: { scope: r.reviewDraft.scope },
    handler: async (req, reply) => {
      const d = await reviewDraft(deps.pool, {
        draftId: req.params.draftId,
        decision: req.body.decision === "approve" ? "approved" : "rejected",
        reviewedBy: keyIdOf(req),
        note: req.body.note ?? null,
      });
      return reply.status(201).send(d);
    },
  });
  app.route<{ Params: { memberId: string } }>({
    method: r.memberLots.method,
    url: r.memberLots.url,
    schema: r.memberLots.schema,
    config: { scope: r.memberLots.scope },
    handler: async (req) => {
      const now = deps.now();
      const lots = await memberLots(deps.pool, req.params.memberId, now);
      if (lots === null)
        throw new ApiError(
          "MEMBER_NOT_FOUND",
          `member ${req.params.memberId} has no ledger`,
          "params.memberId",
        );
      return { memberId: req.params.memberId, asOf: new Date(now).toISOString(), lots };
    },
  });
  app.route<{ Querystring: { days?: string } }>({
    method: r.pointsByDay.method,
    url: r.pointsByDay.url,
    schema: r.pointsByDay.schema,
    config: { scope: r.pointsByDay.scope },
    handler: async (req) =>
      pointsByDay(deps.pool, req.query.days === undefined ? 90 : Number(req.query.days)),
  });
  app.route<{ Querystring: { weeks?: string } }>({
    method: r.tiersByWeek.method,
    url: r.tiersByWeek.url,
    schema: r.tiersByWeek.schema,
    config: { scope: r.tiersByWeek.scope },
    handler: async (req) =>
      tiersByWeek(deps.pool, req.query.weeks === undefined ? 53 : Number(req.query.weeks)),
  });
  app.route<{ Querystring: { weeks?: string } }>({
    method: r.churnAlertsByWeek.method,
    url: r.churnAlertsByWeek.url,
    schema: r.churnAlertsByWeek.schema,
    config: { scope: r.churnAlertsByWeek.scope },
    handler: async (req) =>
      alertsByWeek(deps.pool, req.query.weeks === undefined ? 53 : Number(req.query.weeks)),
  });
}
