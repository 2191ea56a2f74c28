// The draft editor: a rule set's JSON, checked in the browser on every edit against
// schemas/ruleset.schema.json (compiled at build time, see vite.config.ts), each problem shown
// with its rule and path. A marketer key submits it; the API checks it again with the rules
// engine's own validator, which knows more than the schema (duplicate ids, rates, groups).
import validate from "virtual:ruleset-validator";
import { useEffect, useMemo, useState } from "preact/hooks";
import { Link, useSearch } from "wouter-preact";
import { ApiFailure, type Session, api, canSubmitDrafts } from "../api.ts";
import { type Problem, checkDraft } from "../validate.ts";
import { BacktestPanel } from "./backtest.tsx";
import { SimulatePanel } from "./simulate.tsx";

interface Listing {
  ruleSets: { ruleSetId: string; versions: { version: number }[] }[];
}

function ProblemList(props: { id: string; title: string; problems: Problem[] }) {
  return (
    <div class="problems">
      <h2 id={`${props.id}-h`}>{props.title}</h2>
      <ul id={props.id} aria-labelledby={`${props.id}-h`}>
        {props.problems.map((p) => (
          <li key={`${p.path} ${p.problem}`} data-path={p.path} data-rule={p.ruleId ?? ""}>
            {p.ruleId !== null && (
              <>
                rule <code>{p.ruleId}</code>,{" "}
              </>
            )}
            <code>{p.path}</code>: {p.problem}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function DraftEditor(props: { session: Session }) {
  const search = useSearch();
  const from = new URLSearchParams(search).get("from");
  const [text, setText] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{
    ok: boolean;
    message: string;
    problems: Problem[];
    draftId?: string;
  } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    (async () => {
      let source = from;
      if (source === null) {
        const l = await api<Listing>("/v1/rulesets");
        const first = l.ruleSets.find((s) => s.versions.length > 0);
        const newest = first?.versions[0];
        source = first && newest ? `${first.ruleSetId}/${newest.version}` : null;
      }
      if (source === null) return '{\n  "id": "my-programme",\n  "version": 1,\n  "rules": []\n}';
      const [id, version] = source.split("/");
      const v = await api<{ ruleSet: { version?: number } }>(
        `/v1/rulesets/${encodeURIComponent(id ?? "")}/versions/${encodeURIComponent(version ?? "")}`,
      );
      // A draft is the next version of what it starts from.
      const next = { ...v.ruleSet, version: (v.ruleSet.version ?? 0) + 1 };
      return JSON.stringify(next, null, 2);
    })()
      .then((t) => live && setText(t))
      .catch((err: unknown) => live && setLoadError((err as Error).message));
    return () => {
      live = false;
    };
  }, [from]);

  const checked = useMemo(() => (text === null ? null : checkDraft(text, validate)), [text]);
  const mayPublish = canSubmitDrafts(props.session);

  const submit = async () => {
    if (!checked || checked.problems.length > 0) return;
    setBusy(true);
    setOutcome(null);
    try {
      const d = await api<{ draftId: string; ruleSetId: string; version: number }>("/v1/rulesets/drafts", {
        method: "POST",
        body: { ruleSet: checked.doc },
      });
      setOutcome({
        ok: true,
        message: `Draft ${d.draftId} (${d.ruleSetId} v${d.version}) submitted.`,
        problems: [],
        draftId: d.draftId,
      });
    } catch (err) {
      const problems =
        err instanceof ApiFailure
          ? (((err.body as { error?: { errors?: Problem[] } } | null)?.error?.errors ?? []) as Problem[])
          : [];
      setOutcome({ ok: false, message: (err as Error).message, problems });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="draft-h">
      <h1 id="draft-h">Draft editor</h1>
      {loadError && (
        <p role="alert" class="error">
          {loadError}
        </p>
      )}
      {text === null && !loadError && <p>Loading…</p>}
      {text !== null && checked && (
        <div class="editor">
          <label for="draft-json">Draft rule set (JSON)</label>
          <textarea
            id="draft-json"
            spellcheck={false}
            rows={16}
            value={text}
            onInput={(e) => {
              setText(e.currentTarget.value);
              setOutcome(null);
            }}
            aria-describedby="draft-status"
          />
          <output id="draft-status" class={checked.problems.length ? "error" : "ok"}>
            {checked.problems.length === 0
              ? "No problems found by the schema."
              : `${checked.problems.length} problem(s) found by the schema.`}
          </output>
          {checked.problems.length > 0 && (
            <ProblemList id="draft-problems" title="Problems" problems={checked.problems} />
          )}
          {mayPublish ? (
            <button type="button" onClick={submit} disabled={busy || checked.problems.length > 0}>
              Submit for publishing
            </button>
          ) : (
            <p class="hint" data-testid="read-only">
              This key can read only: drafts are submitted for publishing with a <code>marketer</code> key.
            </p>
          )}
          {outcome && (
            <div role="alert" class={outcome.ok ? "ok" : "error"}>
              <p>
                {outcome.message}{" "}
                {outcome.draftId && <Link href={`/drafts/${outcome.draftId}`}>Review and publish</Link>}
              </p>
              {outcome.problems.length > 0 && (
                <ProblemList
                  id="server-problems"
                  title="The rules engine's validator"
                  problems={outcome.problems}
                />
              )}
            </div>
          )}
          <SimulatePanel draft={checked.doc} disabled={checked.problems.length > 0} />
          {mayPublish && <BacktestPanel draft={checked.doc} disabled={checked.problems.length > 0} />}
        </div>
      )}
    </section>
  );
}
