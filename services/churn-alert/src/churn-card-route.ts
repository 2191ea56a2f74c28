// GET /churn-card?memberId=... on the ops server: one member's churn card (P(alive), expected
// purchases and value over the horizon, RFM segment) as `churnCard` computes it from churn-alert's
// own tables, for every member with a purchase, not only those with an alert. The member API
// forwards it (GET /v1/members/{id}/churn) and reads none of these tables. Reads only.

import { OpsRequestError, type OpsRoute } from "@loyalty/stream-runtime";
import type { Pool } from "pg";
import { type ChurnSettings, DEFAULT_SETTINGS } from "./config.ts";
import { churnCard } from "./queries.ts";

/** The member API's member id (services/api/src/http/schemas.ts `memberId`). */
export const MEMBER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** 400 VALIDATION_FAILED for a bad id; 404 NOT_FOUND when there is no card (see `churnCard`). */
export function churnCardRoute(pool: Pool, settings: ChurnSettings = DEFAULT_SETTINGS): OpsRoute {
  return {
    path: "/churn-card",
    query: {
      memberId: {
        pattern: MEMBER_ID,
        description: "a member id (1-128 of A-Z a-z 0-9 . _ : @ -)",
        required: true,
      },
    },
    handle: async (q) => {
      const memberId = q.memberId ?? "";
      const card = await churnCard(pool, memberId, settings);
      if (card === null)
        throw new OpsRequestError(
          404,
          "NOT_FOUND",
          `no churn card for member ${memberId}: no purchase seen yet, or no churn model fitted yet`,
        );
      return card;
    },
  };
}
