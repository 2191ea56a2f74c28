// Writes the OpenAPI document the server serves to schemas/openapi.json, so clients can generate
// code without running the API. test/openapi.test.ts fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { OPENAPI_FILE, openApiJson } from "../src/http/openapi.ts";

const target = new URL(`../../../${OPENAPI_FILE}`, import.meta.url);
writeFileSync(target, openApiJson());
console.log(`wrote ${target.pathname}`);
