import { readFileSync } from "node:fs";
import { ConfigError, baseConfigSchema } from "@loyalty/stream-runtime";
import { type TierConfig, defaultTierConfig, validateTierConfig } from "@loyalty/tiers";
import { z } from "zod";

export const tierEvaluatorConfigSchema = baseConfigSchema.extend({
  SERVICE_NAME: z.string().min(1).default("tier-evaluator"),
  /** Optional JSON tier programme (validated with validateTierConfig); default: the package's. */
  TIER_CONFIG_FILE: z.string().min(1).optional(),
  /** Wall-clock mode: how often due evaluations run. */
  TIER_TICK_MS: z.coerce.number().int().min(100).max(86_400_000).default(60_000),
  /** Event-time mode: record times further than this ahead of the wall clock do not move the evaluation clock. */
  TIER_MAX_FUTURE_MS: z.coerce.number().int().min(0).default(86_400_000),
  /** Tests only: SIGKILL after this many state commits, before their Kafka commit (0: never). */
  TIER_CRASH_AFTER_COMMITS: z.coerce.number().int().min(0).default(0),
});

export type TierEvaluatorConfig = z.infer<typeof tierEvaluatorConfigSchema>;

/** The programme: TIER_CONFIG_FILE validated, or the default; every problem named at start. */
export function loadTierConfig(file: string | undefined): TierConfig {
  if (file === undefined) return defaultTierConfig;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError([`TIER_CONFIG_FILE: cannot read ${file} as JSON (${(err as Error).message})`]);
  }
  const v = validateTierConfig(json);
  if (!v.ok) throw new ConfigError(v.errors.map((e) => `TIER_CONFIG_FILE ${e.path}: ${e.message}`));
  return v.config;
}
