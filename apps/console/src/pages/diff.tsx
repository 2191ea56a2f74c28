// Two versions of a rule set side by side, JSON path by JSON path (src/diff.ts): which rules were
// added, removed or changed (and a warning when a rule's content changed but its version did not),
// then every changed path with its value before and after. Also used on a draft's review page
// against the version it would replace.
import { useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { type RuleSetDiff, diffRuleSets } from "../diff.ts";
import { useApi } from "../hooks.tsx";

const show = (v: unknown) => (v === undefined ? "" : JSON.stringify(v));

export function DiffView(props: { before: unknown; after: unknown; label: string }) {
  const d: RuleSetDiff = diffRuleSets(props.before, props.after);
  const changes = [...d.ruleSet, ...d.rules.flatMap((r) => r.changes)];
  return (
    <div data-testid="diff">
      {d.rules.length === 0 && d.ruleSet.length === 0 && <p>No differences.</p>}
      {d.rules.length > 0 && (
        <div class="scroll">
          <table id="diff-rules">
            <caption>Rules changed ({props.label})</caption>
            <thead>
              <tr>
                <th scope="col">rule</th>
                <th scope="col">change</th>
                <th scope="col">version</th>
              </tr>
            </thead>
            <tbody>
              {d.rules.map((r) => (
                <tr key={r.ruleId} data-rule={r.ruleId} data-kind={r.kind}>
                  <th scope="row">{r.ruleId}</th>
                  <td>{r.kind}</td>
                  <td>
                    {r.from === null ? "—" : `v${r.from}`} → {r.to === null ? "—" : `v${r.to}`}
                    {r.versionUnchanged && <strong class="error"> content changed, version did not</strong>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {changes.length > 0 && (
        <div class="scroll">
          <table id="diff-paths">
            <caption>Every changed path</caption>
            <thead>
              <tr>
                <th scope="col">path</th>
                <th scope="col">before</th>
                <th scope="col">after</th>
              </tr>
            </thead>
            <tbody>
              {changes.map((c) => (
                <tr key={c.path} data-path={c.path} data-kind={c.kind}>
                  <td>
                    <code>{c.path}</code>
                  </td>
                  <td class="why">{show(c.before)}</td>
                  <td class="why">{show(c.after)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

interface Version {
  ruleSet: unknown;
}

export function VersionDiff(props: { ruleSetId: string; from: string; to: string }) {
  const base = `/v1/rulesets/${encodeURIComponent(props.ruleSetId)}/versions/`;
  const a = useApi<Version>(`${base}${encodeURIComponent(props.from)}`);
  const b = useApi<Version>(`${base}${encodeURIComponent(props.to)}`);
  const [, navigate] = useLocation();
  const [from, setFrom] = useState(props.from);
  const [to, setTo] = useState(props.to);
  return (
    <section aria-labelledby="diff-h">
      <h1 id="diff-h">
        {props.ruleSetId}: v{props.from} → v{props.to}
      </h1>
      <p>
        <Link href={`/rules/${encodeURIComponent(props.ruleSetId)}/${props.to}`}>Back to v{props.to}</Link>
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/rules/${encodeURIComponent(props.ruleSetId)}/diff/${from}/${to}`);
        }}
      >
        <label for="diff-from">From version</label>
        <input
          id="diff-from"
          inputMode="numeric"
          value={from}
          onInput={(e) => setFrom(e.currentTarget.value)}
        />
        <label for="diff-to">To version</label>
        <input id="diff-to" inputMode="numeric" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        <button type="submit">Compare</button>
      </form>
      {(a.state === "loading" || b.state === "loading") && <p>Loading…</p>}
      {(a.state === "error" || b.state === "error") && (
        <p role="alert" class="error">
          {a.state === "error" ? a.message : b.state === "error" ? b.message : ""}
        </p>
      )}
      {a.state === "ok" && b.state === "ok" && (
        <DiffView before={a.data.ruleSet} after={b.data.ruleSet} label={`v${props.from} → v${props.to}`} />
      )}
    </section>
  );
}
