export * from "./endpoints.ts";
export * from "./probes.ts";
export * from "./stack.ts";
export { REPO_ROOT, stackPaths, stackVersions } from "./paths.ts";
export * from "./acl.ts";
export * from "./credentials.ts";
