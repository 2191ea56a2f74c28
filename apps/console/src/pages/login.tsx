import { useState } from "preact/hooks";
import { ApiFailure, type Session, signIn } from "../api.ts";

/** Why a key was refused, in words a marketer can act on. */
export function refusal(err: unknown): string {
  if (err instanceof ApiFailure) {
    if (err.status === 401) return "That key was not accepted: it is unknown, revoked, expired or mistyped.";
    if (err.status === 403) return "That key may not read the console: it needs the read or marketer scope.";
    if (err.status === 429) return "Too many attempts from this address; wait a minute and try again.";
    return `The API could not check the key (${err.code}); try again.`;
  }
  return "The API did not answer; check that it is running.";
}

export function Login(props: { notice: string | null; onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(await signIn(key.trim()));
    } catch (err) {
      setError(refusal(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Loyalty console</h1>
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          aria-describedby={error ? "login-error" : undefined}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {(error ?? props.notice) && (
          <p id="login-error" role="alert" class="error">
            {error ?? props.notice}
          </p>
        )}
      </form>
      <p class="hint">
        Sign in with a member API key that has the <code>marketer</code> scope (or <code>read</code> to look
        only).
        <code>bash infra/bin/run</code> prints one.
      </p>
    </main>
  );
}
