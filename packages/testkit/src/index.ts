export * from "./stack.ts";
export * from "./kafka.ts";
export { TEST_DATABASE_URL, devRulesKeyEnv, devRulesKeys, testEndpointsFromEnv } from "@loyalty/local-stack";
