import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { useLocation } from "wouter-preact";
import type { Session } from "../api.ts";
import { Freshness, useApi, when } from "../hooks.tsx";
import { REFRESH_MS } from "./dashboard.tsx";
import { AdjustForm, ChurnScoreCard, TierProgressCard } from "./member-more.tsx";

interface Summary {
  memberId: string;
  status: string;
  tier: string | null;
  balance: number;
  debt: number;
  available: number;
  expiring: { days: number; points: number; before: string }[];
  churn: {
    modelVersion: string;
    lastAlert: { at: string; pAlive: number; segment: string; actionLevel: string };
  } | null;
  asOf: string;
}
interface Lots {
  lots: {
    lotId: string;
    points: number;
    remaining: number;
    earnedAt: string;
    expiresAt: string;
    due: boolean;
  }[];
}
interface History {
  entries: {
    entryId: string;
    kind: string;
    points: number;
    balanceAfter: number;
    ruleId: string | null;
    ruleVersion: number | null;
    ruleSetId: string | null;
    ruleSetVersion: number | null;
    reason: string | null;
    orderId: string | null;
    eventTime: string;
  }[];
}

export function MemberLookup(props: { memberId: string | null; session: Session }) {
  const [, navigate] = useLocation();
  const [input, setInput] = useState(props.memberId ?? "");
  const id = props.memberId === null ? null : encodeURIComponent(props.memberId);
  const summary = useApi<Summary>(id === null ? null : `/v1/members/${id}`, REFRESH_MS);
  const lots = useApi<Lots>(id === null ? null : `/v1/members/${id}/lots`, REFRESH_MS);
  const history = useApi<History>(id === null ? null : `/v1/members/${id}/ledger?limit=100`, REFRESH_MS);
  return (
    <section aria-labelledby="member-h">
      <h1 id="member-h">Member lookup</h1>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (input.trim()) navigate(`/members/${encodeURIComponent(input.trim())}`);
        }}
      >
        <label for="member-id">Member id</label>
        <input id="member-id" value={input} required onInput={(e) => setInput(e.currentTarget.value)} />
        <button type="submit">Look up</button>
      </form>
      {id !== null && summary.state === "loading" && <p>Loading…</p>}
      {id !== null && summary.state === "error" && (
        <p role="alert" class="error">
          {summary.message}
        </p>
      )}
      {summary.state === "ok" && (
        <>
          <Freshness r={summary} />
          <dl class="facts" aria-label="Summary">
            <dt>Balance</dt>
            <dd data-testid="balance">{summary.data.balance}</dd>
            <dt>Available</dt>
            <dd>{summary.data.available}</dd>
            <dt>Tier</dt>
            <dd data-testid="tier">{summary.data.tier ?? "—"}</dd>
            <dt>Debt</dt>
            <dd>{summary.data.debt}</dd>
            <dt>Status</dt>
            <dd>{summary.data.status}</dd>
            <dt>As of</dt>
            <dd>{when(summary.data.asOf)}</dd>
            {summary.data.expiring.map((e) => (
              <Fragment key={e.days}>
                <dt>Expiring in {e.days} days</dt>
                <dd>{e.points}</dd>
              </Fragment>
            ))}
          </dl>
          <h2>Tier progress</h2>
          {props.memberId !== null && <TierProgressCard memberId={props.memberId} />}
          {props.memberId !== null && <AdjustForm memberId={props.memberId} session={props.session} />}
          <h2>Churn</h2>
          {props.memberId !== null && <ChurnScoreCard memberId={props.memberId} />}
          {summary.data.churn === null ? (
            <p>No churn alert for this member.</p>
          ) : (
            <dl class="facts" aria-label="Churn card">
              <dt>Latest alert</dt>
              <dd>{when(summary.data.churn.lastAlert.at)}</dd>
              <dt>P(alive)</dt>
              <dd>{summary.data.churn.lastAlert.pAlive.toFixed(3)}</dd>
              <dt>Segment</dt>
              <dd>{summary.data.churn.lastAlert.segment}</dd>
              <dt>Action</dt>
              <dd>{summary.data.churn.lastAlert.actionLevel}</dd>
              <dt>Model</dt>
              <dd>{summary.data.churn.modelVersion}</dd>
            </dl>
          )}
          <h2>Lots</h2>
          {lots.state === "ok" && (
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Lot</th>
                    <th scope="col">Earned</th>
                    <th scope="col">Points</th>
                    <th scope="col">Left</th>
                    <th scope="col">Expires</th>
                  </tr>
                </thead>
                <tbody>
                  {lots.data.lots.map((l) => (
                    <tr key={l.lotId}>
                      <td>
                        <code title={l.lotId}>{l.lotId.slice(0, 12)}</code>
                      </td>
                      <td>{when(l.earnedAt)}</td>
                      <td>{l.points}</td>
                      <td>{l.remaining}</td>
                      <td>
                        {when(l.expiresAt)}
                        {l.due ? " (due)" : ""}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <h2>History</h2>
          {history.state === "ok" && (
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Points</th>
                    <th scope="col">Balance after</th>
                    <th scope="col">Rule</th>
                    <th scope="col">Rule set</th>
                    <th scope="col">Order / reason</th>
                  </tr>
                </thead>
                <tbody>
                  {history.data.entries.map((e) => (
                    <tr key={e.entryId}>
                      <td>{when(e.eventTime)}</td>
                      <td>{e.kind}</td>
                      <td>{e.points}</td>
                      <td>{e.balanceAfter}</td>
                      <td>{e.ruleId ? `${e.ruleId} v${e.ruleVersion ?? "?"}` : "—"}</td>
                      <td>{e.ruleSetId ? `${e.ruleSetId} v${e.ruleSetVersion ?? "?"}` : "—"}</td>
                      <td>{e.orderId ?? e.reason ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
