// The metric selectors of a PromQL expression (as Grafana stores it, with $variables), found by
// tokenising it: function and aggregation names, keywords, label lists of by/without/on/
// ignoring/group_left/group_right, strings, numbers and [range] parts are not metrics. Enough
// PromQL for dashboards; not a full parser (no validation of the expression's structure).

export type MatchOp = "=" | "!=" | "=~" | "!~";

export interface Matcher {
  label: string;
  op: MatchOp;
  value: string;
}

export interface Selector {
  /** The metric name as written (a histogram's `_bucket` included). */
  metric: string;
  matchers: Matcher[];
}

type Tok = { k: "id" | "str" | "num" | "op" | "var"; v: string };

const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);
/** Followed by a parenthesised list of label names. */
const LABEL_LIST = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["bool", "offset", "and", "or", "unless", "atan2", "inf", "nan", "Inf", "NaN"]);

export class PromQlError extends Error {}

function tokenise(expr: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "#") {
      while (i < expr.length && expr[i] !== "\n") i++;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let v = "";
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === "\\" && c !== "`") {
          v += expr[j + 1] ?? "";
          j += 2;
        } else v += expr[j++];
      }
      if (j >= expr.length) throw new PromQlError(`unterminated string at ${i} in: ${expr}`);
      out.push({ k: "str", v });
      i = j + 1;
    } else if (c === "[") {
      // A range or subquery: durations and Grafana's $__rate_interval, never a metric.
      const j = expr.indexOf("]", i);
      if (j < 0) throw new PromQlError(`unterminated [ at ${i} in: ${expr}`);
      i = j + 1;
    } else if (c === "$") {
      const m = /^\$(\{[^}]*\}|\w+)/.exec(expr.slice(i));
      if (!m) throw new PromQlError(`stray $ at ${i} in: ${expr}`);
      out.push({ k: "var", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_:]/.test(c)) {
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(expr.slice(i))!;
      out.push({ k: "id", v: m[0] });
      i += m[0].length;
    } else if (/[0-9.]/.test(c)) {
      const m = /^[0-9.][0-9A-Za-z_.+-]*/.exec(expr.slice(i))!;
      // 1e-3 keeps its sign; "5m-3" does not occur in dashboards.
      out.push({ k: "num", v: m[0] });
      i += m[0].length;
    } else {
      const two = expr.slice(i, i + 2);
      if (["=~", "!~", "!=", "==", "<=", ">="].includes(two)) {
        out.push({ k: "op", v: two });
        i += 2;
      } else {
        out.push({ k: "op", v: c });
        i++;
      }
    }
  }
  return out;
}

/** Every selector of the expression, in order. */
export function selectorsOf(expr: string): Selector[] {
  const t = tokenise(expr);
  const out: Selector[] = [];
  const isOp = (j: number, v: string) => t[j]?.k === "op" && t[j]?.v === v;

  /** Parses `{ label op "value", ... }` starting at the `{`; returns the index after `}`. */
  const matchers = (start: number, into: Matcher[]): number => {
    let j = start + 1;
    while (!isOp(j, "}")) {
      const label = t[j];
      const op = t[j + 1];
      const value = t[j + 2];
      if (
        label?.k !== "id" ||
        op?.k !== "op" ||
        value?.k !== "str" ||
        !["=", "!=", "=~", "!~"].includes(op.v)
      )
        throw new PromQlError(`bad label matcher near token ${j} in: ${expr}`);
      into.push({ label: label.v, op: op.v as MatchOp, value: value.v });
      j += 3;
      if (isOp(j, ",")) j++;
    }
    return j + 1;
  };

  for (let j = 0; j < t.length; ) {
    const tok = t[j]!;
    if (tok.k === "id" && LABEL_LIST.has(tok.v)) {
      j++;
      if (isOp(j, "(")) {
        while (j < t.length && !isOp(j, ")")) j++;
        j++;
      }
    } else if (tok.k === "id" && KEYWORDS.has(tok.v)) {
      j++;
    } else if (tok.k === "id" && (isOp(j + 1, "(") || AGGREGATIONS.has(tok.v))) {
      j++; // a function or an aggregation (its `by (...)` is skipped above)
    } else if (tok.k === "id") {
      const s: Selector = { metric: tok.v, matchers: [] };
      j = isOp(j + 1, "{") ? matchers(j + 1, s.matchers) : j + 1;
      out.push(s);
    } else if (tok.k === "op" && tok.v === "{") {
      const s: Selector = { metric: "", matchers: [] };
      j = matchers(j, s.matchers);
      const name = s.matchers.find((m) => m.label === "__name__" && m.op === "=");
      if (!name) throw new PromQlError(`a selector without a metric name in: ${expr}`);
      s.metric = name.value;
      s.matchers = s.matchers.filter((m) => m !== name);
      out.push(s);
    } else {
      j++;
    }
  }
  return out;
}
