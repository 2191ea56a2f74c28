// Problems of a draft rule set as the editor shows them: each with the rule it belongs to (its
// id, when the path is inside rules[i]) and a JSON path like the engine's validator prints
// ($.rules[2].event.params.rate). Pure, so it is unit-tested without a browser.

export interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

export interface Problem {
  ruleId: string | null;
  path: string;
  problem: string;
}

/** "/rules/2/event/params/rate" → "$.rules[2].event.params.rate". */
export function jsonPath(pointer: string, extra?: string): string {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (extra !== undefined) parts.push(extra);
  return `$${parts.map((p) => (/^[0-9]+$/.test(p) ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`)).join("")}`;
}

function ruleIdAt(pointer: string, doc: unknown): string | null {
  const m = /^\/rules\/([0-9]+)(?:\/|$)/.exec(pointer);
  if (!m || typeof doc !== "object" || doc === null) return null;
  const rules = (doc as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) return null;
  const rule = rules[Number(m[1])] as { id?: unknown } | undefined;
  return typeof rule?.id === "string" ? rule.id : `rules[${m[1]}]`;
}

function describe(e: SchemaError): string {
  if (e.keyword === "enum" && Array.isArray(e.params.allowedValues))
    return `must be one of ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
  if (e.keyword === "additionalProperties") return "is not allowed here";
  if (e.keyword === "required") return "is required";
  if (e.keyword === "const") return `must be ${JSON.stringify(e.params.allowedValue)}`;
  return e.message ?? `fails ${e.keyword}`;
}

/**
 * Schema errors → problems, most specific first: a oneOf/anyOf/if that failed only because a
 * branch below it failed adds nothing, so it is dropped when a deeper error is reported.
 */
export function problemsOf(errors: readonly SchemaError[], doc: unknown): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  const combinators = new Set(["oneOf", "anyOf", "if", "not"]);
  for (const e of errors) {
    if (
      combinators.has(e.keyword) &&
      errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath) && !combinators.has(o.keyword))
    )
      continue;
    const named =
      typeof e.params.missingProperty === "string"
        ? e.params.missingProperty
        : typeof e.params.additionalProperty === "string"
          ? e.params.additionalProperty
          : undefined;
    const p: Problem = {
      ruleId: ruleIdAt(e.instancePath, doc),
      path: jsonPath(e.instancePath, named),
      problem: describe(e),
    };
    const k = `${p.path} ${p.problem}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(p);
  }
  return out;
}

/** The draft's text → its problems (a JSON syntax error is one problem at $). */
export function checkDraft(
  text: string,
  validate: ((doc: unknown) => boolean) & { errors?: SchemaError[] | null },
): { doc: unknown; problems: Problem[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return {
      doc: null,
      problems: [{ ruleId: null, path: "$", problem: `not JSON: ${(err as Error).message}` }],
    };
  }
  if (validate(doc)) return { doc, problems: [] };
  return { doc, problems: problemsOf(validate.errors ?? [], doc) };
}
