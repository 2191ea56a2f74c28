// The dashboard's and churn page's routes (ADR 18, issue 23 items 4 and 5), specified like ROUTES
// (schemas.ts): the same objects validate requests, serialise answers and make the OpenAPI
// document (openapi.ts). Figures come from the API's own read models (migration 510 and 507).
import {
  AUTH_ERRORS,
  type RouteSpec,
  SERVER_ERRORS,
  type Schema,
  errors,
  int,
  isoTime,
  memberId,
  nullable,
  obj,
  str,
} from "./schemas.ts";

const num = (extra: Schema = {}): Schema => ({ type: "number", ...extra });
const day = (description?: string) =>
  str({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", ...(description ? { description } : {}) });
const weeksQuery = obj(
  { weeks: str({ pattern: "^(?:[1-9]|[1-9][0-9]|10[0-4])$", description: "1..104, default 26" }) },
  [],
);
const fit = obj({
  modelVersion: str(),
  madeAt: nullable(str({ format: "date-time", description: "When the fit was made (from its version)" })),
  params: nullable(obj({ r: num(), alpha: num(), a: num(), b: num() })),
  firstAlertAt: isoTime,
  lastAlertAt: isoTime,
  alerts: int({ description: "Alerts read that name this fit" }),
});

export const DASHBOARD_ROUTES = {
  pointsFlow: {
    method: "GET",
    url: "/v1/dashboard/points-flow",
    operationId: "getPointsFlow",
    summary:
      "Points issued, reversed, redeemed, expired and adjusted per UTC day of event time, the points outstanding at each day's end and their liability at the programme's money per point; from the API's read model of loyalty.points.v1",
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
          to: nullable(day("Newest day with a movement")),
          currency: str({ description: "The programme's base currency (PROGRAMME_BASE_CURRENCY)" }),
          currencyExponent: int({ minimum: 0, description: "Minor units per major: 10^exponent" }),
          pointValueMinor: str({
            description: "Money per point in minor units (PROGRAMME_POINT_VALUE_MINOR)",
          }),
          days: {
            type: "array",
            items: obj({
              day: day(),
              issued: int(),
              reversed: int(),
              redeemed: int(),
              expired: int(),
              adjusted: int({ description: "Signed" }),
              outstanding: int({ description: "Every movement up to the day's end, summed" }),
              liabilityMinor: int({ description: "outstanding x pointValueMinor, in minor units" }),
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  budgetBurn: {
    method: "GET",
    url: "/v1/dashboard/budget-burn",
    operationId: "getBudgetBurn",
    summary:
      "Per rule with a budget (newest version of each rule set read from loyalty.rules.v1): points awarded net of reversals up to the end of each week (Monday, UTC) beside the budget; from the API's read model of loyalty.points.v1",
    scope: "read",
    schema: {
      querystring: weeksQuery,
      response: {
        200: obj({
          to: nullable(day("Newest day with an award of a budgeted rule")),
          rules: {
            type: "array",
            items: obj({
              ruleSetId: str(),
              ruleSetVersion: int(),
              ruleId: str(),
              name: nullable(str()),
              budget: int({ description: "budget.totalPoints" }),
              used: int({ description: "Awarded net of reversals, all time" }),
              remaining: int(),
              weeks: { type: "array", items: obj({ week: day(), used: int({ description: "Cumulative" }) }) },
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  winback: {
    method: "GET",
    url: "/v1/dashboard/winback",
    operationId: "getWinback",
    summary:
      "Win-back conversion per week of alerts (Monday, UTC): members alerted, and those who made a points-earning purchase after their alert (loyalty.churn-alerts.v1 and loyalty.points.v1)",
    scope: "read",
    schema: {
      querystring: weeksQuery,
      response: {
        200: obj({
          to: nullable(day("Week of the newest alert")),
          alerted: int(),
          converted: int(),
          weeks: {
            type: "array",
            items: obj({
              week: day(),
              alerted: int({ description: "Distinct members alerted that week" }),
              converted: int({
                description: "Of those, purchased (earned points) after their first alert that week",
              }),
              rate: nullable(num()),
            }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  churnSegments: {
    method: "GET",
    url: "/v1/churn/segments",
    operationId: "getChurnSegments",
    summary:
      "Members per churn segment and action level of their latest alert, and the fits alerts name (the newest first, with its parameters and when it was made); from the API's read models of loyalty.churn-alerts.v1. Members never alerted are on no topic and not counted",
    scope: "read",
    schema: {
      response: {
        200: obj({
          members: int({ description: "Members with at least one alert" }),
          segments: { type: "array", items: obj({ segment: str(), members: int() }) },
          actionLevels: { type: "array", items: obj({ actionLevel: str(), members: int() }) },
          fit: nullable(fit),
          fits: { type: "array", items: fit, description: "Up to 10, newest first" },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  tierProgress: {
    method: "GET",
    url: "/v1/members/:memberId/tier-progress",
    operationId: "getMemberTierProgress",
    summary:
      "A member's tier and progress to the next from loyalty.tiers.v1: the metric's value at the member's latest change and the thresholds seen on upgrades (null: no change read)",
    scope: "read",
    schema: {
      params: obj({ memberId }),
      response: {
        200: obj({
          memberId: str(),
          progress: nullable(
            obj({
              tier: str(),
              metric: str(),
              value: num({ description: "The metric at the latest change (asOf)" }),
              asOf: isoTime,
              next: nullable(
                obj({
                  tier: str(),
                  threshold: num(),
                  remaining: num(),
                  progress: num({ minimum: 0, maximum: 1 }),
                }),
              ),
            }),
          ),
          ladder: {
            type: "array",
            description: "Per tier and metric, the threshold of the newest upgrade into it",
            items: obj({ tier: str(), metric: str(), threshold: num() }),
          },
        }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
} as const satisfies Record<string, RouteSpec>;
