export * from "./stack.ts";
export * from "./kafka.ts";
export { TEST_DATABASE_URL, testEndpointsFromEnv } from "@loyalty/local-stack";
