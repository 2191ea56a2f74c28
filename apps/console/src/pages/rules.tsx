import { Link } from "wouter-preact";
import { useApi, when } from "../hooks.tsx";

interface VersionInfo {
  version: number;
  publishedAt: string;
  publisher: string | null;
  keyId: string | null;
  signed: boolean;
  checksum: string;
  description: string | null;
  ruleCount: number;
}
interface DraftInfo {
  draftId: string;
  ruleSetId: string;
  version: number;
  submittedBy: string;
  submittedAt: string;
}
interface Listing {
  ruleSets: { ruleSetId: string; versions: VersionInfo[]; drafts: DraftInfo[] }[];
}

export function RuleSets() {
  const r = useApi<Listing>("/v1/rulesets");
  return (
    <section aria-labelledby="rules-h">
      <h1 id="rules-h">Rule sets</h1>
      <p class="hint">
        As published on <code>loyalty.rules.v1</code>; signatures are checked by the rules engine.{" "}
        <Link href="/draft">Open the draft editor</Link>.
      </p>
      {r.state === "loading" && <p>Loading…</p>}
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && r.data.ruleSets.length === 0 && <p>No rule set has been published yet.</p>}
      {r.state === "ok" &&
        r.data.ruleSets.map((s) => (
          <article key={s.ruleSetId} class="card" data-ruleset={s.ruleSetId}>
            <h2>{s.ruleSetId}</h2>
            <div class="scroll">
              <table>
                <caption class="sr-only">Versions of {s.ruleSetId}</caption>
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Published</th>
                    <th scope="col">Publisher</th>
                    <th scope="col">Rules</th>
                    <th scope="col">Signed</th>
                  </tr>
                </thead>
                <tbody>
                  {s.versions.map((v) => (
                    <tr key={v.version}>
                      <td>
                        <Link href={`/rules/${encodeURIComponent(s.ruleSetId)}/${v.version}`}>
                          v{v.version}
                        </Link>
                      </td>
                      <td>{when(v.publishedAt)}</td>
                      <td>{v.publisher ?? "—"}</td>
                      <td>{v.ruleCount}</td>
                      <td>{v.signed ? `yes (key ${v.keyId})` : "no"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {s.drafts.length > 0 && (
              <>
                <h3>Drafts submitted for publishing</h3>
                <ul>
                  {s.drafts.map((d) => (
                    <li key={d.draftId}>
                      <Link href={`/drafts/${d.draftId}`}>v{d.version}</Link> by key {d.submittedBy} at{" "}
                      {when(d.submittedAt)} ({d.draftId})
                    </li>
                  ))}
                </ul>
              </>
            )}
          </article>
        ))}
    </section>
  );
}

interface Rule {
  id: string;
  version: number;
  name?: string;
  status?: string;
  trigger?: string;
  priority?: number;
  event?: { type?: string };
}

export function RuleSetVersion(props: { ruleSetId: string; version: string }) {
  const r = useApi<VersionInfo & { ruleSetId: string; ruleSet: { rules?: Rule[] } }>(
    `/v1/rulesets/${encodeURIComponent(props.ruleSetId)}/versions/${encodeURIComponent(props.version)}`,
  );
  return (
    <section aria-labelledby="version-h">
      <h1 id="version-h">
        {props.ruleSetId} v{props.version}
      </h1>
      <p>
        <Link href="/rules">All rule sets</Link> ·{" "}
        <Link href={`/draft?from=${encodeURIComponent(props.ruleSetId)}/${props.version}`}>
          Start a draft from this version
        </Link>
        {Number(props.version) > 1 && (
          <>
            {" "}
            ·{" "}
            <Link
              href={`/rules/${encodeURIComponent(props.ruleSetId)}/diff/${Number(props.version) - 1}/${props.version}`}
            >
              Compare with v{Number(props.version) - 1}
            </Link>
          </>
        )}
      </p>
      {r.state === "loading" && <p>Loading…</p>}
      {r.state === "error" && (
        <p role="alert" class="error">
          {r.message}
        </p>
      )}
      {r.state === "ok" && (
        <>
          <dl class="facts">
            <dt>Published</dt>
            <dd>{when(r.data.publishedAt)}</dd>
            <dt>Publisher</dt>
            <dd>{r.data.publisher ?? "—"}</dd>
            <dt>Checksum</dt>
            <dd>
              <code>{r.data.checksum.slice(0, 16)}…</code>
            </dd>
            <dt>Description</dt>
            <dd>{r.data.description ?? "—"}</dd>
          </dl>
          <div class="scroll">
            <table>
              <caption>Rules</caption>
              <thead>
                <tr>
                  <th scope="col">Rule</th>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Trigger</th>
                  <th scope="col">Effect</th>
                  <th scope="col">Priority</th>
                </tr>
              </thead>
              <tbody>
                {(r.data.ruleSet.rules ?? []).map((x) => (
                  <tr key={x.id}>
                    <td>
                      <code>{x.id}</code> v{x.version}
                    </td>
                    <td>{x.name ?? ""}</td>
                    <td>{x.status ?? ""}</td>
                    <td>{x.trigger ?? ""}</td>
                    <td>{x.event?.type ?? ""}</td>
                    <td>{x.priority ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <details>
            <summary>JSON</summary>
            <pre>{JSON.stringify(r.data.ruleSet, null, 2)}</pre>
          </details>
        </>
      )}
    </section>
  );
}
