// ADR 16 steps 3 and 5: the API reads no other service's tables. What it needs of the rules
// engine, the tier evaluator and churn-alert arrives on their topics (read models: api_points_*,
// api_rule_sets, api_tier_changes, api_churn_alerts) or through their HTTP APIs. This scans every
// source file of services/api/src for a table name of theirs outside comments; no exception.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src", import.meta.url));

/**
 * Tables of the tier evaluator (tier_*), churn-alert (churn_*) and the rules engine (rules_*,
 * rule_sets, ledger_*).
 */
const FOREIGN =
  /\b(?:tier_[a-z][a-z0-9_]*|churn_[a-z][a-z0-9_]*|rules_[a-z][a-z0-9_]*|rule_sets|ledger_[a-z][a-z0-9_]*)\b/g;

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
      foreignTables("`select balance from ledger_balances b join ledger_lots l using (member_id)`"),
    ).toEqual(["ledger_balances", "ledger_lots"]);
    expect(
      foreignTables(
        "// reads no churn_members\n/* nor rule_sets */\nconst q = `select * from api_tier_changes, api_churn_alerts, api_rule_sets, api_ledger_commands, api_points_lots`; // not tier_members",
      ),
    ).toEqual([]);
  });

  it("no source file names tier_*, churn_*, rules_*, rule_sets or ledger_*", () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(20);
    const offenders = files
      .map((f) => ({ file: relative(SRC, f), tables: foreignTables(readFileSync(f, "utf8")) }))
      .filter((o) => o.tables.length > 0);
    expect(offenders).toEqual([]);
  });
});
