import { createHash } from "node:crypto";
import { type CompiledRuleSet, compileRuleSet } from "../rules/compile.ts";
import type { Condition, ProgrammeConfig, RuleSet } from "../rules/types.ts";
import { validateRuleSet } from "../rules/validate.ts";

// The published versions of the programme's rule set, in event time. A version is effective
// from its publishedAt; events before the first publication are priced with the first version
// (a replay of history published long after it happened still pays). Pure: no I/O.

export interface PublishedVersion {
  ruleSetId: string;
  version: number;
  publishedAt: number;
  checksum: string;
  ruleSet: RuleSet;
  compiled: CompiledRuleSet;
  /** A purchase rule reads what churn alerts set (see readsChurnFacts): purchases wait for them. */
  readsChurn: boolean;
}

// Facts churn alerts set on a member (the whole member object counts: a path may reach them).
const CHURN_FACTS = new Set(["member", "member.atRisk", "member.segment"]);

function conditionReadsChurn(c: Condition): boolean {
  if ("all" in c) return c.all.some(conditionReadsChurn);
  if ("any" in c) return c.any.some(conditionReadsChurn);
  if ("not" in c) return conditionReadsChurn(c.not);
  const v = c.value;
  const ref = v !== null && typeof v === "object" && !Array.isArray(v) ? v.fact : null;
  return CHURN_FACTS.has(c.fact) || (ref !== null && CHURN_FACTS.has(ref));
}

/**
 * Whether a rule priced at a purchase reads a member's churn state (member.atRisk, member.segment,
 * or segment targeting). Only then must the purchase wait until every alert before it has been
 * read (ADR 12); a rule set without them prices purchases as they come.
 */
export function readsChurnFacts(ruleSet: RuleSet): boolean {
  return ruleSet.rules.some(
    (r) =>
      r.trigger === "order.placed" &&
      r.status === "active" &&
      ((r.targeting?.segments?.length ?? 0) > 0 || conditionReadsChurn(r.conditions)),
  );
}

export function checksumOf(ruleSetJson: string): string {
  return createHash("sha256").update(ruleSetJson, "utf8").digest("hex");
}

export type AddOutcome = "added" | "duplicate" | "conflict" | "invalid" | "other-id";

export class RuleSetRegistry {
  /** Sorted by version ascending. */
  private versions: PublishedVersion[] = [];
  /** Rule ids that have a budget in any version (their budget rows are shared across versions). */
  readonly budgeted = new Map<string, number>();

  constructor(
    readonly ruleSetId: string,
    readonly programme: ProgrammeConfig,
  ) {}

  get size(): number {
    return this.versions.length;
  }

  get latest(): PublishedVersion | undefined {
    return this.versions[this.versions.length - 1];
  }

  all(): readonly PublishedVersion[] {
    return this.versions;
  }

  /**
   * Adds a publication. The first publication of a version wins: a second one with the same
   * version (two instances bootstrapping at once) is a duplicate if identical, a conflict if not.
   */
  add(p: {
    ruleSetId: string;
    version: number;
    publishedAt: number;
    checksum: string;
    ruleSetJson: string;
  }): {
    outcome: AddOutcome;
    detail?: string;
  } {
    if (p.ruleSetId !== this.ruleSetId) return { outcome: "other-id" };
    const existing = this.versions.find((v) => v.version === p.version);
    if (existing) return { outcome: existing.checksum === p.checksum ? "duplicate" : "conflict" };
    if (checksumOf(p.ruleSetJson) !== p.checksum) return { outcome: "invalid", detail: "checksum mismatch" };
    let json: unknown;
    try {
      json = JSON.parse(p.ruleSetJson);
    } catch (err) {
      return { outcome: "invalid", detail: `not JSON: ${(err as Error).message}` };
    }
    const v = validateRuleSet(json, this.programme);
    if (!v.ok)
      return {
        outcome: "invalid",
        detail: v.errors.map((e) => `${e.ruleId} ${e.path} ${e.problem}`).join("; "),
      };
    if (v.ruleSet.id !== p.ruleSetId || v.ruleSet.version !== p.version)
      return { outcome: "invalid", detail: "id/version in the JSON differ from the record" };
    const compiled = compileRuleSet(v.ruleSet, this.programme);
    this.versions.push({
      ruleSetId: p.ruleSetId,
      version: p.version,
      publishedAt: p.publishedAt,
      checksum: p.checksum,
      ruleSet: v.ruleSet,
      compiled,
      readsChurn: readsChurnFacts(v.ruleSet),
    });
    this.versions.sort((a, b) => a.version - b.version);
    for (const r of compiled.rules) if (r.budgetPoints !== null) this.budgeted.set(r.id, r.budgetPoints);
    return { outcome: "added" };
  }

  /** The version in effect at event time `t`: the highest version published at or before t. */
  at(t: number): PublishedVersion | undefined {
    let chosen = this.versions[0];
    for (const v of this.versions) if (v.publishedAt <= t && v.version > (chosen?.version ?? 0)) chosen = v;
    return chosen;
  }

  byVersion(version: number): PublishedVersion | undefined {
    return this.versions.find((v) => v.version === version);
  }
}
