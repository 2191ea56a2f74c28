// Pure lot arithmetic of the ledger's commands (redemption, its cancellation, a negative
// adjustment): which open lots a redemption takes, soonest expiring first, and what a
// cancellation puts back. The one copy: moved here from the member API (ADR 16 step 3), which no
// longer writes the ledger.

export interface OpenLot {
  lotId: string;
  remaining: number;
  expiresAt: number;
}

export interface LotTake {
  lotId: string;
  /** Points taken out of the lot (> 0). */
  points: number;
  expiresAt: number;
}

/** Soonest expiry first, then lot id: the order points are consumed in. */
export function fifoOrder(
  a: Pick<OpenLot, "lotId" | "expiresAt">,
  b: Pick<OpenLot, "lotId" | "expiresAt">,
): number {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt - b.expiresAt;
  return a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0;
}

export type Allocation = { ok: true; takes: LotTake[] } | { ok: false; available: number };

/**
 * Takes `points` from the lots still valid at `now` (expires_at > now), FIFO by expiry then
 * lot id. `balance` caps what may be spent (with debt, the balance is below the lots' sum).
 */
export function allocateFifo(
  lots: readonly OpenLot[],
  points: number,
  now: number,
  balance: number,
): Allocation {
  if (!Number.isSafeInteger(points) || points <= 0) throw new RangeError("points must be a positive integer");
  const valid = lots.filter((l) => l.remaining > 0 && l.expiresAt > now).sort(fifoOrder);
  const inLots = valid.reduce((s, l) => s + l.remaining, 0);
  const available = Math.max(0, Math.min(inLots, balance));
  if (points > available) return { ok: false, available };
  const takes: LotTake[] = [];
  let left = points;
  for (const l of valid) {
    if (left === 0) break;
    const take = Math.min(left, l.remaining);
    takes.push({ lotId: l.lotId, points: take, expiresAt: l.expiresAt });
    left -= take;
  }
  return { ok: true, takes };
}

export interface SignedLotMove {
  lotId: string;
  /** Signed: negative = out of the lot. */
  points: number;
}

/**
 * What cancelling a redemption puts back: exactly what its movements took, per original lot
 * (sorted by lot id).
 */
export function restoration(redeemMovements: readonly SignedLotMove[]): SignedLotMove[] {
  const per = new Map<string, number>();
  for (const m of redeemMovements) {
    if (m.points > 0) throw new RangeError(`a redemption movement must take points (lot ${m.lotId})`);
    per.set(m.lotId, (per.get(m.lotId) ?? 0) - m.points);
  }
  return [...per]
    .filter(([, p]) => p > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([lotId, points]) => ({ lotId, points }));
}
