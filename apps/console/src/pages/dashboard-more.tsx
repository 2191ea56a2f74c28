// The dashboard's figures from the API's dashboard read model (issue 23 item 5, ADR 18):
// outstanding points liability, points issued/redeemed/expired over time, campaign budget burn
// per budgeted rule and win-back conversion per week. Each refreshes every REFRESH_MS (polling).
import type { ComponentChildren } from "preact";
import {
  type BudgetRule,
  type Flow,
  type Winback,
  budgetCaption,
  cumulative,
  flowCaption,
  liabilityCaption,
  winbackCaption,
} from "../figures.ts";
import { type Loaded, useApi } from "../hooks.tsx";
import { LineChart, REFRESH_MS } from "./dashboard.tsx";

function Section<T>(props: {
  id: string;
  title: string;
  r: Loaded<T>;
  empty: (d: T) => string | null;
  children: (d: T) => ComponentChildren;
}) {
  const { r } = props;
  return (
    <section aria-labelledby={`${props.id}-h`}>
      <h2 id={`${props.id}-h`}>{props.title}</h2>
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && props.empty(r.data) !== null && <p>{props.empty(r.data)}</p>}
      {r.state === "ok" && props.empty(r.data) === null && props.children(r.data)}
    </section>
  );
}

const FLOW = "/v1/dashboard/points-flow?days=90";

export function LiabilityFigure() {
  const r = useApi<Flow>(FLOW, REFRESH_MS);
  return (
    <Section
      id="liability"
      title="Outstanding liability"
      r={r}
      empty={(d) => (d.days.length === 0 ? "No points movement read yet." : null)}
    >
      {(d) => (
        <figure data-testid="liability-chart" data-days={d.days.length}>
          <figcaption>{liabilityCaption(d)}</figcaption>
          <LineChart
            xs={d.days.map((x) => x.day)}
            series={[
              {
                label: `Liability (${d.currency})`,
                values: d.days.map((x) => x.liabilityMinor / 10 ** d.currencyExponent),
              },
            ]}
            unit={d.currency}
          />
        </figure>
      )}
    </Section>
  );
}

export function FlowFigure() {
  const r = useApi<Flow>(FLOW, REFRESH_MS);
  return (
    <Section
      id="flow"
      title="Points issued, redeemed, expired"
      r={r}
      empty={(d) => (d.days.length === 0 ? "No points movement read yet." : null)}
    >
      {(d) => {
        const c = cumulative(d.days);
        return (
          <figure data-testid="flow-chart" data-days={d.days.length}>
            <figcaption>{flowCaption(d)}</figcaption>
            <LineChart
              xs={d.days.map((x) => x.day)}
              series={[
                { label: "Issued", values: c.issued },
                { label: "Redeemed", values: c.redeemed },
                { label: "Expired", values: c.expired, dash: [6, 4] },
                { label: "Outstanding", values: d.days.map((x) => x.outstanding), dash: [2, 2] },
              ]}
              unit="points"
            />
          </figure>
        );
      }}
    </Section>
  );
}

export function BudgetFigure() {
  const r = useApi<{ to: string | null; rules: BudgetRule[] }>(
    "/v1/dashboard/budget-burn?weeks=26",
    REFRESH_MS,
  );
  return (
    <Section
      id="budget"
      title="Campaign budget burn"
      r={r}
      empty={(d) => (d.rules.length === 0 ? "No published rule has a budget." : null)}
    >
      {(d) => (
        <>
          {d.rules.map((rule) => (
            <figure
              key={`${rule.ruleSetId}/${rule.ruleId}`}
              data-testid="budget-chart"
              data-rule={rule.ruleId}
              data-weeks={rule.weeks.length}
            >
              <figcaption>{budgetCaption(rule)}</figcaption>
              {rule.weeks.length > 0 && (
                <LineChart
                  xs={rule.weeks.map((w) => w.week)}
                  series={[
                    { label: "Used", values: rule.weeks.map((w) => w.used) },
                    { label: "Budget", values: rule.weeks.map(() => rule.budget), dash: [6, 4] },
                  ]}
                  unit="points"
                />
              )}
            </figure>
          ))}
        </>
      )}
    </Section>
  );
}

export function WinbackFigure() {
  const r = useApi<Winback>("/v1/dashboard/winback?weeks=26", REFRESH_MS);
  return (
    <Section
      id="winback"
      title="Win-back conversion"
      r={r}
      empty={(d) => (d.weeks.length === 0 ? "No churn alert read yet." : null)}
    >
      {(d) => (
        <figure data-testid="winback-chart" data-weeks={d.weeks.length}>
          <figcaption>{winbackCaption(d)}</figcaption>
          <LineChart
            xs={d.weeks.map((w) => w.week)}
            series={[
              { label: "Alerted", values: d.weeks.map((w) => w.alerted) },
              { label: "Purchased again", values: d.weeks.map((w) => w.converted) },
            ]}
            unit="members"
          />
        </figure>
      )}
    </Section>
  );
}
