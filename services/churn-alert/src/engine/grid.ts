// Event-time grids: refits and alert times fall on fixed points aligned to an anchor, so they
// do not depend on when a batch happened to arrive.

/** Smallest anchor + k·step strictly after t. */
export function nextGridAfter(t: number, step: number, anchor = 0): number {
  if (!(step > 0)) throw new RangeError(`grid step must be positive, got ${step}`);
  return anchor + (Math.floor((t - anchor) / step) + 1) * step;
}
