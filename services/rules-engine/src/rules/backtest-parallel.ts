import { Worker } from "node:worker_threads";
import {
  BacktestError,
  type BacktestInput,
  type BacktestReport,
  type BacktestSide,
  backtestEvents,
  backtestReport,
  backtestSide,
} from "./backtest.ts";

// backtest() with its two sides on two threads: the draft side in a worker thread, the running
// side here. The sides are independent (same input, own state), so the report is the one
// backtest() gives, byte for byte; only the wall time differs (about half on two idle cores).
// The worker's entry (backtest-worker.mjs) registers tsx's loader, as every entry point of the
// project runs TypeScript through tsx; where the worker cannot start or load, the draft side runs
// here after the running one.

export interface ParallelBacktest {
  report: BacktestReport;
  /** Whether the draft side ran in a worker thread (false: both ran here, one after the other). */
  parallel: boolean;
}

const YOUNG_GENERATION_MB = 64;

function draftInWorker(input: BacktestInput): Promise<BacktestSide | null> {
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL("./backtest-worker.mjs", import.meta.url), {
        workerData: input,
        // A larger young generation: the engine allocates many short-lived rows per event; in two
        // paired runs of the CDNOW year on a loaded machine it cut the worker's CPU time 10-25%.
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
        stdout: true,
        stderr: true,
      });
    } catch {
      resolve(null);
      return;
    }
    let settled = false;
    worker.once("message", (m: { ok: true; side: BacktestSide } | { ok: false; message: string }) => {
      settled = true;
      if (m.ok) resolve(m.side);
      else reject(new BacktestError(m.message));
      void worker.terminate();
    });
    // A worker that cannot load (no loader, a module error) is not a failed backtest.
    worker.once("error", () => {
      if (!settled) resolve(null);
      settled = true;
    });
    worker.once("exit", () => {
      if (!settled) resolve(null);
      settled = true;
    });
  });
}

export async function backtestParallel(input: BacktestInput): Promise<ParallelBacktest> {
  const events = backtestEvents(input); // validates the window before a thread starts
  // The worker gets only what it reads (events before `to`): less to copy into its thread.
  const draftSide = draftInWorker({
    ...input,
    purchases: input.purchases.filter((p) => p.eventTime < input.to),
    memberEvents: (input.memberEvents ?? []).filter((e) => e.eventTime < input.to),
  });
  const running = backtestSide(input, events, "running");
  const fromWorker = await draftSide;
  const draft = fromWorker ?? backtestSide(input, events, "draft");
  return { report: backtestReport(input, events, running, draft), parallel: fromWorker !== null };
}
