/**
 * Services never read the wall clock directly. In event-time mode "now" is the stream's
 * watermark, so a replay of a year of history reaches the same timers as living through it.
 */
export interface Clock {
  readonly mode: "event" | "wall";
  now(): number;
}

export class WallClock implements Clock {
  readonly mode = "wall" as const;
  now(): number {
    return Date.now();
  }
}

/**
 * Event-time watermark over the partitions a consumer owns: the minimum of each partition's
 * highest event time, so no partition's timers fire ahead of its own events. Every assigned
 * partition counts from the moment it is assigned, seen or not (after a restart, a partition
 * that has not delivered yet must not let time jump ahead of it). A partition stops holding
 * the others back only when it has caught up AND stayed idle for `idleMs` of wall time, so a
 * replayer that is momentarily behind does not make time race ahead.
 */
export class WatermarkClock implements Clock {
  readonly mode = "event" as const;
  private readonly perPartition = new Map<
    string,
    { maxEventTime: number; caughtUp: boolean; lastSeen: number }
  >();
  private floor = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly idleMs = 5_000,
    private readonly wall: () => number = Date.now,
  ) {}

  assign(topic: string, partitions: number[]): void {
    for (const partition of partitions) {
      const key = `${topic}/${partition}`;
      if (!this.perPartition.has(key))
        this.perPartition.set(key, {
          maxEventTime: Number.NEGATIVE_INFINITY,
          caughtUp: false,
          lastSeen: this.wall(),
        });
    }
  }

  observe(topic: string, partition: number, eventTime: number, caughtUp = false): void {
    const key = `${topic}/${partition}`;
    const p = this.perPartition.get(key);
    const now = this.wall();
    if (!p) this.perPartition.set(key, { maxEventTime: eventTime, caughtUp, lastSeen: now });
    else {
      if (eventTime > p.maxEventTime) p.maxEventTime = eventTime;
      p.caughtUp = caughtUp;
      p.lastSeen = now;
    }
  }

  revoke(topic: string, partition: number): void {
    this.perPartition.delete(`${topic}/${partition}`);
  }

  /**
   * The minimum over owned partitions of the highest event time, with no idle rule: a partition
   * that has not delivered holds it at -Infinity. For a reader that knows by other means when
   * its upstream has caught up (the API's expiry, ADR 13). Not monotonic across rebalances.
   */
  strictMin(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const p of this.perPartition.values()) if (p.maxEventTime < min) min = p.maxEventTime;
    return min === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : min;
  }

  /** The highest event time seen in any owned partition. */
  latest(): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const p of this.perPartition.values()) if (p.maxEventTime > max) max = p.maxEventTime;
    return max;
  }

  now(): number {
    const wall = this.wall();
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const p of this.perPartition.values()) {
      if (p.maxEventTime > max) max = p.maxEventTime;
      const idle =
        wall - p.lastSeen >= this.idleMs && (p.caughtUp || p.maxEventTime === Number.NEGATIVE_INFINITY);
      if (!idle && p.maxEventTime < min) min = p.maxEventTime;
    }
    const wm = min === Number.POSITIVE_INFINITY ? max : min;
    // Monotonic: a rebalance must never move time backwards.
    if (wm > this.floor) this.floor = wm;
    return this.floor;
  }
}

/** For tests and replays driven by hand. */
export class ManualClock implements Clock {
  readonly mode = "event" as const;
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
}

/** A clock the runner can feed with the event times it sees (a no-op for the wall clock). */
export type StreamClock = Clock & Partial<Pick<WatermarkClock, "observe" | "revoke" | "assign">>;
