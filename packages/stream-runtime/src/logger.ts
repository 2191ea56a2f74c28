import { type LogEntry, logLevel } from "kafkajs";
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/** JSON lines to stdout, or to `destination` (a test reads its lines back as data). */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options = { name: service, level, base: { service } };
  return destination ? pino(options, destination) : pino(options);
}

const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

/** Bridges kafkajs's logs into pino so that there is one log stream per service. */
export function kafkajsLogCreator(logger: Logger) {
  const child = logger.child({ component: "kafkajs" });
  return (_level: logLevel) =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      child[LEVELS[level] ?? "info"](extra, message);
    };
}

export function kafkajsLevel(level: string): logLevel {
  // kafkajs is chatty at info (every group join); keep it at warn unless debugging.
  return level === "debug" || level === "trace" ? logLevel.DEBUG : logLevel.WARN;
}
