import type { Logger } from "./logger.ts";

export interface ShutdownPhases {
  /** Phase 1: stop taking work and finish what is in flight (consumer stop, batch commit). */
  stop: () => Promise<void>;
  /** Phase 2: flush and close clients (producers, pools, servers). */
  close: () => Promise<void>;
}

/**
 * Two-phase shutdown on SIGTERM/SIGINT. The exit code tells: 0 for a clean stop, 1 when a
 * phase failed or did not finish within the timeout.
 */
export function installShutdown(
  logger: Logger,
  phases: ShutdownPhases,
  timeoutMs: number,
): (reason: string, code?: number) => Promise<void> {
  let started = false;
  const shutdown = async (reason: string, code = 0): Promise<void> => {
    if (started) return;
    started = true;
    logger.info({ reason }, "shutting down");
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, "shutdown timed out");
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    let exitCode = code;
    try {
      await phases.stop();
    } catch (err) {
      logger.error({ err }, "stop phase failed");
      exitCode = 1;
    }
    try {
      await phases.close();
    } catch (err) {
      logger.error({ err }, "close phase failed");
      exitCode = 1;
    }
    logger.info({ exitCode }, "stopped");
    logger.flush?.();
    process.exit(exitCode);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.on("uncaughtException", (err) => {
    logger.fatal({ err }, "uncaught exception");
    void shutdown("uncaughtException", 1);
  });
  process.on("unhandledRejection", (err) => {
    logger.fatal({ err }, "unhandled rejection");
    void shutdown("unhandledRejection", 1);
  });
  return shutdown;
}
