// The member page's tier progress, churn card and admin adjustment (issue 23 item 4, ADR 18). Progress comes
// from GET /v1/members/{id}/tier-progress (what loyalty.tiers.v1 carries: the metric's value at
// the member's latest change and the thresholds seen on upgrades). The adjustment form is shown to
// admin keys only and sends the API's ADJUST ledger command (POST …/adjustments, a reason
// required, a fresh Idempotency-Key per submission); the API answers 403 to any other key.
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, type Session, api, canAdjust } from "../api.ts";
import { type TierProgress, progressText } from "../figures.ts";
import { useApi, when } from "../hooks.tsx";
import { REFRESH_MS } from "./dashboard.tsx";

export function TierProgressCard(props: { memberId: string }) {
  const id = encodeURIComponent(props.memberId);
  const r = useApi<{ progress: TierProgress | null }>(`/v1/members/${id}/tier-progress`, REFRESH_MS);
  if (r.state !== "ok") return null;
  const p = r.data.progress;
  if (p === null)
    return <p data-testid="tier-progress">No tier change read for this member: it is in the base tier.</p>;
  return (
    <div data-testid="tier-progress">
      <p>
        {progressText(p)} <span class="hint">As of its latest tier change, {when(p.asOf)}.</span>
      </p>
      {p.next !== null && (
        <progress
          max={p.next.threshold}
          value={Math.min(p.value, p.next.threshold)}
          aria-label={`Progress to ${p.next.tier}`}
        />
      )}
    </div>
  );
}

/** GET /v1/members/{id}/churn: churn-alert's card for the member, forwarded by the API. */
interface ChurnScore {
  asOf: string;
  modelVersion: string;
  pAlive: number;
  expectedPurchases: number;
  horizonDays: number;
  expectedValueMinor: number;
  segment: string;
}
type ScoreState =
  | { state: "loading" }
  | { state: "ok"; card: ChurnScore }
  /** 404: churn-alert has no card (no purchase yet, or no model fitted yet). */
  | { state: "none"; message: string }
  /** 502/503: churn-alert is not configured or not answering. */
  | { state: "unavailable" }
  | { state: "error"; message: string };

/**
 * P(alive), CLV and RFM segment for every member (not only those with an alert), from churn-alert
 * through the API, refreshed like the rest of the page; a failed refresh keeps the last card.
 */
