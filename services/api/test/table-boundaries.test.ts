// ADR 16 step 5: the API reads no other service's tables. What it needs of the rules engine, the
// tier evaluator and churn-alert arrives on their topics (read models: api_rule_sets,
// api_tier_changes, api_churn_alerts) or through their HTTP APIs. This scans every source file
// of services/api/src for a table name of theirs outside comments.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src", import.meta.url));

/** Tables of the tier evaluator (tier_*), churn-alert (churn_*) and the rules engine (rules_*, rule_sets). */
const FOREIGN = /\b(?:tier_[a-z][a-z0-9_]*|churn_[a-z][a-z0-9_]*|rules_[a-z][a-z0-9_]*|rule_sets)\b/g;

/**
 * Known and owned elsewhere: store/ledger.ts is rewritten by the ledger-commands work (ADR 16 step
 * 3, branch ledger-commands), which decides how the API tells a member exists; it is not edited here.
 */
const ALLOWED: Record<string, readonly string[]> = { "store/ledger.ts": ["rules_members"] };

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|tsx|sql)$/.test(name)) out.push(path);
  }
  return out;
}

/** The code without comments (block comments, lines that are comments, trailing `// ...`). */
function withoutComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .filter((l) => !/^\s*(?:\/\/|--)/.test(l))
    .map((l) => l.replace(/\s\/\/\s.*$/, ""))
    .join("\n");
}

function foreignTables(text: string): string[] {
  return [...new Set(withoutComments(text).match(FOREIGN) ?? [])].sort();
}

describe("services/api/src names no table of another service", () => {
  it("the scanner finds a foreign table in SQL and ignores comments and the API's own tables", () => {
    expect(foreignTables('await db.query("select tier from tier_members where member_id = $1")')).toEqual([
      "tier_members",
    ]);
    expect(foreignTables("`select * from churn_engine e join rule_sets s on true, rules_members`")).toEqual([
      "churn_engine",
      "rule_sets",
      "rules_members",
    ]);
    expect(
      foreignTables(
        "// reads no churn_members\n/* nor rule_sets */\nconst q = `select * from api_tier_changes, api_churn_alerts, api_rule_sets`; // not tier_members",
      ),
    ).toEqual([]);
  });

  it("no source file names tier_*, churn_*, rules_* or rule_sets (outside the listed exception)", () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(20);
    const offenders = files
      .map((f) => {
        const rel = relative(SRC, f);
        const allowed = ALLOWED[rel] ?? [];
        return {
          file: rel,
          tables: foreignTables(readFileSync(f, "utf8")).filter((t) => !allowed.includes(t)),
        };
      })
      .filter((o) => o.tables.length > 0);
    expect(offenders).toEqual([]);
  });
});
