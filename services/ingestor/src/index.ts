export * from "./domain/index.ts";
export { replayFile, type ReplayOptions, type ReplayProgress } from "./replay.ts";
