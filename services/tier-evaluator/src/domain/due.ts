// Due times of a partition's members, in memory: the heap processPartition drains and the
// index a task keeps between batches (ADR 16: the task's state replaces the due_at queries and
// the Redis sorted sets). Pure: no I/O.

/** Minimal binary heap on [due, memberId], ordered by due then member id (a total order). */
export class DueHeap {
  private readonly a: [number, string][] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): [number, string] | undefined {
    return this.a[0];
  }
  push(due: number, member: string): void {
    const a = this.a;
    a.push([due, member]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: [number, string], y: [number, string]): boolean {
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
}

/**
 * Each member's current due time, with a heap for "who is due before t". Changing a member's
 * due time leaves its old heap entry behind; entries that no longer match the map are skipped
 * when popped, and the heap is rebuilt when they outnumber the members.
 */
export class DueIndex {
  private heap = new DueHeap();
  private readonly due = new Map<string, number>();

  get size(): number {
    return this.due.size;
  }

  get(member: string): number | undefined {
    return this.due.get(member);
  }

  /** The member's due time now (null: nothing due, e.g. at the lowest tier with no grace). */
  set(member: string, due: number | null): void {
    if (due === null) {
      this.due.delete(member);
      return;
    }
    if (this.due.get(member) === due) return;
    this.due.set(member, due);
    this.heap.push(due, member);
    if (this.heap.size > 2 * this.due.size + 1024) this.compact();
  }

  /** Removes and returns the members due strictly before `before`, by due time then member id. */
  popBefore(before: number): Array<[memberId: string, dueAt: number]> {
    const out: Array<[string, number]> = [];
    for (let top = this.heap.peek(); top !== undefined && top[0] < before; top = this.heap.peek()) {
      this.heap.pop();
      const [due, m] = top;
      if (this.due.get(m) !== due) continue;
      this.due.delete(m);
      out.push([m, due]);
    }
    return out;
  }

  private compact(): void {
    const heap = new DueHeap();
    for (const [m, d] of this.due) heap.push(d, m);
    this.heap = heap;
  }
}
