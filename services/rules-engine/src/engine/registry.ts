import { createHash } from "node:crypto";
import type { DlqReasonCode, RuleSetPublished } from "@loyalty/contracts";
import { type CompiledRuleSet, compileRuleSet } from "../rules/compile.ts";
import type { Condition, ProgrammeConfig, RuleSet } from "../rules/types.ts";
import { validateRuleSet } from "../rules/validate.ts";

// The published versions of the programme's rule set, in event time. A version is effective
// from its effectiveAt: the engine's own stream time when it first accepted the publication
// (src/rulesets/feed.ts), never the publisher's clock; events before the first version's are
// priced with the first version (a replay of history published long after it happened still
// pays). admit() is the acceptance rule for publications read from loyalty.rules.v1: signed by
// a trusted key, a version greater than the one running, valid. Pure: no I/O.

/** Who published a version, what was signed, and where it was read (the audit trail). */
export interface PublicationAudit {
  publisher: string;
  keyId: string;
  /** sha256 (hex) of the signed statement. */
  digest: string;
  /** The Ed25519 signature of the digest. */
  signature: Buffer;
  /** The publisher's claimed time (its clock): recorded, never used for pricing. */
  publishedAt: number;
  /** Where the accepted record sits on loyalty.rules.v1. */
  partition: number;
  offset: string;
}

export interface PublishedVersion {
  ruleSetId: string;
  version: number;
  /** Event time from which this version prices (stream time when the engine accepted it). */
  effectiveAt: number;
  checksum: string;
  /** Null for versions added without a publication (drafts, backtests, rows stored before signing). */
  audit: PublicationAudit | null;
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

/** A version ready to install, prepared (validated and compiled) by admit(). */
export interface Candidate {
  ruleSetId: string;
  version: number;
  checksum: string;
  ruleSetJson: string;
  ruleSet: RuleSet;
  compiled: CompiledRuleSet;
  audit: PublicationAudit;
}

/** What the engine does with a publication read from loyalty.rules.v1. */
export type Admission =
  /** Another programme's rule set: not this engine's business. */
  | { kind: "other-id" }
  /** The very record this version was accepted from, read again (a restart re-reads the topic). */
  | { kind: "already-running" }
  | { kind: "accept"; candidate: Candidate }
  /** Dead-lettered with this code; the running rules do not change. */
  | { kind: "reject"; code: DlqReasonCode; detail: string };

/** A signature check (src/rulesets/signing.ts verifyPublication), passed in to keep this pure. */
export type VerifyFn = (
  p: RuleSetPublished,
) =>
  | { ok: true; keyId: string; publisher: string; digest: string }
  | { ok: false; code: DlqReasonCode; detail: string };

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
   * Adds a trusted version: one the engine accepted before (its rule_sets rows), a draft or a
   * backtest's sides. The first add of a version wins: a second one with the same version is a
   * duplicate if identical, a conflict if not. Publications read from the topic go through
   * admit() and install() instead.
   */
  add(p: {
    ruleSetId: string;
    version: number;
    effectiveAt: number;
    checksum: string;
    ruleSetJson: string;
    audit?: PublicationAudit | null;
  }): {
    outcome: AddOutcome;
    detail?: string;
  } {
    if (p.ruleSetId !== this.ruleSetId) return { outcome: "other-id" };
    const existing = this.versions.find((v) => v.version === p.version);
    if (existing) return { outcome: existing.checksum === p.checksum ? "duplicate" : "conflict" };
    const prepared = this.prepare(p);
    if (!prepared.ok) return { outcome: "invalid", detail: prepared.detail };
    this.put({ ...prepared, audit: p.audit ?? null }, p.effectiveAt);
    return { outcome: "added" };
  }

