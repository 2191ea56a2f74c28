import type { PurchaseEvent } from "@loyalty/contracts";
import { type TierConfig, defaultTierConfig } from "@loyalty/tiers";
import { type SimulatedEvent, type SimulationReport, simulate } from "../rules/simulate.ts";
import type { ProgrammeConfig, RuleSet } from "../rules/types.ts";
import { BatchProcessor, type EngineEvent, type LoadedState } from "./process.ts";
import { RuleSetRegistry, checksumOf } from "./registry.ts";

// "What would this draft cost": the service's own earning pipeline (member facts, tier at
// event time, caps, budgets, clawbacks) run in memory over a list of canonical purchases.
// Nothing is written anywhere.

export interface DraftRun {
  report: SimulationReport;
  /** Points balance per member at the end (earned minus reversed and expired). */
  balances: Map<string, number>;
}

export function emptyState(): LoadedState {
  return {
    members: new Map(),
    balances: new Map(),
    lots: new Map(),
    lotsLoadedFor: new Set(),
    expiryCounts: new Map(),
    lotsExpired: new Map(),
    orders: new Map(),
    usage: new Map(),
    budgets: new Map(),
    commands: new Map(),
    cancellations: new Map(),
  };
}

/** Every member's lots are "loaded" in memory: a proxy set that contains everyone. */
class Everyone extends Set<string> {
  override has(_: string): boolean {
    return true;
  }
}

export function simulateDraft(
  ruleSet: RuleSet,
  programme: ProgrammeConfig & { pointValueMinor?: string },
  purchases: readonly PurchaseEvent[],
  opts: {
    tierConfig?: TierConfig;
    expiryMonths?: number;
    /**
     * Run as the service does: purchases in the given (topic) order, each member's on its
     * partition, each followed by the punctuation at its partition's stream time (expiry of the
     * partition's due lots). Absent: in event-time order, lots expiring only before the member's
     * own next movement (ADR 13).
     */
    partitionOf?: (memberId: string) => number;
  } = {},
): DraftRun {
  const registry = new RuleSetRegistry(ruleSet.id, programme);
  const json = JSON.stringify(ruleSet);
  const added = registry.add({
    ruleSetId: ruleSet.id,
    version: ruleSet.version,
    effectiveAt: 0,
    checksum: checksumOf(json),
    ruleSetJson: json,
  });
  if (added.outcome !== "added")
    throw new Error(`rule set not usable: ${added.outcome} ${added.detail ?? ""}`);
  const state = emptyState();
  state.lotsLoadedFor = new Everyone();
  const sims: SimulatedEvent[] = [];
  const p = new BatchProcessor(
    state,
    registry,
    {
      programme,
      tierConfig: opts.tierConfig ?? defaultTierConfig,
      expiryMonths: opts.expiryMonths ?? 12,
      allowNegativeBalance: false,
    },
    (memberId, referrerId, evaluation) =>
      sims.push(referrerId === undefined ? { memberId, evaluation } : { memberId, referrerId, evaluation }),
  );
  const partitionOf = opts.partitionOf;
  if (partitionOf !== undefined) {
    const streamTimes = new Map<number, number>();
    for (const event of purchases) {
      const part = partitionOf(event.memberId);
      const from = streamTimes.get(part) ?? Number.NEGATIVE_INFINITY;
      p.run([{ kind: "purchase", event }], {
        from,
        wallTime: null,
        owns: (memberId) => partitionOf(memberId) === part,
      });
      streamTimes.set(part, Math.max(from, event.eventTime));
    }
  } else p.run(eventTimeOrder(purchases));
  const report = simulate(sims, {
    pointValueMinor: programme.pointValueMinor ?? "1",
    currency: programme.baseCurrency,
  });
  const balances = new Map<string, number>();
  for (const [id, b] of state.balances) balances.set(id, b.balance);
  return { report, balances };
}

/** Stable sort by event time: per member the file order is kept, across members time order. */
function eventTimeOrder(purchases: readonly PurchaseEvent[]): EngineEvent[] {
  return purchases
    .map((event, i) => ({ event, i }))
    .sort((a, b) => a.event.eventTime - b.event.eventTime || a.i - b.i)
    .map(({ event }) => ({ kind: "purchase", event }));
}
