export * from "./stack.ts";
export * from "./kafka.ts";
export {
  TEST_DATABASE_URL,
  devRulesKeyEnv,
  devRulesKeys,
  testEndpointsFromEnv,
  withStackCredentials,
} from "@loyalty/local-stack";