  /**
   * The acceptance rule for a publication read at (partition, offset) of loyalty.rules.v1, in
   * order: another id is ignored; unsigned, unknown key or bad signature is refused; a version
   * already running is the same record read again (ignored) or a replay (refused); a version
   * below the newest running is refused; then the rule set must be valid. Changes nothing:
   * install() does, with the effective time the caller took from its stream time.
   */
  admit(p: RuleSetPublished, at: { partition: number; offset: string }, verify: VerifyFn): Admission {
    if (p.ruleSetId !== this.ruleSetId) return { kind: "other-id" };
    const sig = verify(p);
    if (!sig.ok) return { kind: "reject", code: sig.code, detail: sig.detail };
    const known = this.byVersion(p.version);
    if (known) {
      const same = known.audit
        ? known.audit.digest === sig.digest &&
          known.audit.partition === at.partition &&
          known.audit.offset === at.offset
        : false;
      if (same) return { kind: "already-running" };
      return {
        kind: "reject",
        code: "RULESET_REPLAYED",
        detail:
          known.checksum === p.checksum
            ? `v${p.version} is already running, accepted from another record`
            : `v${p.version} is already running with other content`,
      };
    }
    const latest = this.latest;
    if (latest && p.version < latest.version)
      return {
        kind: "reject",
        code: "RULESET_VERSION_NOT_GREATER",
        detail: `v${p.version} is not greater than the running v${latest.version}`,
      };
    const prepared = this.prepare(p);
    if (!prepared.ok) return { kind: "reject", code: "RULESET_INVALID", detail: prepared.detail };
    return {
      kind: "accept",
      candidate: {
        ...prepared,
        audit: {
          publisher: sig.publisher,
          keyId: sig.keyId,
          digest: sig.digest,
          signature: p.signature ?? Buffer.alloc(0),
          publishedAt: p.publishedAt,
          partition: at.partition,
          offset: at.offset,
        },
      },
    };
  }

  /**
   * The effective time for a version accepted now, at stream time `streamTime`: never before it,
   * and after the newest running version's (versions take effect in version order). Never
   * negative infinity: a first version accepted before any event is effective from 0.
   */
  effectiveTimeFor(streamTime: number): number {
    const after = (this.latest?.effectiveAt ?? Number.NEGATIVE_INFINITY) + 1;
    return Math.max(0, streamTime, after);
  }

  /** Installs an admitted candidate from `effectiveAt` (as stored; the store's value wins). */
  install(c: Candidate, effectiveAt: number): { outcome: AddOutcome } {
    const existing = this.byVersion(c.version);
    if (existing) return { outcome: existing.checksum === c.checksum ? "duplicate" : "conflict" };
    this.put(c, effectiveAt);
    return { outcome: "added" };
  }

  private prepare(p: { ruleSetId: string; version: number; checksum: string; ruleSetJson: string }):
    | ({ ok: true } & Omit<Candidate, "audit">)
    | { ok: false; detail: string } {
    if (checksumOf(p.ruleSetJson) !== p.checksum) return { ok: false, detail: "checksum mismatch" };
    let json: unknown;
    try {
      json = JSON.parse(p.ruleSetJson);
    } catch (err) {
      return { ok: false, detail: `not JSON: ${(err as Error).message}` };
    }
    const v = validateRuleSet(json, this.programme);
    if (!v.ok)
      return { ok: false, detail: v.errors.map((e) => `${e.ruleId} ${e.path} ${e.problem}`).join("; ") };
    if (v.ruleSet.id !== p.ruleSetId || v.ruleSet.version !== p.version)
      return { ok: false, detail: "id/version in the JSON differ from the record" };
    return {
      ok: true,
      ruleSetId: p.ruleSetId,
      version: p.version,
      checksum: p.checksum,
      ruleSetJson: p.ruleSetJson,
      ruleSet: v.ruleSet,
      compiled: compileRuleSet(v.ruleSet, this.programme),
    };
  }

  private put(
    c: {
      ruleSetId: string;
      version: number;
      checksum: string;
      ruleSet: RuleSet;
      compiled: CompiledRuleSet;
      audit: PublicationAudit | null;
    },
    effectiveAt: number,
  ): void {
    this.versions.push({
      ruleSetId: c.ruleSetId,
      version: c.version,
      effectiveAt,
      checksum: c.checksum,
      audit: c.audit,
      ruleSet: c.ruleSet,
      compiled: c.compiled,
      readsChurn: readsChurnFacts(c.ruleSet),
    });
    this.versions.sort((a, b) => a.version - b.version);
    for (const r of c.compiled.rules) if (r.budgetPoints !== null) this.budgeted.set(r.id, r.budgetPoints);
  }

  /** The version in effect at event time `t`: the highest version effective at or before t. */
  at(t: number): PublishedVersion | undefined {
    let chosen = this.versions[0];
    for (const v of this.versions) if (v.effectiveAt <= t && v.version > (chosen?.version ?? 0)) chosen = v;
    return chosen;
  }

  byVersion(version: number): PublishedVersion | undefined {
    return this.versions.find((v) => v.version === version);
  }
}
