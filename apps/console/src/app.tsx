// The console's shell: sign-in gate, navigation and routes (wouter). Every page reads the API
// through api.ts with the signed-in key.
import { useEffect, useState } from "preact/hooks";
import { Link, Redirect, Route, Switch, useLocation } from "wouter-preact";
import { type Session, api, forgetKey, savedKey, whenUnauthorized } from "./api.ts";
import { ChurnPage } from "./pages/churn.tsx";
import { Dashboard } from "./pages/dashboard.tsx";
import { VersionDiff } from "./pages/diff.tsx";
import { DraftEditor } from "./pages/draft.tsx";
import { Login } from "./pages/login.tsx";
import { MemberLookup } from "./pages/member.tsx";
import { DraftReview } from "./pages/review.tsx";
import { RuleSetVersion, RuleSets } from "./pages/rules.tsx";

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(savedKey() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  const [location, navigate] = useLocation();

  useEffect(() => {
    whenUnauthorized((message) => {
      forgetKey();
      setSession(null);
      setNotice(`Signed out: ${message}`);
    });
    const key = savedKey();
    if (key === null) return;
    api<{ keyId: string; scopes: string[] }>("/v1/session", { key })
      .then((who) => setSession({ key, keyId: who.keyId, scopes: who.scopes }))
      .catch(() => forgetKey())
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="loading">Checking your key…</p>;
  if (!session)
    return (
      <Login
        notice={notice}
        onSignedIn={(s) => {
          setNotice(null);
          setSession(s);
          if (location === "/" || location === "/login") navigate("/dashboard");
        }}
      />
    );

  const signOut = () => {
    forgetKey();
    setSession(null);
    navigate("/");
  };
  const nav = [
    ["/dashboard", "Dashboard"],
    ["/rules", "Rules"],
    ["/draft", "Draft editor"],
    ["/members", "Members"],
    ["/churn", "Churn"],
  ] as const;
  return (
    <div class="shell">
      <header>
        <strong class="brand">Loyalty console</strong>
        <nav aria-label="Main">
          {nav.map(([href, label]) => (
            <Link key={href} href={href} aria-current={location.startsWith(href) ? "page" : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <span class="who" title={`key ${session.keyId}`}>
          {session.scopes.join(", ")}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <Switch>
          <Route path="/dashboard">
            <Dashboard />
          </Route>
          <Route path="/rules">
            <RuleSets />
          </Route>
          <Route path="/rules/:ruleSetId/diff/:from/:to">
            {(p) => <VersionDiff ruleSetId={p.ruleSetId} from={p.from} to={p.to} />}
          </Route>
          <Route path="/rules/:ruleSetId/:version">
            {(p) => <RuleSetVersion ruleSetId={p.ruleSetId} version={p.version} />}
          </Route>
          <Route path="/draft">
            <DraftEditor session={session} />
          </Route>
          <Route path="/drafts/:draftId">
            {(p) => <DraftReview session={session} draftId={p.draftId} />}
          </Route>
          <Route path="/churn">
            <ChurnPage />
          </Route>
          <Route path="/members">
            <MemberLookup memberId={null} session={session} />
          </Route>
          <Route path="/members/:memberId">
            {(p) => <MemberLookup memberId={decodeURIComponent(p.memberId)} session={session} />}
          </Route>
          <Route>
            <Redirect to="/dashboard" />
          </Route>
        </Switch>
      </main>
    </div>
  );
}
