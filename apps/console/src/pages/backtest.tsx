// The backtest panel under the draft editor: the draft beside the running rule set over a window
// of the history the engine has seen (the console server reads the topics and runs the rules
// engine's backtest library: server/backtest.ts). The same figures as
// `loyalty rules backtest DRAFT --from-topic --running-published --json`.
import { useState } from "preact/hooks";
import { ApiFailure, api } from "../api.ts";

interface SidePoints {
  awards: number;
  awardedPoints: number;
  reversedPoints: number;
  netPoints: number;
  members: number;
}

interface Report {
  window: { from: string; to: string };
  running: { id: string; version: number };
  draft: { id: string; version: number };
  events: { warmUp: number; inWindow: number };
  members: number;
  currency: string;
  pointValueMinor: string;
  byRule: {
    ruleId: string;
    runningVersion: number | null;
    draftVersion: number | null;
    running: SidePoints;
    draft: SidePoints;
    difference: number;
  }[];
  totals: {
    running: { netPoints: number; liabilityMinor: number };
    draft: { netPoints: number; liabilityMinor: number };
    difference: { netPoints: number; liabilityMinor: number };
  };
  membersAffected: number;
  budgets: {
    ruleId: string;
    runningBudget: number | null;
    draftBudget: number | null;
    weeks: { week: string; running: number; draft: number }[];
  }[];
  tiers: { note: string; moves: { from: string; to: string; members: number }[]; membersMoved: number };
  topMembers: { memberId: string; running: number; draft: number; difference: number }[];
}

interface Answer {
  report: Report;
  runningFrom: string;
  currencyExponent: number;
  history: { purchases: number; memberEvents: number; skipped: number };
  seconds: number;
}

const day = (t: number) => new Date(t).toISOString().slice(0, 10);
const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

export function BacktestPanel(props: { draft: unknown; disabled: boolean }) {
  const now = Date.now();
  const [from, setFrom] = useState(day(now - 365 * 86_400_000));
  const [to, setTo] = useState(day(now + 86_400_000));
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async () => {
    setBusy(true);
    setError(null);
    setAnswer(null);
    try {
      setAnswer(
        await api<Answer>("/console/backtest", { method: "POST", body: { draft: props.draft, from, to } }),
      );
    } catch (err) {
      setError(err instanceof ApiFailure ? `${err.code}: ${err.message}` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const r = answer?.report;
  const money = (minor: number) =>
    answer
      ? `${(minor / 10 ** answer.currencyExponent).toFixed(answer.currencyExponent)} ${answer.report.currency}`
      : "";
  return (
    <section aria-labelledby="backtest-h" class="backtest">
      <h2 id="backtest-h">Backtest</h2>
      <p class="hint">
        Prices the draft beside the running rule set over the purchases the engine has seen in the window
        (event time, UTC); nothing is written.
      </p>
      <div class="row">
        <label>
          From
          <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To (excluded)
          <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={run} disabled={busy || props.disabled}>
          {busy ? "Running…" : "Run backtest"}
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {answer && r && (
        <div data-testid="backtest-result" aria-live="polite">
          <p>
            {r.draft.id} v{r.draft.version} beside {r.running.id} v{r.running.version} ({answer.runningFrom}),{" "}
            {r.window.from.slice(0, 10)} to {r.window.to.slice(0, 10)}: {r.events.inWindow} events of{" "}
            {r.members} members ({r.events.warmUp} before the window as warm-up), in{" "}
            {answer.seconds.toFixed(1)} s.
          </p>
          <div class="scroll">
            <table id="backtest-rules">
              <caption>Points per rule (net of reversals)</caption>
              <thead>
                <tr>
                  <th scope="col">rule</th>
                  <th scope="col">running</th>
                  <th scope="col">draft</th>
                  <th scope="col">difference</th>
                  <th scope="col">members (draft)</th>
                </tr>
              </thead>
              <tbody>
                {r.byRule.map((x) => (
                  <tr key={x.ruleId} data-rule={x.ruleId}>
                    <th scope="row">{x.ruleId}</th>
                    <td data-col="running">{x.running.netPoints}</td>
                    <td data-col="draft">{x.draft.netPoints}</td>
                    <td data-col="difference">{signed(x.difference)}</td>
                    <td>{x.draft.members}</td>
                  </tr>
                ))}
                <tr data-rule="(total)">
                  <th scope="row">total</th>
                  <td data-col="running">{r.totals.running.netPoints}</td>
                  <td data-col="draft">{r.totals.draft.netPoints}</td>
                  <td data-col="difference">{signed(r.totals.difference.netPoints)}</td>
                  <td />
                </tr>
              </tbody>
            </table>
          </div>
          <dl class="figures">
            <dt>Liability (at {r.pointValueMinor} minor units per point)</dt>
            <dd data-testid="liability" data-minor={r.totals.difference.liabilityMinor}>
              running {money(r.totals.running.liabilityMinor)}, draft {money(r.totals.draft.liabilityMinor)},
              difference {money(r.totals.difference.liabilityMinor)}
            </dd>
            <dt>Members affected</dt>
            <dd data-testid="members-affected">
              {r.membersAffected} of {r.members}
            </dd>
            <dt>Tier moves</dt>
            <dd>
              {r.tiers.moves.length === 0
                ? `none (${r.tiers.note})`
                : r.tiers.moves.map((m) => `${m.from} → ${m.to}: ${m.members}`).join("; ")}
            </dd>
            {r.budgets.map((b) => (
              <>
                <dt key={`${b.ruleId}-t`}>Budget of {b.ruleId}</dt>
                <dd key={`${b.ruleId}-d`}>
                  used in the window: running {b.weeks.reduce((s, w) => s + w.running, 0)} (
                  {b.runningBudget ?? "no budget"}), draft {b.weeks.reduce((s, w) => s + w.draft, 0)} (
                  {b.draftBudget ?? "no budget"})
                </dd>
              </>
            ))}
          </dl>
          {r.topMembers.length > 0 && (
            <div class="scroll">
              <table id="backtest-members">
                <caption>Top {r.topMembers.length} members by difference</caption>
                <thead>
                  <tr>
                    <th scope="col">member</th>
                    <th scope="col">running</th>
                    <th scope="col">draft</th>
                    <th scope="col">difference</th>
                  </tr>
                </thead>
                <tbody>
                  {r.topMembers.map((m) => (
                    <tr key={m.memberId}>
                      <th scope="row">
                        <a href={`/members/${encodeURIComponent(m.memberId)}`}>{m.memberId}</a>
                      </th>
                      <td>{m.running}</td>
                      <td>{m.draft}</td>
                      <td>{signed(m.difference)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
