import { SCOPES } from "../store/keys.ts";
// The routes the marketers' console needs (ADR 18), specified like ROUTES (schemas.ts): the same
// objects validate requests, serialise answers and make the OpenAPI document (openapi.ts).
import {
  AUTH_ERRORS,
  BODY_ERRORS,
  type RouteSpec,
  SERVER_ERRORS,
  errors,
  int,
  isoTime,
  memberId,
  nullable,
  obj,
  str,
} from "./schemas.ts";

const ruleSetId = str({ pattern: "^[a-z0-9][a-z0-9_-]{0,63}$", description: "Rule-set id" });
const versionInfo = {
  version: int({ minimum: 1 }),
  publishedAt: isoTime,
  publisher: nullable(str({ description: "Who signed the publication (null: unsigned)" })),
  keyId: nullable(str({ description: "Id of the signing key (null: unsigned)" })),
  signed: { type: "boolean", description: "Carries a signature; the rules engine verifies it, not the API" },
  checksum: str(),
  description: nullable(str()),
  ruleCount: int({ minimum: 0 }),
};
const draftInfo = obj({
  draftId: str({ pattern: "^drf-[0-9a-f-]{36}$" }),
  ruleSetId: str(),
  version: int({ minimum: 1 }),
  submittedBy: str({ description: "Key id of the marketer key that submitted it" }),
  submittedAt: isoTime,
});
const ruleSetDocument = {
  type: "object",
  additionalProperties: true,
  description: "The rule set as published (schemas/ruleset.schema.json)",
};
const validationError = obj({
  ruleId: nullable(str()),
  path: str({ description: "JSON path of the offending node, e.g. $.rules[2].event.params.rate" }),
  problem: str(),
});
const draftIdParam = str({ pattern: "^drf-[0-9a-f-]{36}$", description: "Draft id" });
const draftDetail = obj({
  draftId: str({ pattern: "^drf-[0-9a-f-]{36}$" }),
  ruleSetId: str(),
  version: int({ minimum: 1 }),
  submittedBy: str({ description: "Key id of the key that submitted it" }),
  submittedAt: isoTime,
  ruleSet: { ...ruleSetDocument, description: "The draft rule set as submitted" },
  reviews: {
    type: "array",
    description: "Approvals and rejections, oldest first",
    items: obj({
      decision: str({ enum: ["approved", "rejected"] }),
      reviewedBy: str({ description: "Key id of the reviewing key (never the submitter's)" }),
      reviewedAt: isoTime,
      note: nullable(str()),
    }),
  },
  status: str({
    enum: ["submitted", "approved", "rejected", "published"],
    description:
      "published once the API's read model of loyalty.rules.v1 holds this rule set and version; else the latest review's decision",
  }),
  published: nullable(
    obj({
      publishedAt: isoTime,
      publisher: nullable(str({ description: "Who signed the publication" })),
      keyId: nullable(str()),
      signed: { type: "boolean" },
    }),
  ),
});
const versionParam = str({ pattern: "^[1-9][0-9]{0,9}$", description: "Rule-set version" });

