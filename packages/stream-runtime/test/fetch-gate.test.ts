// FetchGate without a broker: what one turn of the event loop hands over is one batch, batches
// run one at a time, and with an interval a batch starts no sooner than that after the last one.
import { describe, expect, it } from "vitest";
import type { StreamBatchPayload } from "../src/client.ts";
import { FetchGate, type Waiting } from "../src/tasks/fetch-gate.ts";

const payload = (partition: number) =>
  ({ batch: { partition }, heartbeat: async () => undefined }) as unknown as StreamBatchPayload;

function recorder(ms = 0) {
  const batches: Array<{ at: number; partitions: number[] }> = [];
  const run = async (group: Waiting[]) => {
    batches.push({ at: performance.now(), partitions: group.map((w) => w.payload.batch.partition) });
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  };
  return { batches, run };
}

describe("FetchGate", () => {
  it("gathers what arrives in one turn into one batch and runs batches one at a time", async () => {
    const r = recorder(30);
    const gate = new FetchGate(r.run);
    const first = [gate.gather(payload(0)), gate.gather(payload(1))];
    await new Promise((res) => setTimeout(res, 5));
    const second = gate.gather(payload(2));
    await Promise.all([...first, second]);
    expect(r.batches.map((b) => b.partitions)).toEqual([[0, 1], [2]]);
    // The second waited for the first to finish (30 ms), not only for its own turn.
    const [a, b] = r.batches;
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(25);
  });

  it("with an interval, starts a batch no sooner than that after the last one began", async () => {
    const r = recorder();
    const gate = new FetchGate(r.run, () => undefined, 120);
    await gate.gather(payload(0));
    const p1 = gate.gather(payload(1));
    await new Promise((res) => setTimeout(res, 20));
    // Arrives while the second batch waits for the interval: it joins that batch.
    const p2 = gate.gather(payload(2));
    await Promise.all([p1, p2]);
    expect(r.batches.map((b) => b.partitions)).toEqual([[0], [1, 2]]);
    const [a, b] = r.batches;
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(115);
    // Without one, the next batch starts at once.
    const quick = recorder();
    const eager = new FetchGate(quick.run);
    await eager.gather(payload(0));
    await eager.gather(payload(1));
    const [c, d] = quick.batches;
    expect((d?.at ?? 0) - (c?.at ?? 0)).toBeLessThan(100);
  });
});
