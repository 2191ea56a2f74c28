// Two versions of a rule set compared JSON path by JSON path. Pure, no DOM: rules are matched by
// id (their position may move), so a change reads `$.rules[id=base-points].event.params.rate`;
// other arrays (conditions, categories) element by element. Each rule is also summarised as
// added, removed or changed, with a warning when its content changed but its version did not
// (the engine's ledger keeps the rule version, so an unchanged version hides the change).

export interface Change {
  path: string;
  kind: "added" | "removed" | "changed";
  before?: unknown;
  after?: unknown;
}

export interface RuleChange {
  ruleId: string;
  kind: "added" | "removed" | "changed";
  from: number | null;
  to: number | null;
  /** Content changed, version did not. */
  versionUnchanged: boolean;
  changes: Change[];
}

export interface RuleSetDiff {
  /** Changes outside the rules (description, version). */
  ruleSet: Change[];
  rules: RuleChange[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function walk(a: unknown, b: unknown, path: string, out: Change[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const p = `${path}[${i}]`;
      if (i >= a.length) out.push({ path: p, kind: "added", after: b[i] });
      else if (i >= b.length) out.push({ path: p, kind: "removed", before: a[i] });
      else walk(a[i], b[i], p, out);
    }
    return;
  }
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const p = `${path}.${k}`;
      if (!Object.hasOwn(a, k)) out.push({ path: p, kind: "added", after: b[k] });
      else if (!Object.hasOwn(b, k)) out.push({ path: p, kind: "removed", before: a[k] });
      else walk(a[k], b[k], p, out);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, kind: "changed", before: a, after: b });
}

interface RuleLike {
  id: string;
  version?: number;
  [k: string]: unknown;
}

function rulesOf(rs: unknown): RuleLike[] {
  const rules = isObject(rs) ? rs.rules : undefined;
  return Array.isArray(rules)
    ? rules.filter((r): r is RuleLike => isObject(r) && typeof r.id === "string")
    : [];
}

export function diffRuleSets(before: unknown, after: unknown): RuleSetDiff {
  const ruleSet: Change[] = [];
  const strip = (rs: unknown) => {
    if (!isObject(rs)) return {};
    const { rules: _rules, ...rest } = rs;
    return rest;
  };
  walk(strip(before), strip(after), "$", ruleSet);
  const a = new Map(rulesOf(before).map((r) => [r.id, r]));
  const b = new Map(rulesOf(after).map((r) => [r.id, r]));
  const rules: RuleChange[] = [];
  for (const id of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(id);
    const y = b.get(id);
    const path = `$.rules[id=${id}]`;
    if (x === undefined && y !== undefined)
      rules.push({
        ruleId: id,
        kind: "added",
        from: null,
        to: y.version ?? null,
        versionUnchanged: false,
        changes: [],
      });
    else if (y === undefined && x !== undefined)
      rules.push({
        ruleId: id,
        kind: "removed",
        from: x.version ?? null,
        to: null,
        versionUnchanged: false,
        changes: [],
      });
    else if (x !== undefined && y !== undefined) {
      const changes: Change[] = [];
      walk(x, y, path, changes);
      if (changes.length === 0) continue;
      const contentChanged = changes.some((c) => c.path !== `${path}.version`);
      rules.push({
        ruleId: id,
        kind: "changed",
        from: x.version ?? null,
        to: y.version ?? null,
        versionUnchanged: contentChanged && x.version === y.version,
        changes,
      });
    }
  }
  return { ruleSet, rules };
}
