export * from "./endpoints.ts";
export * from "./probes.ts";
export * from "./stack.ts";
export { REPO_ROOT, stackPaths, stackVersions } from "./paths.ts";
export { type DevRulesKeys, devRulesKeyEnv, devRulesKeys } from "./rules-keys.ts";
export * from "./acl.ts";
export * from "./credentials.ts";
export * from "./tls.ts";
