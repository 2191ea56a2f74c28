import { apply, initialState } from "../src/index.ts";
import type { QualifyingEvent, QualifyingKind, TierChange, TierConfig, TierState } from "../src/index.ts";

export const at = (iso: string): number => {
  const t = Date.parse(iso.includes("T") ? iso : `${iso}T00:00:00Z`);
  if (Number.isNaN(t)) throw new Error(`bad date ${iso}`);
  return t;
};

let seq = 0;
export function ev(
  kind: QualifyingKind,
  time: string | number,
  value: number,
  extra: Partial<QualifyingEvent> = {},
): QualifyingEvent {
  seq++;
  return {
    kind,
    eventId: `e${seq}`,
    eventTime: typeof time === "number" ? time : at(time),
    value,
    ...extra,
  };
}

/** Applies events in order, collecting every change. */
export function run(
  config: TierConfig,
  events: QualifyingEvent[],
  state: TierState = initialState("m1", config),
): { state: TierState; changes: TierChange[] } {
  let s = state;
  const changes: TierChange[] = [];
  for (const e of events) {
    const r = apply(s, e, config);
    s = r.state;
    changes.push(...r.changes);
  }
  return { state: s, changes };
}

/** Deterministic PRNG (mulberry32) for property tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
