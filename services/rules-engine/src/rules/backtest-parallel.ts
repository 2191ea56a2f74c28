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
//
// Starting a worker costs about a second of CPU (tsx, and the modules the engine's pipeline
// imports: the Kafka and database clients among them), on the critical path: the draft side
// starts that much after the running one. So a worker that has finished is kept for the next
// backtest of the process (the console's server runs one per click) for WORKER_IDLE_MS, then
// ended; it holds nothing between backtests (its input and side are dropped when it answers), and
// it never keeps the process alive (unref'd while idle). Backtests that overlap get a worker each.

export interface ParallelBacktest {
  report: BacktestReport;
  /** Whether the draft side ran in a worker thread (false: both ran here, one after the other). */
  parallel: boolean;
}

const YOUNG_GENERATION_MB = 64;
/** How long a finished worker is kept for the next backtest. */
export const WORKER_IDLE_MS = 60_000;

type Answer = { ok: true; side: BacktestSide } | { ok: false; message: string };

interface Idle {
  worker: Worker;
  timer: NodeJS.Timeout;
}

/** The worker kept for the next backtest, if any. */
let idle: Idle | null = null;

function newWorker(): Worker | null {
  let worker: Worker;
  try {
    worker = new Worker(new URL("./backtest-worker.mjs", import.meta.url), {
      // A larger young generation: the engine allocates many short-lived rows per event; in two
      // paired runs of the CDNOW year on a loaded machine it cut the worker's CPU time 10-25%.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      stdout: true,
      stderr: true,
    });
  } catch {
    return null;
  }
  // A kept worker that ends (terminated, crashed) is no longer offered.
  worker.once("exit", () => {
    if (idle?.worker !== worker) return;
    clearTimeout(idle.timer);
    idle = null;
  });
  return worker;
}

function takeWorker(): Worker | null {
  const kept = idle;
  idle = null;
  if (kept === null) return newWorker();
  clearTimeout(kept.timer);
  if (kept.worker.threadId < 0) return newWorker(); // ended meanwhile
  kept.worker.ref();
  return kept.worker;
}

/** Keeps the worker for the next backtest (ends the one kept before, if any). */
function release(worker: Worker): void {
  if (idle !== null) {
    clearTimeout(idle.timer);
    void idle.worker.terminate();
  }
  worker.unref();
  const timer = setTimeout(() => {
    if (idle?.worker === worker) idle = null;
    void worker.terminate();
  }, WORKER_IDLE_MS);
  timer.unref();
  idle = { worker, timer };
}

/** Ends the worker kept for the next backtest (tests, and a process that wants to end at once). */
export async function endBacktestWorker(): Promise<void> {
  const kept = idle;
  idle = null;
  if (kept === null) return;
  clearTimeout(kept.timer);
  await kept.worker.terminate();
}

function draftInWorker(input: BacktestInput): Promise<BacktestSide | null> {
  const worker = takeWorker();
  if (worker === null) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = () => {
      settled = true;
      worker.off("message", onMessage);
      worker.off("error", onGone);
      worker.off("exit", onGone);
    };
    const onMessage = (m: Answer) => {
      done();
      release(worker);
      if (m.ok) resolve(m.side);
      else reject(new BacktestError(m.message));
    };
    // A worker that cannot load (no loader, a module error) or that ended is not a failed
    // backtest: the draft side runs here.
    const onGone = () => {
      if (settled) return;
      done();
      void worker.terminate();
      resolve(null);
    };
    worker.on("message", onMessage);
    worker.once("error", onGone);
    worker.once("exit", onGone);
    try {
      worker.postMessage(input);
    } catch {
      onGone();
    }
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
