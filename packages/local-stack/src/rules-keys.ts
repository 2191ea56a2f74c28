import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "./paths.ts";

// The local stack's development key pair for signed rule sets (docs/security.md): created once
// under .stack/rules-signing/ so the demo, `loyalty rules publish` and every test work on a fresh
// clone. It signs only what is published to a local stack; production sets RULES_PUBLIC_KEYS
// and RULES_SIGNING_KEY(_FILE) from its own keys (`loyalty rules keygen`).

export interface DevRulesKeys {
  dir: string;
  privateKeyFile: string;
  publicKeyFile: string;
}

export function devRulesKeys(env: NodeJS.ProcessEnv = process.env): DevRulesKeys {
  const stateDir = resolve(env.LOYALTY_STACK_DIR ?? join(REPO_ROOT, ".stack"));
  const dir = join(stateDir, "rules-signing");
  const keys = { dir, privateKeyFile: join(dir, "dev.key"), publicKeyFile: join(dir, "dev.pub") };
  if (existsSync(keys.privateKeyFile) && existsSync(keys.publicKeyFile)) return keys;
  mkdirSync(stateDir, { recursive: true });
  // Written in a temporary directory renamed into place: concurrent test processes agree on one pair.
  const tmp = mkdtempSync(join(stateDir, "rules-signing-"));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  writeFileSync(join(tmp, "dev.key"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  writeFileSync(join(tmp, "dev.pub"), publicKey.export({ type: "spki", format: "pem" }));
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return keys;
}

/** The environment a locally started rules engine (and `loyalty rules publish`) uses by default. */
export function devRulesKeyEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const k = devRulesKeys(env);
  return {
    RULES_PUBLIC_KEYS: k.publicKeyFile,
    RULES_SIGNING_KEY_FILE: k.privateKeyFile,
    RULES_PUBLISHER: "local-dev",
  };
}