export const CONSOLE_ROUTES = {
  session: {
    method: "GET",
    url: "/v1/session",
    operationId: "getSession",
    summary: "The presented key's id and scopes (the console signs in with it and shows what the key may do)",
    scope: "read",
    schema: {
      response: {
        200: obj({ keyId: str(), scopes: { type: "array", items: str({ enum: [...SCOPES] }) } }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  listRuleSets: {
    method: "GET",
    url: "/v1/rulesets",
    operationId: "listRuleSets",
    summary:
      "Rule sets as published on loyalty.rules.v1 (the API's read model): versions newest first, with publisher and time, and submitted drafts",
    scope: "read",
    schema: {
      response: {
        200: obj({
          ruleSets: {
            type: "array",
            items: obj({
              ruleSetId: str(),
              versions: { type: "array", items: obj(versionInfo) },
              drafts: { type: "array", items: draftInfo },
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  getRuleSetVersion: {
    method: "GET",
    url: "/v1/rulesets/:ruleSetId/versions/:version",
    operationId: "getRuleSetVersion",
    summary: "One published version of a rule set, with its rules",
    scope: "read",
    schema: {
      params: obj({ ruleSetId, version: versionParam }),
      response: {
        200: obj({ ruleSetId: str(), ...versionInfo, ruleSet: ruleSetDocument }),
        ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS),
      },
    },
  },
  submitDraft: {
    method: "POST",
    url: "/v1/rulesets/drafts",
    operationId: "submitRuleSetDraft",
    summary:
      "Submit a rule-set draft for publication (marketer): checked with the rules engine's validator (422 lists every error with rule id and path); a publisher signs and publishes it",
    scope: "marketer",
    schema: {
      body: obj({ ruleSet: { ...ruleSetDocument, description: "The draft rule set" } }),
      response: {
        201: draftInfo,
        422: obj({
          error: obj(
            {
              code: str({ enum: ["RULESET_INVALID"] }),
              message: str(),
              field: str(),
              errors: { type: "array", items: validationError },
            },
            ["code", "message", "errors"],
          ),
        }),
        ...errors(...AUTH_ERRORS, ...BODY_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  getDraft: {
    method: "GET",
    url: "/v1/rulesets/drafts/:draftId",
    operationId: "getRuleSetDraft",
    summary:
      "A submitted draft with its review trail (approved/rejected by whom, when) and its publication, if any",
    scope: "read",
    schema: {
      params: obj({ draftId: draftIdParam }),
      response: { 200: draftDetail, ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS) },
    },
  },
  reviewDraft: {
    method: "POST",
    url: "/v1/rulesets/drafts/:draftId/reviews",
    operationId: "reviewRuleSetDraft",
    summary:
      "Approve or reject a draft (marketer; not the key that submitted it: 403 DRAFT_SELF_REVIEW; 409 DRAFT_PUBLISHED once published)",
    scope: "marketer",
    schema: {
      params: obj({ draftId: draftIdParam }),
      body: obj(
        {
          decision: str({ enum: ["approve", "reject"] }),
          note: str({ maxLength: 500, description: "Why (shown in the audit trail)" }),
        },
        ["decision"],
      ),
      response: { 201: draftDetail, ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, 409, ...SERVER_ERRORS) },
    },
  },
  memberLots: {
    method: "GET",
    url: "/v1/members/:memberId/lots",
    operationId: "getMemberLots",
    summary: "A member's lots with points left, soonest expiry first",
    scope: "read",
    schema: {
      params: obj({ memberId }),
      response: {
        200: obj({
          memberId: str(),
          asOf: isoTime,
          lots: {
            type: "array",
            items: obj({
              lotId: str(),
              points: int(),
              remaining: int(),
              earnedAt: isoTime,
              expiresAt: isoTime,
              due: { type: "boolean", description: "Expired at asOf; the rules engine removes it next" },
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS),
      },
    },
  },
  pointsByDay: {
    method: "GET",
    url: "/v1/dashboard/points-by-day",
    operationId: "getPointsByDay",
    summary:
      "Points earned, reversed, redeemed, expired and adjusted per UTC day of event time, for the days up to the ledger's newest entry",
    scope: "read",
    schema: {
      querystring: obj(
        {
          days: str({
            pattern: "^(?:[1-9]|[1-9][0-9]|[1-3][0-9][0-9]|400)$",
            description: "1..400, default 90",
          }),
        },
        [],
      ),
      response: {
        200: obj({
          to: nullable(str({ format: "date-time", description: "Event time of the newest ledger entry" })),
          days: {
            type: "array",
            items: obj({
              day: str({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" }),
              issued: int(),
              reversed: int(),
              redeemed: int(),
              expired: int(),
              adjusted: int(),
              entries: int(),
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  tiersByWeek: {
    method: "GET",
    url: "/v1/dashboard/tiers-by-week",
    operationId: "getTiersByWeek",
    summary:
      "Members per tier at the end of each week (Monday, UTC, event time), from the API's read model of loyalty.tiers.v1; only members with at least one tier change are counted",
    scope: "read",
    schema: {
      querystring: obj(
        { weeks: str({ pattern: "^(?:[1-9]|[1-9][0-9]|10[0-4])$", description: "1..104, default 53" }) },
        [],
      ),
      response: {
        200: obj({
          to: nullable(
            str({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description: "Week of the newest tier change" }),
          ),
          tiers: { type: "array", items: str(), description: "Every tier named by a change, sorted" },
          weeks: {
            type: "array",
            items: obj({
              week: str({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" }),
              tiers: { type: "array", items: obj({ tier: str(), members: int() }) },
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  churnAlertsByWeek: {
    method: "GET",
    url: "/v1/dashboard/churn-alerts-by-week",
    operationId: "getChurnAlertsByWeek",
    summary:
      "Churn alerts per week (Monday, UTC, event time) up to the newest alert, by action level, from the API's read model of loyalty.churn-alerts.v1",
    scope: "read",
    schema: {
      querystring: obj(
        { weeks: str({ pattern: "^(?:[1-9]|[1-9][0-9]|10[0-4])$", description: "1..104, default 53" }) },
        [],
      ),
      response: {
        200: obj({
          to: nullable(str({ format: "date-time", description: "Event time of the newest alert" })),
          weeks: {
            type: "array",
            items: obj({
              week: str({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" }),
              alerts: int(),
              members: int({ description: "Distinct members alerted that week" }),
              highValueAtRisk: int(),
              atRisk: int(),
              lowValueAtRisk: int(),
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
} as const satisfies Record<string, RouteSpec>;
