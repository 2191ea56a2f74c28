// The pure part of the task topology (src/domain/task.ts): a task's in-memory state and due
// index driven by batches of records, against the same inputs run through processPartition in
// one piece (MemoryPartition), and the wall-clock punctuation.
import { DAY_MS, defaultTierConfig, nextDueAt } from "@loyalty/tiers";
import { describe, expect, it } from "vitest";
import { DueIndex } from "../src/domain/due.ts";
import type { TierInput } from "../src/domain/inputs.ts";
import type { PartitionItem } from "../src/domain/partition.ts";
import {
  type TierTaskState,
  emptyTaskState,
  punctuateTask,
  restoredTaskState,
  stepTask,
} from "../src/domain/task.ts";
import { MemoryPartition, at, input } from "./helpers.ts";

const cfg = defaultTierConfig;

/** Pseudo-random but fixed: members, amounts and gaps of a partition's purchases. */
function stream(n: number, seed = 7): TierInput[] {
  let x = seed;
  const rnd = () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
  const out: TierInput[] = [];
  let t = at("1997-01-01");
  for (let i = 0; i < n; i++) {
    t += Math.floor(rnd() * 3 * DAY_MS);
    const m = `m${Math.floor(rnd() * 40)}`;
    if (rnd() < 0.1 && out.length > 0) {
      const o = out[Math.floor(rnd() * out.length)]!;
      if (o.memberId === m && o.kind === "purchase") {
        out.push(input(m, "refund", t, Math.floor(o.value / 2), o.orderId));
        continue;
      }
    }
    out.push(input(m, "purchase", t, 1_000 + Math.floor(rnd() * 30_000)));
  }
  return out;
}

const items = (inputs: TierInput[]): PartitionItem[] => inputs.map((i) => ({ kind: "apply", input: i }));

/** The task as the runtime drives it: stream time = highest time of the committed batches. */
function runTask(inputs: TierInput[], sizes: number[], restoreEvery = 0) {
  let state: TierTaskState = emptyTaskState();
  let streamTime = Number.NEGATIVE_INFINITY;
  const changes = [];
  let b = 0;
  for (let i = 0; i < inputs.length; ) {
    const size = sizes[b % sizes.length]!;
    const batch = inputs.slice(i, i + size);
    changes.push(...stepTask(state, items(batch), { config: cfg, streamTime, drive: true }));
    state.dirty.clear(); // committed
    for (const x of batch) if (x.eventTime > streamTime) streamTime = x.eventTime;
    i += size;
    b++;
    // A restart: the state comes back from what was flushed, the clock from the stream time.
    if (restoreEvery > 0 && b % restoreEvery === 0) state = restoredTaskState(state.records, cfg);
  }
  return { state, changes, streamTime };
}

describe("a task's batches", () => {
  const inputs = stream(600);
  const whole = new MemoryPartition(cfg);
  whole.run(inputs);

  it("give processPartition's changes in one piece, whatever the batch sizes and restarts", () => {
    expect(whole.changes.some((c) => c.direction === "down")).toBe(true);
    for (const [sizes, restoreEvery] of [
      [[600], 0],
      [[1], 0],
      [[7, 1, 50, 3], 0],
      [[13], 2],
      [[1, 2], 5],
    ] as const) {
      const r = runTask(inputs, [...sizes], restoreEvery);
      expect(r.changes).toEqual(whole.changes);
      for (const [m, rec] of whole.records) expect(r.state.records.get(m)).toEqual(rec);
    }
  });

  it("keep the due index equal to the records' due times", () => {
    const { state } = runTask(inputs, [17]);
    for (const [m, r] of state.records) expect(state.due.get(m)).toBe(nextDueAt(r.state, cfg) ?? undefined);
  });

  it("mark every changed member dirty until the flush commits", () => {
    const s = emptyTaskState();
    stepTask(
      s,
      items([input("a", "purchase", "1997-01-05", 30_000), input("b", "purchase", "1997-01-06", 10)]),
      {
        config: cfg,
        streamTime: Number.NEGATIVE_INFINITY,
        drive: true,
      },
    );
    expect([...s.dirty].sort()).toEqual(["a", "b"]);
    // b's later purchase, a year on: a is evaluated on the way (due at its anniversary).
    s.dirty.clear();
    stepTask(s, items([input("b", "purchase", "1998-03-01", 10)]), {
      config: cfg,
      streamTime: at("1997-01-06"),
      drive: true,
    });
    expect([...s.dirty].sort()).toEqual(["a", "b"]);
    expect(s.records.get("a")?.state.tier).toBe("Silver");
  });

  it("move the clock by the records' times (`at`), which the task's stream time follows", () => {
    const s = emptyTaskState();
    const gold = input("a", "purchase", "1997-01-05", 30_000);
    stepTask(s, [{ kind: "apply", input: gold }], {
      config: cfg,
      streamTime: Number.NEGATIVE_INFINITY,
      drive: true,
    });
    // b's purchase says 1997-02-01 but its record is timestamped 1999-06-01: a's evaluations
    // up to then run before it.
    const late = input("b", "purchase", "1997-02-01", 10);
    const changes = stepTask(s, [{ kind: "apply", input: late, at: at("1999-06-01") }], {
      config: cfg,
      streamTime: at("1997-01-05"),
      drive: true,
    });
    expect(changes.map((c) => [c.memberId, c.to])).toEqual([
      ["a", "Silver"],
      ["a", "Member"],
    ]);
    expect(s.clock).toBe(at("1999-06-01"));
  });
});

describe("wall-clock punctuation", () => {
  it("applies records without evaluating, then advances the members due by now", () => {
    const s = emptyTaskState();
    const gold = input("old", "purchase", "1997-01-10", 30_000);
    const applied = stepTask(s, items([gold, input("new", "purchase", "1999-12-01", 30_000)]), {
      config: cfg,
      streamTime: Number.NEGATIVE_INFINITY,
      drive: false,
    });
    expect(applied.map((c) => [c.memberId, c.to])).toEqual([
      ["old", "Gold"],
      ["new", "Gold"],
    ]);
    s.dirty.clear();
    const changes = punctuateTask(s, at("2000-01-01"), cfg);
    expect(changes.map((c) => [c.memberId, c.to, c.effectiveAt])).toEqual([
      ["old", "Silver", at("1998-02-09")],
      ["old", "Member", at("1999-03-11")],
    ]);
    expect([...s.dirty]).toEqual(["old"]);
    expect(s.due.get("old")).toBeUndefined();
    expect(punctuateTask(s, at("2000-01-01"), cfg)).toEqual([]);
  });
});

describe("DueIndex", () => {
  it("pops members due before a time by due then id; a changed due time replaces the old one", () => {
    const d = new DueIndex();
    d.set("b", 10);
    d.set("a", 10);
    d.set("c", 5);
    d.set("c", 30);
    d.set("e", 1);
    d.set("e", null);
    expect(d.popBefore(11)).toEqual([
      ["a", 10],
      ["b", 10],
    ]);
    expect(d.popBefore(100)).toEqual([["c", 30]]);
    expect(d.size).toBe(0);
  });

  it("stays small when due times change often", () => {
    const d = new DueIndex();
    for (let i = 0; i < 100_000; i++) d.set(`m${i % 10}`, i);
    expect(d.size).toBe(10);
    expect(d.popBefore(Number.POSITIVE_INFINITY).map(([m]) => m)).toHaveLength(10);
  });
});
