import { parentPort } from "node:worker_threads";
import { type BacktestInput, backtestEvents, backtestSide } from "./backtest.ts";

// Worker thread of backtestParallel: for each input it is sent, runs the draft side over the
// same events (sorted the same way from the same input) and posts it back. Started only by
// backtest-parallel.ts, which may send it the next backtest's input once it has answered.

parentPort?.on("message", (input: BacktestInput) => {
  try {
    parentPort?.postMessage({ ok: true, side: backtestSide(input, backtestEvents(input), "draft") });
  } catch (err) {
    parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
  }
});
