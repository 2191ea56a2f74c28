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
  API_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  // Expiry of the lot a positive manual adjustment creates (same default as the rules engine).
  POINTS_EXPIRY_MONTHS: z.coerce.number().int().min(1).max(120).default(12),
  OUTBOX_RELAY_INTERVAL_MS: z.coerce.number().int().min(10).default(500),
  // churn-alert's ops server (its HTTP_PORT), which GET /v1/churn/calibration forwards to; unset:
  // that route answers 503. `loyalty up` sets it.
  CHURN_ALERT_URL: z.string().url().optional(),
  // The report refits BG/NBD over every member: allow it time.
  CHURN_ALERT_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
});

export type ApiConfig = z.infer<typeof apiConfigSchema>;
