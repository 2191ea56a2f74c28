// Library surface of the member API (the composition root is src/main.ts; importing this never
// starts the service): the summary shared with `pnpm loyalty member show`, and the server.
export { EXPIRY_HORIZONS_DAYS, type MemberSummary, formatSummary, memberSummary } from "./summary.ts";
export { ledgerNow } from "./now.ts";
export { buildServer, type ApiDeps } from "./http/server.ts";
export { openApiDocument } from "./http/openapi.ts";
export { ROUTES } from "./http/schemas.ts";
export { ERROR_CODES, type ErrorCode } from "./domain/errors.ts";
export {
  type CreatedKey,
  type KeyInfo,
  KeyStore,
  SCOPES,
  parseKey,
  type Scope,
  KEY_CACHE_MS,
} from "./store/keys.ts";
export { ApiError } from "./domain/errors.ts";
