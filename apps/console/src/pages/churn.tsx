// The churn page (issue 23 item 5, ADR 18): the model a marketer is trusting. Segment sizes (members
// per segment and action level of their latest alert) and the current fit with when it was made
// (GET /v1/churn/segments, the API's read models of loyalty.churn-alerts.v1), refreshed by
// polling; the calibration chart, predicted against actual repeat purchases in a holdout
// (GET /v1/churn/calibration, computed by churn-alert: a refit over every member, so only on
// request).
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { type Calibration, type Segments, calibrationCaption, segmentsCaption } from "../figures.ts";
import { Freshness, useApi, when } from "../hooks.tsx";
import { LineChart, REFRESH_MS } from "./dashboard.tsx";

interface Fit {
  modelVersion: string;
  madeAt: string | null;
  params: { r: number; alpha: number; a: number; b: number } | null;
  firstAlertAt: string;
  lastAlertAt: string;
  alerts: number;
}

export function SegmentsFigure() {
  const r = useApi<Segments & { fit: Fit | null }>("/v1/churn/segments", REFRESH_MS);
  return (
    <section aria-labelledby="segments-h">
      <h2 id="segments-h">Churn segments</h2>
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && (
        <figure data-testid="segments" data-members={r.data.members}>
          <figcaption>{segmentsCaption(r.data)}</figcaption>
          {r.data.members > 0 && (
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Segment</th>
                    <th scope="col">Members</th>
                    <th scope="col">Share</th>
                  </tr>
                </thead>
                <tbody>
                  {r.data.segments.map((s) => (
                    <tr key={s.segment}>
                      <td>{s.segment}</td>
                      <td>{s.members.toLocaleString("en")}</td>
                      <td>
                        <meter
                          min={0}
                          max={r.data.members}
                          value={s.members}
                          aria-label={`${s.segment} share`}
                        />{" "}
                        {((100 * s.members) / r.data.members).toFixed(1)} %
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p class="hint">
                By action level:{" "}
                {r.data.actionLevels
                  .map((a) => `${a.actionLevel} ${a.members.toLocaleString("en")}`)
                  .join(", ")}
                . Members never alerted are on no topic the API reads and are not counted.
              </p>
            </div>
          )}
        </figure>
      )}
    </section>
  );
}

function CurrentFit() {
  const r = useApi<{ fit: Fit | null }>("/v1/churn/segments", REFRESH_MS);
  return (
    <section aria-labelledby="fit-h">
      <h2 id="fit-h">Current fit</h2>
      {r.state === "ok" && r.data.fit === null && <p>No alert has named a fit yet.</p>}
      {r.state === "ok" && r.data.fit !== null && (
        <dl class="facts" aria-label="Current fit" data-testid="fit">
          <dt>Model</dt>
          <dd data-testid="fit-version">{r.data.fit.modelVersion}</dd>
          <dt>Made</dt>
          <dd data-testid="fit-made">
            {r.data.fit.madeAt ? when(r.data.fit.madeAt) : "not named by the version"}
          </dd>
          <dt>BG/NBD</dt>
          <dd>
            {r.data.fit.params
              ? `r ${r.data.fit.params.r.toFixed(3)}, α ${r.data.fit.params.alpha.toFixed(3)}, a ${r.data.fit.params.a.toFixed(3)}, b ${r.data.fit.params.b.toFixed(3)}`
              : "not carried by its alerts"}
          </dd>
          <dt>Alerts</dt>
          <dd>
            {r.data.fit.alerts.toLocaleString("en")} ({when(r.data.fit.firstAlertAt)} to{" "}
            {when(r.data.fit.lastAlertAt)})
          </dd>
        </dl>
      )}
      <Freshness r={r} />
    </section>
  );
}

function CalibrationChart() {
  const [calibrationEnd, setCal] = useState("1997-09-30");
  const [holdoutEnd, setHold] = useState("1998-06-30");
  const [state, setState] = useState<
    { s: "idle" } | { s: "running" } | { s: "error"; message: string } | { s: "ok"; c: Calibration }
  >({ s: "idle" });
  const run = (e: Event) => {
    e.preventDefault();
    setState({ s: "running" });
    const q = new URLSearchParams({ calibrationEnd, holdoutEnd });
    api<Calibration>(`/v1/churn/calibration?${q}`)
      .then((c) => setState({ s: "ok", c }))
      .catch((err: unknown) => setState({ s: "error", message: (err as Error).message }));
  };
  return (
    <section aria-labelledby="cal-h">
      <h2 id="cal-h">Calibration</h2>
      <p class="hint">
        The model fitted on purchases up to the calibration end, its predicted repeat purchases in the holdout
        against the actual ones. churn-alert refits over every member: seconds on a large population.
      </p>
      <form class="inline" onSubmit={run}>
        <label for="cal-end">Calibration end</label>
        <input
          id="cal-end"
          type="date"
          value={calibrationEnd}
          required
          onInput={(e) => setCal(e.currentTarget.value)}
        />
        <label for="hold-end">Holdout end</label>
        <input
          id="hold-end"
          type="date"
          value={holdoutEnd}
          required
          onInput={(e) => setHold(e.currentTarget.value)}
        />
        <button type="submit" disabled={state.s === "running"}>
          {state.s === "running" ? "Calibrating…" : "Show calibration"}
        </button>
      </form>
      {state.s === "error" && (
        <p role="alert" class="error">
          {state.message}
        </p>
      )}
      {state.s === "ok" && (
        <figure data-testid="calibration-chart" data-buckets={state.c.byFrequency.length}>
          <figcaption>{calibrationCaption(state.c)}</figcaption>
          <LineChart
            xs={state.c.byFrequency.map((b) => b.x)}
            xLabel="repeat purchases in calibration"
            series={[
              { label: "Actual", values: state.c.byFrequency.map((b) => b.actualMean ?? 0) },
              {
                label: "Predicted",
                values: state.c.byFrequency.map((b) => b.expectedMean ?? 0),
                dash: [6, 4],
              },
            ]}
            unit="per member"
          />
        </figure>
      )}
    </section>
  );
}

export function ChurnPage() {
  return (
    <section aria-labelledby="churn-h">
      <h1 id="churn-h">Churn model</h1>
      <SegmentsFigure />
      <CurrentFit />
      <CalibrationChart />
    </section>
  );
}
