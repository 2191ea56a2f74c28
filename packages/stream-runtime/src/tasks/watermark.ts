// Event time of a whole group (ADR 16, "one task over all partitions"; the rule of ADR 8). Pure:
// no I/O here; the runner feeds it what was consumed and the input's end offsets.
//
// Stream time is kept per (partition, lane). A lane is a sub-stream of a partition whose records
// arrive in their own time order, e.g. the upstream partition a record came from when one input
// partition interleaves several upstream partitions in whatever order their batches were
// processed: the partition's highest time can run ahead of a lane still to come, the lane's
// cannot. A service without lanes has one per partition ("").
//
// The watermark is the minimum over the lanes heard from, once every partition has been heard
// from (null before). Only lanes heard from count: a lane that never delivers must not hold the
// watermark for ever. The price: a lane first heard from after the watermark passed its early
// records delivers those late.
//
// Idle rule: records past the watermark (a finished replay's tail, a partition gone quiet) are
// released, the watermark jumping to the latest time, once every input partition has stood
// consumed to its end, the end offsets unchanged, for `idleMs` of monotonic time. Releasing as
// soon as the input is consumed to its end would make replays depend on speed: a fast consumer
// catches up with its producer many times mid-replay.

/** Highest event time per lane of each partition, never decreasing. */
export class LaneClocks {
  private readonly lanes = new Map<number, Map<string, number>>();

  /** `partitions`: the input's partition count; the watermark waits for every one of them. */
  constructor(readonly partitions: number) {}

  /** Raises the lane's time to `time` (a lower one is ignored). */
  observe(partition: number, lane: string, time: number): void {
    if (!Number.isFinite(time)) return;
    let lanes = this.lanes.get(partition);
    if (lanes === undefined) {
      lanes = new Map();
      this.lanes.set(partition, lanes);
    }
    const before = lanes.get(lane);
    if (before === undefined || time > before) lanes.set(lane, time);
  }

  /** Restores a partition's lanes as stored (see lanesOf). */
  restore(partition: number, lanes: ReadonlyMap<string, number>): void {
    for (const [lane, time] of lanes) this.observe(partition, lane, time);
  }

  /** A copy of a partition's lanes. */
  lanesOf(partition: number): Map<string, number> {
    return new Map(this.lanes.get(partition) ?? []);
  }

  /** The partition's stream time: the highest time of its lanes; -Infinity before any. */
  streamTime(partition: number): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const t of this.lanes.get(partition)?.values() ?? []) if (t > max) max = t;
    return max;
  }

  /** Minimum over the lanes heard from; null while a partition in [0, partitions) has none. */
  watermark(): number | null {
    if (this.partitions <= 0) return null;
    let min = Number.POSITIVE_INFINITY;
    for (let p = 0; p < this.partitions; p++) {
      const lanes = this.lanes.get(p);
      if (lanes === undefined || lanes.size === 0) return null;
      for (const t of lanes.values()) if (t < min) min = t;
    }
    return min;
  }

  /** The highest time of any lane of any partition; null before any. */
  latest(): number | null {
    let max: number | null = null;
    for (let p = 0; p < this.partitions; p++)
      for (const t of this.lanes.get(p)?.values() ?? []) if (max === null || t > max) max = t;
    return max;
  }
}

/** One input partition's position: the next offset to process and the end of the log. */
export interface InputPosition {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to process (0 for a partition never consumed). */
  readonly next: bigint;
  /** The partition's end offset (high watermark) as the broker reported it. */
  readonly high: bigint;
}

/**
 * Consumed to its end: a transactional producer ends a partition with a commit marker one
 * offset past its last record, so a gap of one counts as the end.
 */
export function consumedToEnd(positions: readonly InputPosition[]): boolean {
  return positions.every((p) => p.next >= p.high - 1n);
}

/** ADR 8's idle rule: whether the tail past the watermark may be released now. */
export class IdleRule {
  private quiet: { ends: string; since: number } | null = null;

  constructor(readonly idleMs: number) {}

  /**
   * True when every input partition has stood consumed to its end, with the same end offsets,
   * for `idleMs` up to `now` (monotonic ms). A partition not consumed to its end forgets the
   * quiet time; so do end offsets that moved.
   */
  idle(positions: readonly InputPosition[], now: number): boolean {
    if (!consumedToEnd(positions)) {
      this.quiet = null;
      return false;
    }
    const ends = positions.map((p) => `${p.topic}:${p.partition}:${p.high}`).join(",");
    if (this.quiet?.ends !== ends) this.quiet = { ends, since: now };
    return now - this.quiet.since >= this.idleMs;
  }

  /** Forgets the quiet time (e.g. after a restore). */
  reset(): void {
    this.quiet = null;
  }
}

/**
 * The time a punctuation of the group runs at: the watermark, or the latest time once the idle
 * rule releases the tail. `positions` is only asked for when the tail is held back.
 */
export async function punctuationTime(
  clocks: LaneClocks,
  idle: IdleRule,
  positions: () => Promise<readonly InputPosition[]>,
  now: () => number,
): Promise<number | null> {
  const wm = clocks.watermark();
  const latest = clocks.latest();
  if (latest === null || wm === latest) return wm;
  return idle.idle(await positions(), now()) ? latest : wm;
}
