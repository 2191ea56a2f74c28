import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Versions are written once, in infra/local/pom.xml. */
export function stackVersions(): { kafka: string; apicurio: string } {
  const pom = readFileSync(join(REPO_ROOT, "infra/local/pom.xml"), "utf8");
  const read = (tag: string): string => {
    const m = new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(pom);
    if (!m?.[1]) throw new Error(`infra/local/pom.xml has no <${tag}>`);
    return m[1];
  };
  return { kafka: read("kafka.version"), apicurio: read("apicurio.version") };
}

export interface StackPaths {
  stateDir: string;
  kafkaLibs: string;
  apicurioDir: string;
  kafkaData: string;
  logs: string;
}

export function stackPaths(env: NodeJS.ProcessEnv = process.env): StackPaths {
  const v = stackVersions();
  const stateDir = resolve(env.LOYALTY_STACK_DIR ?? join(REPO_ROOT, ".stack"));
  return {
    stateDir,
    kafkaLibs: join(REPO_ROOT, ".cache", `kafka-${v.kafka}`, "libs"),
    apicurioDir: join(REPO_ROOT, ".cache", `apicurio-${v.apicurio}`),
    kafkaData: join(stateDir, "kafka-data"),
    logs: join(stateDir, "logs"),
  };
}

export function jarsPresent(p: StackPaths): boolean {
  return existsSync(p.kafkaLibs) && existsSync(p.apicurioDir);
}
