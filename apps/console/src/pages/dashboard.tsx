// Points per day from GET /v1/dashboard/points-by-day, drawn with uPlot.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { Freshness, useApi } from "../hooks.tsx";

interface Day {
  day: string;
  issued: number;
  reversed: number;
  redeemed: number;
  expired: number;
  adjusted: number;
  entries: number;
}

/** How often the dashboard asks again (live updates by polling; ADR 18). */
export const REFRESH_MS = 5_000;

function PointsChart(props: { days: Day[] }) {
  const box = useRef<HTMLDivElement>(null);
  // Redrawn only when the figures change, not on every refresh.
  const sig = JSON.stringify(props.days);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const days = JSON.parse(sig) as Day[];
    const xs = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 280,
        scales: { x: { time: true } },
        series: [
          { label: "Day" },
          { label: "Earned", stroke: "#1f6feb", width: 2 },
          { label: "Redeemed", stroke: "#b35900", width: 2 },
          { label: "Expired", stroke: "#8b949e", width: 2, dash: [6, 4] },
        ],
        axes: [{}, { label: "points", size: 70 }],
      },
      [xs, days.map((d) => d.issued), days.map((d) => d.redeemed), days.map((d) => d.expired)],
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
          <PointsChart days={r.data.days} />
        </figure>
      )}
      <Freshness r={r} />
    </section>
  );
}
