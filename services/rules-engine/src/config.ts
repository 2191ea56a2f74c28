import { baseConfigSchema } from "@loyalty/stream-runtime";
import { type TierConfig, defaultTierConfig, validateTierConfig } from "@loyalty/tiers";
import { z } from "zod";
import { DEFAULT_AMOUNT_LIMITS } from "./rules/amounts.ts";
import { SigningKeyError, type TrustedKeys, parsePublicKeys } from "./rulesets/signing.ts";

const bool = z
  .enum(["true", "false", "1", "0"])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, "must be an IANA time zone");

const tierConfig = z
  .string()
  .optional()
  .transform((text, ctx): TierConfig => {
    if (text === undefined || text.trim() === "") return defaultTierConfig;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be JSON" });
      return z.NEVER;
    }
    const v = validateTierConfig(json);
    if (!v.ok) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: v.errors.map((e) => `${e.path} ${e.message}`).join("; "),
      });
      return z.NEVER;
    }
    return v.config;
  });

/** RULES_PUBLIC_KEYS: parsed at start; a problem names the entry, never the key. */
const publicKeys = z
  .string()
  .optional()
  .transform((text, ctx): TrustedKeys => {
    try {
      return parsePublicKeys(text);
    } catch (err) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: err instanceof SigningKeyError ? err.problem : "not a list of Ed25519 public keys",
      });
      return z.NEVER;
    }
  });

export const rulesEngineConfigSchema = baseConfigSchema.extend({
  SERVICE_NAME: z.string().min(1).default("rules-engine"),
  /** The programme's rule set (loyalty.rules.v1 key). */
  RULE_SET_ID: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/)
    .default("standard"),
  /**
   * The Ed25519 public keys whose signed rule-set publications are accepted (docs/security.md):
   * inline PEM, or comma-separated PEM file paths and ed25519:<base64> raw keys. Required.
   */
  RULES_PUBLIC_KEYS: publicKeys,
  RULES_PUBLISH_SKEW_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
  BASE_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .default("USD"),
  CURRENCY_EXPONENT: z.coerce.number().int().min(0).max(4).default(2),
  PROGRAMME_TIME_ZONE: timeZone.default("America/New_York"),
  /** The programme's amount limits (src/rules/amounts.ts; programme.json's maxPointsPer* keys). */
  MAX_POINTS_PER_ENTRY: z.coerce
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER)
    .default(DEFAULT_AMOUNT_LIMITS.maxPointsPerEntry),
  MAX_POINTS_PER_MEMBER_PER_DAY: z.coerce
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER)
    .default(DEFAULT_AMOUNT_LIMITS.maxPointsPerMemberPerDay),
  MAX_ORDER_AMOUNT_MINOR: z.coerce
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER)
    .default(DEFAULT_AMOUNT_LIMITS.maxOrderAmountMinor),
  POINTS_EXPIRY_MONTHS: z.coerce.number().int().min(1).max(240).default(12),
  /** Wall mode: how often the lots of members with no movement are expired (event mode: after each purchases batch). */
  POINTS_EXPIRY_CHECK_MS: z.coerce.number().int().min(100).default(60_000),
  ALLOW_NEGATIVE_BALANCE: bool,
  /** @loyalty/tiers TierConfig JSON; default: the default policy (spend, Member/Silver/Gold/Platinum). */
  TIER_CONFIG_JSON: tierConfig,
  /**
   * event-time: in event mode, a purchase whose rule set reads churn facts waits until churn-alert
   * has marked every alert before it (ADR 12), so a replay pays the same win-backs however the
   * services are paced; it needs churn-alert running. arrival: alerts count from when they are
   * read (wall mode always works this way).
   */
  CHURN_JOIN: z.enum(["event-time", "arrival"]).default("event-time"),
  /**
   * The churn join's maximum wait (Kafka Streams' max.task.idle.ms): a purchase waits for
   * churn-alert's frontier at most this long of wall time without the frontier moving; past it,
   * it is priced with the alerts known (loyalty_rules_churn_join_late_total counts it). A replay
   * with churn-alert running keeps up well within it; a stopped churn-alert stalls purchases
   * that read churn facts no longer than this.
   */
  CHURN_JOIN_MAX_WAIT_MS: z.coerce.number().int().min(0).max(86_400_000).default(30_000),
  /** The consumer's fetch size per partition: a batch is what one fetch delivers (tests: small batches). */
  FETCH_MAX_BYTES_PER_PARTITION: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** Test hook: SIGKILL the process right after batch N's ledger commit, before its Kafka commit. 0 = off. */
  FAULT_KILL_AFTER_BATCH: z.coerce.number().int().min(0).default(0),
});

export type RulesEngineConfig = z.infer<typeof rulesEngineConfigSchema>;
