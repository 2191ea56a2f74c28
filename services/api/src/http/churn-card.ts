// GET /v1/members/{memberId}/churn: the member's churn card (P(alive), expected purchases and
// value over churn-alert's horizon, RFM segment), for every member with a purchase, as churn-alert
// computes it from its own tables and serves it on its ops server (GET /churn-card). The summary's
// `churn` (GET /v1/members/{memberId}) stays the latest alert from loyalty.churn-alerts.v1. The API
// reads none of churn-alert's tables: it forwards the validated id, with the calibration proxy's
// link, timeout and error mapping (churn-alert not configured or not answering: 503 UNAVAILABLE).
import type { FastifyInstance } from "fastify";
import { ApiError } from "../domain/errors.ts";
import { type ChurnAlertLink, askChurnAlert, unavailable } from "./churn-alert-link.ts";
import {
  AUTH_ERRORS,
  type RouteSpec,
  SERVER_ERRORS,
  errors,
  memberId,
  nullable,
  obj,
  str,
} from "./schemas.ts";

const num = (description: string) => ({ type: "number", description });

export const churnCardSchema = obj({
  memberId: str(),
  asOf: str({ format: "date-time", description: "churn-alert's event time the card is computed at" }),
  modelVersion: str({ description: "The churn model fit in force" }),
  pAlive: num("Probability the member is still active (BG/NBD), 0..1"),
  expectedPurchases: num("Expected purchases within horizonDays"),
  horizonDays: num("The horizon of expectedPurchases and expectedValueMinor, days"),
  expectedValueMinor: num("Expected value (CLV) within horizonDays, minor units of the base currency"),
  segment: str({ description: "RFM segment: champions, loyal, potential-loyalist, ..." }),
  rfm: obj({ r: num("Recency score"), f: num("Frequency score"), m: num("Monetary score") }),
  lastAlertAt: nullable(
    str({ format: "date-time", description: "When churn-alert last alerted on the member; null: never" }),
  ),
});

export const CHURN_CARD_ROUTES = {
  churnCard: {
    method: "GET",
    url: "/v1/members/:memberId/churn",
    operationId: "getMemberChurnCard",
    summary:
      "Churn card for any member with a purchase: P(alive), expected purchases and value (CLV), RFM segment (from churn-alert)",
    scope: "read",
    schema: {
      params: obj({ memberId }),
      response: { 200: churnCardSchema, ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS) },
    },
  },
} as const satisfies Record<string, RouteSpec>;

export interface ChurnCardAnswer {
  memberId: string;
  asOf: string;
  modelVersion: string;
  pAlive: number;
  expectedPurchases: number;
  horizonDays: number;
  expectedValueMinor: number;
  segment: string;
  rfm: { r: number; f: number; m: number };
  lastAlertAt: string | null;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isoOf = (ms: number) => new Date(ms).toISOString();

/** churn-alert's card (epoch-ms times) → the API's (ISO times); null when it is not a card. */
export function cardOf(body: unknown): ChurnCardAnswer | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as Record<string, unknown>;
  const rfm = (typeof b.rfm === "object" && b.rfm !== null ? b.rfm : {}) as Record<string, unknown>;
  if (
    typeof b.memberId !== "string" ||
    !isNum(b.asOf) ||
    typeof b.modelVersion !== "string" ||
    !isNum(b.pAlive) ||
    !isNum(b.expectedPurchases) ||
    !isNum(b.horizonDays) ||
    !isNum(b.expectedValueMinor) ||
    typeof b.segment !== "string" ||
    !isNum(rfm.r) ||
    !isNum(rfm.f) ||
    !isNum(rfm.m) ||
    !(b.lastAlertAt === null || isNum(b.lastAlertAt))
  )
    return null;
  return {
    memberId: b.memberId,
    asOf: isoOf(b.asOf),
    modelVersion: b.modelVersion,
    pAlive: b.pAlive,
    expectedPurchases: b.expectedPurchases,
    horizonDays: b.horizonDays,
    expectedValueMinor: b.expectedValueMinor,
    segment: b.segment,
    rfm: { r: rfm.r, f: rfm.f, m: rfm.m },
    lastAlertAt: b.lastAlertAt === null ? null : isoOf(b.lastAlertAt),
  };
}

/** churn-alert's answer → the member's card, or the API error it stands for. */
export async function fetchChurnCard(link: ChurnAlertLink, id: string): Promise<ChurnCardAnswer> {
  const a = await askChurnAlert(link, "/churn-card", { memberId: id }, "the churn card");
  if (a.status === 200) {
    const card = cardOf(a.body);
    if (card !== null) return card;
    throw new ApiError("UNAVAILABLE", `churn-alert at ${link.url} answered a body that is no churn card`);
  }
  // A 404 with its error body: no card for this member. Without one: an older churn-alert.
  if (a.status === 404 && a.error.code === "NOT_FOUND") throw new ApiError("NOT_FOUND", a.error.message);
  if (a.status === 400) throw new ApiError("VALIDATION_FAILED", a.error.message, "params.memberId");
  throw unavailable(link, a);
}

export function registerChurnCard(app: FastifyInstance, link: ChurnAlertLink): void {
  const r = CHURN_CARD_ROUTES.churnCard;
  app.route<{ Params: { memberId: string } }>({
    method: r.method,
    url: r.url,
    schema: r.schema,
    config: { scope: r.scope },
    handler: async (req) => fetchChurnCard(link, req.params.memberId),
  });
}
