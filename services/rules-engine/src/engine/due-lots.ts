// Open lots by expiry, for the engine's punctuations (BatchProcessor.punctuate): a min-heap on
// `expiresAt`, pure and in memory. Lots of members another owner expires (another task's
// partition) are parked while one owner takes due lots, and go back when another owner does.
import type { LotRow } from "./model.ts";

export class DueLots {
  private readonly heap: LotRow[] = [];
  private parked: LotRow[] = [];
  private parkedFor: ((memberId: string) => boolean) | null = null;

  constructor(lots: Iterable<LotRow> = []) {
    for (const l of lots) if (l.remaining > 0) this.add(l);
  }

  get size(): number {
    return this.heap.length + this.parked.length;
  }

  add(lot: LotRow): void {
    const h = this.heap;
    h.push(lot);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const up = h[parent] as LotRow;
      if (up.expiresAt <= lot.expiresAt) break;
      h[i] = up;
      i = parent;
    }
    h[i] = lot;
  }

  /**
   * The lots due by `t` (expiresAt <= t) with points left whose member `owns` accepts, soonest
   * first, taken out. The caller checks `remaining` again as it goes: expiring one lot of a
   * member may empty the member's other due lots.
   */
  takeDue(t: number, owns: (memberId: string) => boolean): LotRow[] {
    if (owns !== this.parkedFor) {
      for (const l of this.parked) this.add(l);
      this.parked = [];
      this.parkedFor = owns;
    }
    const out: LotRow[] = [];
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.expiresAt > t) return out;
      this.pop();
      if (top.remaining <= 0) continue;
      if (owns(top.memberId)) out.push(top);
      else this.parked.push(top);
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] as LotRow).expiresAt < (h[l] as LotRow).expiresAt ? r : l;
      const child = h[c] as LotRow;
      if (child.expiresAt >= last.expiresAt) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
  }
}
