// Simulate one order against the draft in the editor: the console's server prices it with the
// rules engine (server/simulate.ts) and answers each rule's outcome and why, with every condition's
// result and the fact's value. Nothing is written.
import { useState } from "preact/hooks";
import { ApiFailure, api } from "../api.ts";

interface Check {
  at: string;
  fact: string;
  operator: string;
  value: unknown;
  actual: unknown;
  result: boolean;
}
interface Explained {
  ruleId: string;
  version: number;
  outcome: string;
  points: number;
  why: string;
  conditions: Check[];
}
interface Answer {
  eventTime: string;
  totalPoints: number;
  rules: Explained[];
}

export function SimulatePanel(props: { draft: unknown; disabled: boolean }) {
  const [amount, setAmount] = useState("42.50");
  const [placedAt, setPlacedAt] = useState(new Date().toISOString().slice(0, 16));
  const [tier, setTier] = useState("member");
  const [orderCount, setOrderCount] = useState("0");
  const [categories, setCategories] = useState("");
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async () => {
    setBusy(true);
    setError(null);
    setAnswer(null);
    try {
      const minor = Math.round(Number(amount) * 100);
      const cats = categories
        .split(",")
        .map((c) => c.trim())
        .filter((c) => c !== "");
      setAnswer(
        await api<Answer>("/console/simulate", {
          method: "POST",
          body: {
            draft: props.draft,
            order: {
              placedAt: new Date(`${placedAt}Z`).toISOString(),
              amountMinor: minor,
              currency: "USD",
              channel: "web",
              lines: cats.map((category, i) => ({
                sku: `sku-${i + 1}`,
                category,
                quantity: 1,
                unitPriceMinor: Math.floor(minor / cats.length),
              })),
            },
            member: { tier, orderCount: Number(orderCount), lifetimeSpendMinor: 0 },
          },
        }),
      );
    } catch (err) {
      setError(err instanceof ApiFailure ? `${err.code}: ${err.message}` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="simulate-h" class="backtest">
      <h2 id="simulate-h">Simulate one order</h2>
      <div class="row">
        <label>
          Amount (USD)
          <input inputMode="decimal" value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        </label>
        <label>
          Placed at (UTC)
          <input type="datetime-local" value={placedAt} onInput={(e) => setPlacedAt(e.currentTarget.value)} />
        </label>
        <label>
          Member tier
          <input value={tier} onInput={(e) => setTier(e.currentTarget.value)} />
        </label>
        <label>
          Orders before
          <input
            inputMode="numeric"
            value={orderCount}
            onInput={(e) => setOrderCount(e.currentTarget.value)}
          />
        </label>
        <label>
          Categories (comma-separated)
          <input value={categories} onInput={(e) => setCategories(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={run} disabled={busy || props.disabled}>
          Simulate
        </button>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {answer && (
        <div data-testid="simulation" aria-live="polite">
          <p>
            {answer.totalPoints} points at {answer.eventTime}.
          </p>
          <div class="scroll">
            <table id="simulation-rules">
              <caption>Each rule's effect</caption>
              <thead>
                <tr>
                  <th scope="col">rule</th>
                  <th scope="col">outcome</th>
                  <th scope="col">points</th>
                  <th scope="col">why</th>
                </tr>
              </thead>
              <tbody>
                {answer.rules.map((r) => (
                  <tr key={r.ruleId} data-rule={r.ruleId} data-outcome={r.outcome}>
                    <th scope="row">
                      {r.ruleId} v{r.version}
                    </th>
                    <td>{r.outcome}</td>
                    <td data-col="points">{r.points}</td>
                    <td class="why">
                      {r.why}
                      {r.conditions.length > 0 && (
                        <ul>
                          {r.conditions.map((c) => (
                            <li key={c.at}>
                              {c.result ? "✓" : "✗"} <code>{c.fact}</code> {c.operator}{" "}
                              {JSON.stringify(c.value)} (is {JSON.stringify(c.actual)})
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}
