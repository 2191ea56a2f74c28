// Entry of backtestParallel's worker thread: registers tsx's loader in this thread (a worker does
// not inherit the main thread's module hooks), then runs the TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./backtest-worker.ts");
