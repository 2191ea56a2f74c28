// The dashboard's and churn page's routes (ADR 18, issue 23 items 4 and 5): points flow and
// liability, campaign budget burn, win-back conversion, churn segments and fit, a member's tier
// progress. Each reads the API's own tables (the dashboard read model of migration 510, the tier
// and churn read models of 507, the rules read model of 504) and hands the rows to the pure
// functions of src/dashboard-figures.ts.
import type { FastifyInstance } from "fastify";
import {
  type PointValue,
  budgetBurnFrom,
  budgetedRules,
  fitView,
  pointsFlowFrom,
  tierProgressFrom,
  winbackFrom,
} from "../dashboard-figures.ts";
import {
  fits,
  latestAlertCounts,
  latestTierMetric,
  newestRuleSets,
  observedThresholds,
  pointsDays,
  winbackWeeks,
} from "../store/dashboard.ts";
import type { Db } from "../store/db.ts";
import { DASHBOARD_ROUTES } from "./dashboard-schemas.ts";

export interface DashboardDeps {
  pool: Db;
  /** The programme's money per point, for the liability (PROGRAMME_* settings). */
  pointValue: PointValue;
}

export const DEFAULT_POINT_VALUE: PointValue = { currency: "USD", currencyExponent: 2, pointValueMinor: "1" };

const count = (q: string | undefined, d: number) => (q === undefined ? d : Number(q));

export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  const r = DASHBOARD_ROUTES;
  app.route<{ Querystring: { days?: string } }>({
    method: r.pointsFlow.method,
    url: r.pointsFlow.url,
    schema: r.pointsFlow.schema,
    config: { scope: r.pointsFlow.scope },
    handler: async (req) =>
      pointsFlowFrom(await pointsDays(deps.pool), count(req.query.days, 90), deps.pointValue),
  });
  app.route<{ Querystring: { weeks?: string } }>({
    method: r.budgetBurn.method,
    url: r.budgetBurn.url,
    schema: r.budgetBurn.schema,
    config: { scope: r.budgetBurn.scope },
    handler: async (req) => {
      const budgets = budgetedRules(await newestRuleSets(deps.pool));
      const rows =
        budgets.length === 0
          ? []
          : await pointsDays(
              deps.pool,
              budgets.map((b) => b.ruleId),
            );
      return budgetBurnFrom(budgets, rows, count(req.query.weeks, 26));
    },
  });
  app.route<{ Querystring: { weeks?: string } }>({
    method: r.winback.method,
    url: r.winback.url,
    schema: r.winback.schema,
    config: { scope: r.winback.scope },
    handler: async (req) => winbackFrom(await winbackWeeks(deps.pool), count(req.query.weeks, 26)),
  });
  app.route({
    method: r.churnSegments.method,
    url: r.churnSegments.url,
    schema: r.churnSegments.schema,
    config: { scope: r.churnSegments.scope },
    handler: async () => {
      const [counts, recent] = await Promise.all([latestAlertCounts(deps.pool), fits(deps.pool, 10)]);
      const views = recent.map(fitView);
      return { ...counts, fit: views[0] ?? null, fits: views };
    },
  });
  app.route<{ Params: { memberId: string } }>({
    method: r.tierProgress.method,
    url: r.tierProgress.url,
    schema: r.tierProgress.schema,
    config: { scope: r.tierProgress.scope },
    handler: async (req) => {
      const [latest, ladder] = await Promise.all([
        latestTierMetric(deps.pool, req.params.memberId),
        observedThresholds(deps.pool),
      ]);
      return {
        memberId: req.params.memberId,
        progress: tierProgressFrom(latest, ladder),
        ladder: ladder.map(({ tier, metric, threshold }) => ({ tier, metric, threshold })),
      };
    },
  });
}
