// The programme dashboard, drawn with uPlot: points per day (GET /v1/dashboard/points-by-day, from
// the ledger), members per tier per week (GET /v1/dashboard/tiers-by-week, the API's read model of
// loyalty.tiers.v1) and churn alerts per week (GET /v1/dashboard/churn-alerts-by-week, its read
// model of loyalty.churn-alerts.v1).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { Freshness, useApi } from "../hooks.tsx";
import { SegmentsFigure } from "./churn.tsx";
import { BudgetFigure, FlowFigure, LiabilityFigure, WinbackFigure } from "./dashboard-more.tsx";

interface Day {
  day: string;
  issued: number;
  reversed: number;
  redeemed: number;
  expired: number;
  adjusted: number;
  entries: number;
}
interface TiersWeeks {
  to: string | null;
  tiers: string[];
  weeks: { week: string; tiers: { tier: string; members: number }[] }[];
}
interface AlertsWeeks {
  to: string | null;
  weeks: {
    week: string;
    alerts: number;
    members: number;
    highValueAtRisk: number;
    atRisk: number;
    lowValueAtRisk: number;
  }[];
}

/** How often the dashboard asks again (live updates by polling; ADR 18). */
export const REFRESH_MS = 5_000;

const PALETTE = ["#1f6feb", "#b35900", "#8b949e", "#2da44e", "#8250df", "#cf222e"];

export interface Series {
  label: string;
  values: number[];
  dash?: number[];
}

/**
 * A uPlot line chart over days (`xs`, YYYY-MM-DD), or over plain numbers (`xs` numbers, `xLabel`
 * naming them); redrawn only when the figures change.
 */
export function LineChart(props: {
  xs: string[] | number[];
  series: Series[];
  unit: string;
  xLabel?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const sig = JSON.stringify([props.xs, props.series, props.unit, props.xLabel ?? null]);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const [days, series, unit, xLabel] = JSON.parse(sig) as [
      (string | number)[],
      Series[],
      string,
      string | null,
    ];
    const time = xLabel === null;
    const xs = days.map((d) => (typeof d === "number" ? d : Date.parse(`${d}T00:00:00Z`) / 1000));
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 280,
        scales: { x: { time } },
        series: [
          { label: xLabel ?? "Day" },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: PALETTE[i % PALETTE.length] ?? "#1f6feb",
            width: 2,
            ...(s.dash ? { dash: s.dash } : {}),
          })),
        ],
        axes: [time ? {} : { label: xLabel ?? "" }, { label: unit, size: 70 }],
      },
      [xs, ...series.map((s) => s.values)],
      el,
    );
    const resize = () => plot.setSize({ width: width(), height: 280 });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      plot.destroy();
    };
  }, [sig]);
  return <div ref={box} class="chart" />;
}

/** The chart's text: what it shows and its totals, also for readers who cannot see the chart. */
function caption(days: Day[], to: string | null): string {
  const total = (k: "issued" | "redeemed" | "expired") =>
    days.reduce((s, d) => s + d[k], 0).toLocaleString("en");
  return `Points per day, the ${days.length} days up to the ledger's newest entry (${to?.slice(0, 10) ?? "-"}, event time): ${total("issued")} earned, ${total("redeemed")} redeemed, ${total("expired")} expired.`;
}

function tiersCaption(t: TiersWeeks): string {
  const last = t.weeks.at(-1);
  const now = last ? last.tiers.map((x) => `${x.tier} ${x.members.toLocaleString("en")}`).join(", ") : "-";
  return `Members per tier at the end of each week, ${t.weeks.length} weeks up to ${t.to ?? "-"} (event time; members with at least one tier change): ${now}.`;
}

function alertsCaption(a: AlertsWeeks): string {
  const total = a.weeks.reduce((s, w) => s + w.alerts, 0);
  const high = a.weeks.reduce((s, w) => s + w.highValueAtRisk, 0);
  return `Churn alerts per week, ${a.weeks.length} weeks up to ${a.to?.slice(0, 10) ?? "-"} (event time): ${total.toLocaleString("en")} alerts, ${high.toLocaleString("en")} high-value-at-risk.`;
}

function TiersFigure() {
  const r = useApi<TiersWeeks>("/v1/dashboard/tiers-by-week?weeks=53", REFRESH_MS);
  return (
    <section aria-labelledby="tiers-h">
      <h2 id="tiers-h">Members per tier</h2>
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && r.data.weeks.length === 0 && <p>No tier change read yet.</p>}
      {r.state === "ok" && r.data.weeks.length > 0 && (
        <figure
          data-testid="tiers-chart"
          data-weeks={r.data.weeks.length}
          data-tiers={r.data.tiers.join(",")}
        >
          <figcaption>{tiersCaption(r.data)}</figcaption>
          <LineChart
            xs={r.data.weeks.map((w) => w.week)}
            series={r.data.tiers.map((t) => ({
              label: t,
              values: r.data.weeks.map((w) => w.tiers.find((x) => x.tier === t)?.members ?? 0),
            }))}
            unit="members"
          />
        </figure>
      )}
    </section>
  );
}

function AlertsFigure() {
  const r = useApi<AlertsWeeks>("/v1/dashboard/churn-alerts-by-week?weeks=53", REFRESH_MS);
  return (
    <section aria-labelledby="alerts-h">
      <h2 id="alerts-h">Churn alerts per week</h2>
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && r.data.weeks.length === 0 && <p>No churn alert read yet.</p>}
      {r.state === "ok" && r.data.weeks.length > 0 && (
        <figure data-testid="alerts-chart" data-weeks={r.data.weeks.length}>
          <figcaption>{alertsCaption(r.data)}</figcaption>
          <LineChart
            xs={r.data.weeks.map((w) => w.week)}
            series={[
              { label: "High value at risk", values: r.data.weeks.map((w) => w.highValueAtRisk) },
              { label: "At risk", values: r.data.weeks.map((w) => w.atRisk) },
              { label: "Low value at risk", values: r.data.weeks.map((w) => w.lowValueAtRisk), dash: [6, 4] },
            ]}
            unit="alerts"
          />
        </figure>
      )}
    </section>
  );
}

export function Dashboard() {
  const r = useApi<{ to: string | null; days: Day[] }>("/v1/dashboard/points-by-day?days=90", REFRESH_MS);
  return (
    <section aria-labelledby="dash-h">
      <h1 id="dash-h">Dashboard</h1>
      {r.state === "loading" && <p>Loading…</p>}
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && r.data.days.length === 0 && <p>The ledger has no entries yet.</p>}
      {r.state === "ok" && r.data.days.length > 0 && (
        <figure data-testid="points-chart" data-days={r.data.days.length}>
          <figcaption>{caption(r.data.days, r.data.to)}</figcaption>
          <LineChart
            xs={r.data.days.map((d) => d.day)}
            series={[
              { label: "Earned", values: r.data.days.map((d) => d.issued) },
              { label: "Redeemed", values: r.data.days.map((d) => d.redeemed) },
              { label: "Expired", values: r.data.days.map((d) => d.expired), dash: [6, 4] },
            ]}
            unit="points"
          />
        </figure>
      )}
      <Freshness r={r} />
      <LiabilityFigure />
      <FlowFigure />
      <TiersFigure />
      <AlertsFigure />
      <BudgetFigure />
      <WinbackFigure />
      <SegmentsFigure />
    </section>
  );
}
