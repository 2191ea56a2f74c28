import { describe, expect, it } from "vitest";
import {
  NO_PROGRESS,
  PendingOutputError,
  advance,
  decodePending,
  encodePending,
  markLanes,
  taskRecords,
  withHeld,
} from "../src/index.ts";
import type { ConsumedMessage } from "../src/message.ts";
import { sliceByBytes } from "../src/tasks/fetch-gate.ts";

const rec = (topic: string, offset: number, timestamp: number): ConsumedMessage => ({
  topic,
  partition: 0,
  offset: String(offset),
  key: null,
  value: Buffer.from(`${topic}@${offset}`),
  headers: {},
  timestamp,
});

describe("task records and progress", () => {
  it("merges a task's topics by timestamp, ties in topic order, and leaves out what it has", () => {
    const byTopic = new Map([
      ["a", [rec("a", 10, 100), rec("a", 11, 300), rec("a", 12, 300)]],
      ["b", [rec("b", 5, 200), rec("b", 6, 300)]],
    ]);
    const all = taskRecords(NO_PROGRESS, byTopic, ["a", "b"]);
    expect(all.map((m) => `${m.topic}${m.offset}`)).toEqual(["a10", "b5", "a11", "a12", "b6"]);
    const later = taskRecords({ ...NO_PROGRESS, offsets: new Map([["a", 12n]]) }, byTopic, ["b", "a"]);
    expect(later.map((m) => `${m.topic}${m.offset}`)).toEqual(["b5", "b6", "a12"]);
  });

  it("advances offsets past every delivered record and never moves stream time back", () => {
    const byTopic = new Map([["a", [rec("a", 3, 500), rec("a", 4, 100)]]]);
    const p = advance(
      { offsets: new Map([["a", 3n]]), streamTime: 400, seq: 7n },
      byTopic,
      byTopic.get("a") ?? [],
      8n,
    );
    expect(p.offsets.get("a")).toBe(5n);
    expect(p.streamTime).toBe(500);
    expect(p.seq).toBe(8n);
    const q = advance(p, new Map([["a", [rec("a", 5, 200)]]]), [rec("a", 5, 200)], 9n);
    expect(q.streamTime).toBe(500);
  });

  it("hands held records again before what was fetched, each offset once", () => {
    const held = new Map([["a", [rec("a", 7, 100), rec("a", 8, 200)]]]);
    // A fetch in flight when the partition was paused may deliver a held record again.
    const fetched = new Map([
      ["a", [rec("a", 8, 200), rec("a", 9, 300)]],
      ["b", [rec("b", 1, 150)]],
    ]);
    const input = withHeld(held, fetched);
    expect(input.get("a")?.map((m) => m.offset)).toEqual(["7", "8", "9"]);
    expect(input.get("b")?.map((m) => m.offset)).toEqual(["1"]);
    expect(
      withHeld(held, new Map())
        .get("a")
        ?.map((m) => m.offset),
    ).toEqual(["7", "8"]);
  });
});

describe("batches cut by bytes per topic-partition", () => {
  it("gives batch k the k-th slice of every topic-partition, each within the limit, in order, all once", () => {
    const a = Array.from({ length: 5 }, (_, i) => rec("a", i, i));
    const b = [rec("b", 0, 0)];
    const c = Array.from({ length: 3 }, (_, i) => ({ ...rec("a", 10 + i, i), partition: 1 }));
    const input = new Map([
      [
        0,
        new Map([
          ["a", a],
          ["b", b],
        ]),
      ],
      [1, new Map([["a", c]])],
    ]);
    const batches = sliceByBytes(input, 250, () => 100);
    const offsets = batches.map((batch) =>
      [...batch].map(([p, byTopic]) => [p, [...byTopic].map(([t, l]) => [t, l.map((m) => m.offset)])]),
    );
    expect(offsets).toEqual([
      [
        [
          0,
          [
            ["a", ["0", "1"]],
            ["b", ["0"]],
          ],
        ],
        [1, [["a", ["10", "11"]]]],
      ],
      [
        [0, [["a", ["2", "3"]]]],
        [1, [["a", ["12"]]]],
      ],
      [[0, [["a", ["4"]]]]],
    ]);
  });

  it("puts a record heavier than the limit alone in its batch", () => {
    const a = [rec("a", 0, 0), rec("a", 1, 0)];
    const batches = sliceByBytes(new Map([[0, new Map([["a", a]])]]), 10, () => 100);
    expect(
      batches.map((b) =>
        b
          .get(0)
          ?.get("a")
          ?.map((m) => m.offset),
      ),
    ).toEqual([["0"], ["1"]]);
  });
});

describe("pending output", () => {
  it("round-trips records byte for byte: keys, values, headers with several values, partitions, times", () => {
    const messages = [
      { topic: "t", key: "m1", value: Buffer.from([0, 1, 2, 255]), timestamp: 852076800000 },
      { topic: "u", key: null, value: null, partition: 4, headers: { h: [Buffer.from("x"), "y"], one: "z" } },
      { topic: "t", key: Buffer.from([9]), value: Buffer.alloc(0) },
    ];
    const back = decodePending(encodePending(messages));
    expect(back).toEqual([
      { topic: "t", key: Buffer.from("m1"), value: Buffer.from([0, 1, 2, 255]), timestamp: 852076800000 },
      {
        topic: "u",
        key: null,
        value: null,
        partition: 4,
        headers: { h: [Buffer.from("x"), Buffer.from("y")], one: Buffer.from("z") },
      },
      { topic: "t", key: Buffer.from([9]), value: Buffer.alloc(0) },
    ]);
  });

  it("refuses truncated or foreign bytes with a clear error", () => {
    const bytes = encodePending([{ topic: "t", key: "k", value: Buffer.from("v") }]);
    expect(() => decodePending(bytes.subarray(0, bytes.length - 1))).toThrow(PendingOutputError);
    expect(() => decodePending(Buffer.from([7, 0, 0, 0, 0]))).toThrow(/version 7/);
    expect(() => decodePending(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/after its last record/);
  });
});

describe("markLanes", () => {
  it("raises each lane to its highest mark and never lowers it", () => {
    const before = new Map([["a", 10]]);
    const after = markLanes(before, [
      { lane: "a", time: 5 },
      { lane: "b", time: 7 },
      { lane: "a", time: 12 },
      { lane: "b", time: 3 },
      { lane: "c", time: Number.NaN },
    ]);
    expect(after).toEqual(
      new Map([
        ["a", 12],
        ["b", 7],
      ]),
    );
    expect(before).toEqual(new Map([["a", 10]]));
  });

  it("returns the lanes it was given when nothing moves", () => {
    const before = new Map([["a", 10]]);
    expect(markLanes(before, [{ lane: "a", time: 9 }])).toBe(before);
    expect(markLanes(undefined, [])).toBeUndefined();
  });
});
