import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { namespacedTopics } from "@loyalty/contracts";
import { replayFile } from "@loyalty/ingestor";
import { endpointsFromEnv } from "@loyalty/local-stack";
import { createKafka, createLogger } from "@loyalty/stream-runtime";
import { SingleBar } from "cli-progress";

const FORMATS = {
  cdnow: undefined,
  "cdnow-master": "cdnow-master",
  "cdnow-sample": "cdnow-sample",
  jsonl: "jsonl",
} as const;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: "string" },
      rate: { type: "string" },
      limit: { type: "string" },
      topic: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  const file = positionals[0];
  if (!file) {
    console.error("usage: pnpm loyalty replay FILE [--format cdnow|jsonl] [--rate N] [--limit N]");
    return 2;
  }
  const fmt = values.format ?? "cdnow";
  if (!Object.hasOwn(FORMATS, fmt)) {
    console.error(`--format must be one of ${Object.keys(FORMATS).join(", ")}`);
    return 2;
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`--${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
  const rate = num("rate", values.rate);
  const limit = num("limit", values.limit);
  const e = endpointsFromEnv();
  const topic = values.topic ?? namespacedTopics(process.env.LOYALTY_NAMESPACE ?? "").orders.name;
  const kafka = createKafka({
    clientId: "loyalty-replay",
    brokers: e.kafkaBrokers,
    logger: createLogger("replay", "warn"),
    level: "warn",
  });

  const bar = new SingleBar({
    format: "replay [{bar}] {value} orders | {rate} orders/s",
    hideCursor: true,
    noTTYOutput: false,
  });
  if (!values.quiet) bar.start(limit ?? 0, 0, { rate: 0 });
  const path = resolve(process.env.INIT_CWD ?? process.cwd(), file);
  const r = await replayFile({
    kafka,
    topic,
    file: path,
    format: FORMATS[fmt as keyof typeof FORMATS],
    ...(rate ? { rate } : {}),
    ...(limit !== undefined ? { limit } : {}),
    onProgress: (p) => {
      if (!values.quiet) {
        if (!limit) bar.setTotal(p.sent);
        bar.update(p.sent, { rate: Math.round(p.sent / Math.max(p.elapsedMs / 1000, 0.001)) });
      }
    },
  });
  if (!values.quiet) bar.stop();
  console.log(
    `replay: sent ${r.sent} messages to ${topic} in ${(r.elapsedMs / 1000).toFixed(1)} s (${Math.round(r.sent / Math.max(r.elapsedMs / 1000, 0.001))}/s)` +
      (r.invalidLines ? `, of which ${r.invalidLines} unparseable lines sent as-is` : "") +
      (r.skipped ? `, ${r.skipped} header/blank lines skipped` : ""),
  );
  return 0;
}