export function ChurnScoreCard(props: { memberId: string }) {
  const path = `/v1/members/${encodeURIComponent(props.memberId)}/churn`;
  const [s, setS] = useState<ScoreState>({ state: "loading" });
  useEffect(() => {
    let live = true;
    setS({ state: "loading" });
    const load = () =>
      api<ChurnScore>(path)
        .then((card) => live && setS({ state: "ok", card }))
        .catch((err: unknown) => {
          if (!live) return;
          const status = err instanceof ApiFailure ? err.status : 0;
          const next: ScoreState =
            status === 404
              ? { state: "none", message: (err as Error).message }
              : status === 502 || status === 503
                ? { state: "unavailable" }
                : { state: "error", message: (err as Error).message };
          setS((prev) => (prev.state === "ok" && next.state !== "none" ? prev : next));
        });
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [path]);
  if (s.state === "loading") return <p data-testid="churn-score">Loading the churn card…</p>;
  if (s.state === "unavailable")
    return <p data-testid="churn-score">Churn card not available: churn-alert is not answering.</p>;
  if (s.state === "none")
    return <p data-testid="churn-score">No churn card yet: no purchase seen, or no churn model fitted.</p>;
  if (s.state === "error")
    return (
      <p data-testid="churn-score" role="alert" class="error">
        {s.message}
      </p>
    );
  const c = s.card;
  return (
    <dl class="facts" aria-label="Churn scores" data-testid="churn-score">
      <dt>P(alive)</dt>
      <dd data-testid="churn-palive">{c.pAlive.toFixed(3)}</dd>
      <dt>CLV ({c.horizonDays} days)</dt>
      <dd data-testid="churn-clv">
        {Math.round(c.expectedValueMinor).toLocaleString("en-US")} minor units,{" "}
        {c.expectedPurchases.toFixed(2)} purchases expected
      </dd>
      <dt>Segment</dt>
      <dd data-testid="churn-segment">{c.segment}</dd>
      <dt>Scored</dt>
      <dd>
        {when(c.asOf)} (event time), model {c.modelVersion}
      </dd>
    </dl>
  );
}

interface Adjustment {
  points: number;
  balanceAfter: number;
}
interface Pending {
  status: "pending";
  statusUrl: string;
}
interface CommandState {
  status: "pending" | "done";
  httpStatus: number | null;
  result: unknown;
}

/** How long the form follows a command the ledger has not answered yet (202), and how often. */
const FOLLOW_MS = 30_000;
const FOLLOW_EVERY_MS = 500;

/**
 * Sends the ADJUST command; when the API answers 202 (the ledger's reply is late) it follows the
 * status URL until the command is done, so the form shows the answer the ledger gave.
 */
async function adjust(memberId: string, points: number, reason: string): Promise<Adjustment> {
  const first = await api<Adjustment | Pending>(`/v1/members/${encodeURIComponent(memberId)}/adjustments`, {
    method: "POST",
    body: { points, reason },
    headers: { "idempotency-key": crypto.randomUUID() },
  });
  if (!("status" in first)) return first;
  const deadline = Date.now() + FOLLOW_MS;
  while (Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, FOLLOW_EVERY_MS));
    const state = await api<CommandState>(first.statusUrl);
    if (state.status === "done") {
      const body = state.result as (Adjustment & { error?: { code?: string; message?: string } }) | null;
      if (state.httpStatus === 201 && body) return body;
      throw new ApiFailure(
        state.httpStatus ?? 500,
        body?.error?.code ?? `HTTP_${state.httpStatus}`,
        body?.error?.message ?? "the ledger refused the adjustment",
        null,
        body,
      );
    }
  }
  throw new ApiFailure(
    504,
    "PENDING",
    `the ledger has not answered yet; see ${first.statusUrl}`,
    null,
    first,
  );
}

type Result = { s: "idle" } | { s: "sending" } | { s: "done"; text: string } | { s: "error"; text: string };

export function AdjustForm(props: { memberId: string; session: Session }) {
  const [points, setPoints] = useState("");
  const [reason, setReason] = useState("");
  const [result, setResult] = useState<Result>({ s: "idle" });
  if (!canAdjust(props.session)) return null;
  const submit = (e: Event) => {
    e.preventDefault();
    const n = Number(points);
    if (!Number.isInteger(n) || n === 0) {
      setResult({ s: "error", text: "Points must be a whole number other than 0." });
      return;
    }
    setResult({ s: "sending" });
    adjust(props.memberId, n, reason.trim())
      .then((a) => {
        setResult({ s: "done", text: `Adjusted by ${a.points}: balance ${a.balanceAfter}.` });
        setPoints("");
        setReason("");
      })
      .catch((err: unknown) =>
        setResult({
          s: "error",
          text: err instanceof ApiFailure ? `${err.message} (${err.code})` : String(err),
        }),
      );
  };
  return (
    <section aria-labelledby="adjust-h">
      <h2 id="adjust-h">Adjust points</h2>
      <form class="inline" onSubmit={submit} data-testid="adjust-form">
        <label for="adjust-points">Points (+ or −)</label>
        <input
          id="adjust-points"
          type="number"
          step={1}
          required
          value={points}
          onInput={(e) => setPoints(e.currentTarget.value)}
        />
        <label for="adjust-reason">Reason</label>
        <input
          id="adjust-reason"
          required
          minLength={3}
          maxLength={500}
          value={reason}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
        <button type="submit" disabled={result.s === "sending"}>
          Adjust
        </button>
      </form>
      {result.s === "done" && <output data-testid="adjust-result">{result.text}</output>}
      {result.s === "error" && (
        <p role="alert" class="error">
          {result.text}
        </p>
      )}
    </section>
  );
}
