// A submitted draft: its audit trail (submitted, approved/rejected by whom, published as which
// version by whom), approve/reject for a marketer key other than the submitter's (the API
// refuses the submitter), and "Publish" when the console's server can publish (it holds the
// signing key and the publisher's credentials: server/publish.ts) and the review allows it.
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, type Session, api, canSubmitDrafts } from "../api.ts";
import { useApi, when } from "../hooks.tsx";
import { DiffView } from "./diff.tsx";

interface Detail {
  draftId: string;
  ruleSetId: string;
  version: number;
  submittedBy: string;
  submittedAt: string;
  ruleSet: { rules?: { id: string; version: number }[] };
  reviews: {
    decision: "approved" | "rejected";
    reviewedBy: string;
    reviewedAt: string;
    note: string | null;
  }[];
  status: "submitted" | "approved" | "rejected" | "published";
  published: { publishedAt: string; publisher: string | null; keyId: string | null; signed: boolean } | null;
}

interface Listing {
  ruleSets: { ruleSetId: string; versions: { version: number }[] }[];
}

/** The draft against the newest published version below it (what it would replace). */
function AgainstPublished(props: { ruleSetId: string; version: number; draft: unknown }) {
  const list = useApi<Listing>("/v1/rulesets");
  const before =
    list.state === "ok"
      ? (list.data.ruleSets
          .find((s) => s.ruleSetId === props.ruleSetId)
          ?.versions.map((v) => v.version)
          .filter((v) => v < props.version)
          .sort((x, y) => y - x)[0] ?? null)
      : null;
  const v = useApi<{ ruleSet: unknown }>(
    before === null ? null : `/v1/rulesets/${encodeURIComponent(props.ruleSetId)}/versions/${before}`,
  );
  if (before === null || v.state !== "ok") return null;
  return (
    <DiffView
      before={v.data.ruleSet}
      after={props.draft}
      label={`published v${before} → draft v${props.version}`}
    />
  );
}

interface ServerConfig {
  backtest: boolean;
  publish: { review: "required" | "optional"; signingKey: string } | null;
}

export function DraftReview(props: { session: Session; draftId: string }) {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [config, setConfig] = useState<ServerConfig | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);
  const path = `/v1/rulesets/drafts/${encodeURIComponent(props.draftId)}`;

  useEffect(() => {
    void api<ServerConfig>("/console/config")
      .then(setConfig)
      .catch(() => setConfig({ backtest: false, publish: null }));
  }, []);
  useEffect(() => {
    // `tick` moves after an approval, a rejection or a publication: load again at once.
    void tick;
    let live = true;
    const load = () =>
      api<Detail>(path)
        .then((d) => live && setDetail(d))
        .catch((err: unknown) => live && setError((err as Error).message));
    void load();
    // The page follows the read model (a publication shows up a moment after it is sent).
    const timer = setInterval(load, 2_000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [path, tick]);

  const act = async (what: () => Promise<string>) => {
    setBusy(true);
    setMessage(null);
    setError(null);
    try {
      setMessage(await what());
      setTick((t) => t + 1);
    } catch (err) {
      setError(err instanceof ApiFailure ? `${err.code}: ${err.message}` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const review = (decision: "approve" | "reject") =>
    act(async () => {
      await api(`${path}/reviews`, {
        method: "POST",
        body: { decision, ...(note.trim() ? { note: note.trim() } : {}) },
      });
      setNote("");
      return decision === "approve" ? "Approved." : "Rejected.";
    });
  const publish = () =>
    act(async () => {
      const p = await api<{ ruleSetId: string; version: number; keyId: string }>(
        `/console/drafts/${encodeURIComponent(props.draftId)}/publish`,
        { method: "POST", body: {} },
      );
      return `Published ${p.ruleSetId} v${p.version}, signed with key ${p.keyId}; the engine runs it once it has read it.`;
    });

  if (error && !detail)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!detail) return <p>Loading…</p>;
  const d = detail;
  const marketer = canSubmitDrafts(props.session);
  const own = props.session.keyId === d.submittedBy;
  const last = d.reviews.at(-1);
  const publishAllowed =
    config?.publish != null &&
    d.status !== "published" &&
    (config.publish.review === "required" ? last?.decision === "approved" : last?.decision !== "rejected");
  return (
    <section aria-labelledby="review-h">
      <h1 id="review-h">
        Draft {d.ruleSetId} v{d.version}
      </h1>
      <p>
        Status: <strong data-testid="draft-status">{d.status}</strong>
        {config?.publish?.review === "required" &&
          d.status !== "published" &&
          " — publishing needs an approval by a second key"}
      </p>
      <div class="scroll">
        <table id="audit-trail">
          <caption>Audit trail</caption>
          <thead>
            <tr>
              <th scope="col">what</th>
              <th scope="col">by</th>
              <th scope="col">when</th>
              <th scope="col">note</th>
            </tr>
          </thead>
          <tbody>
            <tr data-event="submitted">
              <td>submitted</td>
              <td>key {d.submittedBy}</td>
              <td>{when(d.submittedAt)}</td>
              <td>{d.draftId}</td>
            </tr>
            {d.reviews.map((r) => (
              <tr key={`${r.reviewedAt}-${r.decision}`} data-event={r.decision}>
                <td>{r.decision}</td>
                <td>key {r.reviewedBy}</td>
                <td>{when(r.reviewedAt)}</td>
                <td>{r.note ?? ""}</td>
              </tr>
            ))}
            {d.published && (
              <tr data-event="published">
                <td>published v{d.version}</td>
                <td>{d.published.publisher ?? "(unsigned)"}</td>
                <td>{when(d.published.publishedAt)}</td>
                <td>{d.published.signed ? `signed, key ${d.published.keyId}` : "unsigned"}</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <p>Rules: {(d.ruleSet.rules ?? []).map((r) => `${r.id} v${r.version}`).join(", ")}</p>
      <AgainstPublished ruleSetId={d.ruleSetId} version={d.version} draft={d.ruleSet} />
      {marketer && d.status !== "published" && (
        <div class="review-actions">
          {own ? (
            <p class="hint" data-testid="own-draft">
              You submitted this draft: a second person reviews it.
            </p>
          ) : (
            <>
              <label for="review-note">Review note</label>
              <input
                id="review-note"
                value={note}
                maxLength={500}
                onInput={(e) => setNote(e.currentTarget.value)}
              />
              <button type="button" disabled={busy} onClick={() => review("approve")}>
                Approve
              </button>{" "}
              <button type="button" disabled={busy} onClick={() => review("reject")}>
                Reject
              </button>
            </>
          )}
          {config?.publish != null && (
            <p>
              <button type="button" disabled={busy || !publishAllowed} onClick={publish}>
                Publish
              </button>
            </p>
          )}
        </div>
      )}
      {message && <output class="ok">{message}</output>}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </section>
  );
}
