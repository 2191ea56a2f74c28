import { baseConfigSchema } from "@loyalty/stream-runtime";
import { z } from "zod";

export const apiConfigSchema = baseConfigSchema.extend({
  SERVICE_NAME: z.string().min(1).default("api"),
  API_PORT: z.coerce.number().int().min(0).max(65535),
  API_HOST: z.string().min(1).default("127.0.0.1"),
  // Bootstrap admin key (hashed at start); at least 32 characters of entropy-bearing text.
  API_ADMIN_KEY: z.string().min(32, "must be at least 32 characters"),
  API_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(50),
  API_RATE_BURST: z.coerce.number().int().min(1).default(100),
  API_RATE_LIMIT_STORE: z.enum(["redis", "memory"]).default("redis"),
  // Per client IP, before authentication, in memory per instance (src/http/ip-limit.ts): every
  // request to an authenticated route spends a token of the first bucket, every failed
  // authentication one of the second; either empty answers 429 without looking at the key.
  API_IP_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(500),
  API_IP_RATE_BURST: z.coerce.number().int().min(1).default(1000),
  API_IP_AUTH_FAILURES_PER_SECOND: z.coerce.number().positive().default(1),
  API_IP_AUTH_FAILURE_BURST: z.coerce.number().int().min(1).default(20),
  // Proxies whose X-Forwarded-For names the client: a hop count or comma-separated addresses or
  // CIDRs (Fastify's trustProxy). Unset: the socket's peer is the client.
  API_TRUST_PROXY: z
    .string()
    .regex(/^(?:[0-9]{1,2}|[0-9a-fA-F:.]+(?:\/[0-9]{1,3})?(?:,[0-9a-fA-F:.]+(?:\/[0-9]{1,3})?)*)$/, {
      message: "must be a hop count or comma-separated IP addresses/CIDRs",
    })
    .optional(),
  API_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  // Expiry of the lot a positive manual adjustment creates (same default as the rules engine).
  POINTS_EXPIRY_MONTHS: z.coerce.number().int().min(1).max(120).default(12),
  // How long a redemption, cancellation or adjustment waits for the rules engine's reply on
  // loyalty.ledger-replies.v1 before answering 202 with a status URL.
  LEDGER_REPLY_TIMEOUT_MS: z.coerce.number().int().min(1).default(5000),
  // churn-alert's ops server (its HTTP_PORT), which GET /v1/churn/calibration forwards to; unset:
  // that route answers 503. `loyalty up` sets it.
  CHURN_ALERT_URL: z.string().url().optional(),
  // The report refits BG/NBD over every member: allow it time.
  CHURN_ALERT_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  // The programme's money per point for the dashboard's liability (programme.json's baseCurrency,
  // currencyExponent and pointValueMinor: no topic carries them).
  PROGRAMME_BASE_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code")
    .default("USD"),
  PROGRAMME_CURRENCY_EXPONENT: z.coerce.number().int().min(0).max(6).default(2),
  PROGRAMME_POINT_VALUE_MINOR: z
    .string()
    .regex(/^[0-9]{1,12}(?:\.[0-9]{1,9})?$/, "must be a non-negative decimal")
    .default("1"),
});

export type ApiConfig = z.infer<typeof apiConfigSchema>;
