// Pure lot arithmetic for redemptions, cancellations and expiry (no I/O).

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
export function fifoOrder(a: OpenLot, b: OpenLot): number {
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

export interface LotMovement {
  lotId: string;
  /** Signed: negative = out of the lot. */
  points: number;
}

/**
 * What cancelling a redemption puts back: exactly what its movements took, per original lot
 * (sorted by lot id, the order the lots are locked in).
 */
export function restoration(redeemMovements: readonly LotMovement[]): LotMovement[] {
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

export const DAY_MS = 86_400_000;

/** Points that expire within each horizon (cumulative; lots already due count in every one). */
export function expiringWithin(
  lots: readonly OpenLot[],
  now: number,
  days: readonly number[],
): { days: number; points: number }[] {
  return days.map((d) => ({
    days: d,
    points: lots
      .filter((l) => l.remaining > 0 && l.expiresAt <= now + d * DAY_MS)
      .reduce((s, l) => s + l.remaining, 0),
  }));
}

/** `months` calendar months after `ms` (UTC), clamped to the month's last day (Jan 31 + 1 = Feb 28/29). */
export function addMonthsUtc(ms: number, months: number): number {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return Date.UTC(
    y,
    m,
    Math.min(d.getUTCDate(), last),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
}
