import { readFileSync } from "node:fs";
import { baseConfigSchema } from "@loyalty/stream-runtime";
import { z } from "zod";
import {
  type FxTable,
  type MemberIdPolicy,
  SHARED_MEMBER_IDS,
  compileFx,
  parseMemberIdPolicy,
} from "./domain/index.ts";

const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const ingestorConfigSchema = baseConfigSchema.extend({
  SERVICE_NAME: z.string().min(1).default("ingestor"),
  INGEST_MAX_PAYLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(256)
    .max(1_000_000)
    .default(64 * 1024),
  INGEST_MAX_DEPTH: z.coerce.number().int().min(2).max(1000).default(32),
  /** Unknown customers are enrolled on their first order, or their orders are rejected. */
  INGEST_AUTO_ENROL: bool.default("true"),
  /** How long (event time) a refund waits for its order before it is dead-lettered. */
  INGEST_REFUND_HOLD_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 60 * 60 * 1000),
  PROGRAMME_BASE_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .default("USD"),
  /** JSON: { "baseCurrency": "USD", "rates": [{ "currency": "EUR", "effectiveFrom": "2024-01-01", "rate": "1.0832" }] } */
  FX_RATES_FILE: z.string().optional(),
  /** JSON: { "namespaces": { "<source>": "<member id namespace>" } } */
  MEMBER_ID_POLICY_FILE: z.string().optional(),
});

export type IngestorConfig = z.infer<typeof ingestorConfigSchema>;

export interface IngestorSettings {
  fx: FxTable;
  memberIds: MemberIdPolicy;
  autoEnrol: boolean;
  holdMs: number;
  limits: { maxBytes: number; maxDepth: number };
}

/** Files named by the config are read and validated at start; a bad one stops the service. */
export function ingestorSettings(c: IngestorConfig): IngestorSettings {
  const readJson = (path: string, name: string): unknown => {
    try {
      return JSON.parse(readFileSync(path, "utf8"));
    } catch (err) {
      throw new Error(`${name}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const fxRaw = c.FX_RATES_FILE
    ? readJson(c.FX_RATES_FILE, "FX_RATES_FILE")
    : { baseCurrency: c.PROGRAMME_BASE_CURRENCY, rates: [] };
  let fx: FxTable;
  try {
    fx = compileFx(fxRaw);
  } catch (err) {
    throw new Error(`FX_RATES_FILE: ${(err as Error).message}`);
  }
  if (fx.baseCurrency !== c.PROGRAMME_BASE_CURRENCY) {
    throw new Error(
      `FX_RATES_FILE: base currency ${fx.baseCurrency} differs from PROGRAMME_BASE_CURRENCY ${c.PROGRAMME_BASE_CURRENCY}`,
    );
  }
  const memberIds = c.MEMBER_ID_POLICY_FILE
    ? parseMemberIdPolicy(readJson(c.MEMBER_ID_POLICY_FILE, "MEMBER_ID_POLICY_FILE"))
    : SHARED_MEMBER_IDS;
  return {
    fx,
    memberIds,
    autoEnrol: c.INGEST_AUTO_ENROL,
    holdMs: c.INGEST_REFUND_HOLD_MS,
    limits: { maxBytes: c.INGEST_MAX_PAYLOAD_BYTES, maxDepth: c.INGEST_MAX_DEPTH },
  };
}
