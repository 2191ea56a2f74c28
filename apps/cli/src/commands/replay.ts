// `loyalty replay FILE|-`: publishes orders to orders.v1 as an upstream shop would (CDNOW files in
// event-time order, JSON Lines as written). `-` reads JSON Lines (or CDNOW) from standard input.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { text } from "node:stream/consumers";
import { type ReplayFormat, replayFile } from "@loyalty/ingestor";
import { SingleBar } from "cli-progress";
import { kafkaClient, topics, translateKafkaError } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { EXIT, UsageError } from "../errors.ts";

export const FORMATS = ["cdnow", "cdnow-master", "cdnow-sample", "jsonl"] as const;
export type Format = (typeof FORMATS)[number];

export interface ReplayOpts {
  format?: Format;
  rate?: number;
  limit?: number;
  topic?: string;
  quiet?: boolean;
  json?: boolean;
}

/** `cdnow` lets the reader tell master from sample by the line shape. */
function formatOf(f: Format | undefined): ReplayFormat | undefined {
  return f === undefined || f === "cdnow" ? undefined : f;
}

export async function run(
  ctx: CliContext,
  file: string,
  opts: ReplayOpts,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  let path: string;
  let tmp: string | null = null;
  if (file === "-") {
    tmp = mkdtempSync(join(tmpdir(), "loyalty-replay-"));
    path = join(tmp, "stdin");
    writeFileSync(path, await text(stdin));
  } else {
    path = resolve(ctx.cwd, file);
    if (!existsSync(path)) throw new UsageError(`replay: no such file ${file} (looked at ${path})`);
  }
  const topic = opts.topic ?? topics(ctx).orders.name;
  const kafka = kafkaClient(ctx, "loyalty-replay");
  const showBar = !opts.quiet && !opts.json;
  const bar = new SingleBar({
    format: "replay [{bar}] {value} orders | {rate} orders/s",
    hideCursor: true,
    stream: process.stderr,
    noTTYOutput: false,
  });
  if (showBar) bar.start(opts.limit ?? 0, 0, { rate: 0 });
  try {
    const r = await replayFile({
      kafka,
      topic,
      file: path,
      format: formatOf(opts.format),
      ...(opts.rate ? { rate: opts.rate } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      onProgress: (p) => {
        if (!showBar) return;
        if (!opts.limit) bar.setTotal(p.sent);
        bar.update(p.sent, { rate: Math.round(p.sent / Math.max(p.elapsedMs / 1000, 0.001)) });
      },
    });
    if (showBar) bar.stop();
    const perSecond = Math.round(r.sent / Math.max(r.elapsedMs / 1000, 0.001));
    if (opts.json)
      printJson(ctx, {
        topic,
        sent: r.sent,
        invalidLines: r.invalidLines,
        skipped: r.skipped,
        seconds: r.elapsedMs / 1000,
        lastEventTime: r.lastEventTime === null ? null : new Date(r.lastEventTime).toISOString(),
      });
    else
      ctx.out(
        `replay: sent ${r.sent} messages to ${topic} in ${(r.elapsedMs / 1000).toFixed(1)} s (${perSecond}/s)` +
          (r.invalidLines ? `, of which ${r.invalidLines} unparseable lines sent as-is` : "") +
          (r.skipped ? `, ${r.skipped} header/blank lines skipped` : ""),
      );
    return EXIT.ok;
  } catch (err) {
    throw translateKafkaError(err, ctx);
  } finally {
    if (showBar) bar.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
