import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_AMOUNT_LIMITS, amountLimitProblems } from "../rules/amounts.ts";
import type { ProgrammeConfig } from "../rules/types.ts";

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

// Rule-set directories on disk (rules/standard/ and the drafts marketing teams edit):
// `ruleset.json` (FORMAT.md) and optionally `programme.json` (base currency, exponent, time
// zone, point value for liability, amount limits: src/rules/amounts.ts).

export interface ProgrammeFile extends ProgrammeConfig {
  /** Value of one point in minor units of the base currency, for liability. */
  pointValueMinor: string;
}

export const DEFAULT_PROGRAMME: ProgrammeFile = {
  baseCurrency: "USD",
  currencyExponent: 2,
  timeZone: "America/New_York",
  pointValueMinor: "1",
  ...DEFAULT_AMOUNT_LIMITS,
};

/** The repository root: the nearest ancestor holding pnpm-workspace.yaml. */
export function repoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`);
    dir = up;
  }
}

export const STANDARD_RULES_DIR = (): string => join(repoRoot(), "rules", "standard");

export interface RuleSetSource {
  /** The parsed, not yet validated, JSON. */
  json: unknown;
  path: string;
  programme: ProgrammeFile;
}

/** Reads DIR/ruleset.json (+ DIR/programme.json) or a single rule-set FILE. */
export function readRuleSetSource(pathOrDir: string): RuleSetSource {
  const abs = resolve(pathOrDir);
  if (!existsSync(abs)) throw new Error(`${pathOrDir}: no such file or directory`);
  const isDir = statSync(abs).isDirectory();
  const file = isDir ? join(abs, "ruleset.json") : abs;
  if (!existsSync(file)) throw new Error(`${pathOrDir}: no ruleset.json in this directory`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const programmeFile = join(isDir ? abs : dirname(abs), "programme.json");
  let programme = DEFAULT_PROGRAMME;
  if (existsSync(programmeFile)) {
    const p = JSON.parse(readFileSync(programmeFile, "utf8")) as Partial<ProgrammeFile>;
    const problems = isObject(p) ? amountLimitProblems(p) : ["must be a JSON object"];
    if (problems.length > 0) throw new Error(`${programmeFile}: ${problems.join("; ")}`);
    programme = { ...DEFAULT_PROGRAMME, ...p };
  }
  return { json, path: file, programme };
}
