// Signing and verification of rule-set publications, and the registry's acceptance rule (admit):
// pure, no I/O (keys are generated in memory).
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RuleSetPublished } from "@loyalty/contracts";
import { ConfigError, loadConfig } from "@loyalty/stream-runtime";
import { describe, expect, it } from "vitest";
import { rulesEngineConfigSchema } from "../src/config.ts";
import { RuleSetRegistry } from "../src/engine/registry.ts";
import type { RuleSet } from "../src/rules/types.ts";
import {
  SigningKeyError,
  canonicalJson,
  generateSigningKeyPair,
  keyIdOf,
  parsePublicKeys,
  signerOf,
  signingKeyFromEnv,
  verifyPublication,
} from "../src/rulesets/signing.ts";
import { publication, signedPublication } from "../src/rulesets/topic.ts";
import { PROGRAMME, loadStandard } from "./rules/helpers.ts";

const pairA = generateSigningKeyPair();
const pairB = generateSigningKeyPair();
const signerA = signerOf(createPrivateKey(pairA.privateKeyPem), "alice");
const signerB = signerOf(createPrivateKey(pairB.privateKeyPem), "mallory");
const trusted = parsePublicKeys(pairA.publicKeyPem);
const T = Date.UTC(2025, 0, 1);

function standard(version: number, rate = "1"): RuleSet {
  const rs = structuredClone(loadStandard().ruleSet) as RuleSet;
  rs.version = version;
  const base = rs.rules.find((r) => r.id === "base-points") as unknown as {
    version: number;
    event: { params: { rate: string } };
  };
  base.version = version;
  base.event.params.rate = rate;
  return rs;
}

const at = (offset: number) => ({ partition: 0, offset: String(offset) });
const verify = (p: RuleSetPublished) => verifyPublication(p, trusted);

describe("canonical JSON", () => {
  it("sorts keys at every depth, so the same rule set gives the same bytes", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}',
    );
  });
});

describe("signing and verification", () => {
  it("a publication signed by a trusted key verifies, naming its key and publisher", () => {
    const p = signedPublication(standard(1), T, signerA);
    expect(p.keyId).toBe(pairA.keyId);
    expect(p.keyId).toBe(keyIdOf(createPublicKey(pairA.publicKeyPem)));
    expect(p.signature?.length).toBe(64);
    expect(verify(p)).toEqual({ ok: true, keyId: pairA.keyId, publisher: "alice", digest: p.digest });
  });

  it("refuses unsigned, unknown-key and tampered publications with their codes", () => {
    expect(verify(publication(standard(1), T))).toMatchObject({ ok: false, code: "RULESET_UNSIGNED" });
    expect(verify(signedPublication(standard(1), T, signerB))).toMatchObject({
      ok: false,
      code: "RULESET_UNKNOWN_KEY",
    });
    const good = signedPublication(standard(1), T, signerA);
    // Any signed field changed: the digest no longer matches the record.
    for (const tampered of [
      { ...good, version: 2 },
      { ...good, publishedAt: 0 },
      { ...good, publisher: "bob" },
      { ...good, checksum: "0".repeat(64) },
    ])
      expect(verify(tampered)).toMatchObject({ ok: false, code: "RULESET_BAD_SIGNATURE" });
    // The digest recomputed by the forger, the signature left: it does not verify.
    const forged = signedPublication(standard(2), T, signerA);
    expect(verify({ ...forged, signature: good.signature })).toMatchObject({
      ok: false,
      code: "RULESET_BAD_SIGNATURE",
    });
    // Signed by B but claiming A's key id.
    const claimed = signedPublication(standard(1), T, { ...signerB, keyId: pairA.keyId });
    expect(verify(claimed)).toMatchObject({ ok: false, code: "RULESET_BAD_SIGNATURE" });
    expect(verify({ ...good, signature: Buffer.alloc(3) })).toMatchObject({
      ok: false,
      code: "RULESET_BAD_SIGNATURE",
    });
  });

  it("RULES_PUBLIC_KEYS: inline PEM blocks, PEM files and raw keys; errors never quote the value", () => {
    const both = parsePublicKeys(`${pairA.publicKeyPem}\n${pairB.publicKeyPem}`);
    expect([...both.keys()].sort()).toEqual([pairA.keyId, pairB.keyId].sort());
    const dir = mkdtempSync(join(tmpdir(), "rules-keys-"));
    writeFileSync(join(dir, "a.pub"), pairA.publicKeyPem);
    const raw = createPublicKey(pairB.publicKeyPem).export({ format: "jwk" }).x as string;
    const mixed = parsePublicKeys(
      `${join(dir, "a.pub")}, ed25519:${Buffer.from(raw, "base64url").toString("base64")}`,
    );
    expect([...mixed.keys()].sort()).toEqual([pairA.keyId, pairB.keyId].sort());
    const problem = (v: string | undefined) => {
      try {
        parsePublicKeys(v);
      } catch (err) {
        expect(err).toBeInstanceOf(SigningKeyError);
        return (err as SigningKeyError).message;
      }
      return "accepted";
    };
    expect(problem(undefined)).toMatch(/^RULES_PUBLIC_KEYS: required/);
    expect(problem("/no/such/file.pub")).toBe("RULES_PUBLIC_KEYS: entry 1 names no readable file");
    expect(problem("ed25519:c2hvcnQ=")).not.toContain("c2hvcnQ");
    // A private key is not a trusted public key list.
    expect(problem(pairA.privateKeyPem)).not.toContain("PRIVATE");
  });

  it("the signing key comes from RULES_SIGNING_KEY or RULES_SIGNING_KEY_FILE, never both", () => {
    expect(signingKeyFromEnv({})).toBeNull();
    expect(keyIdOf(signingKeyFromEnv({ RULES_SIGNING_KEY: pairA.privateKeyPem }) as never)).toBe(pairA.keyId);
    expect(() => signingKeyFromEnv({ RULES_SIGNING_KEY: "x", RULES_SIGNING_KEY_FILE: "y" })).toThrow(
      SigningKeyError,
    );
    let msg = "";
    try {
      signingKeyFromEnv({
        RULES_SIGNING_KEY: "-----BEGIN PRIVATE KEY-----\nsecretstuff\n-----END PRIVATE KEY-----",
      });
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/^RULES_SIGNING_KEY: /);
    expect(msg).not.toContain("secretstuff");
  });
});

describe("the engine's configuration", () => {
  const problems = (env: NodeJS.ProcessEnv): string => {
    try {
      loadConfig(rulesEngineConfigSchema, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).message;
    }
    return "accepted";
  };

  it("requires RULES_PUBLIC_KEYS, naming it, and never shows the value given", () => {
    expect(problems({})).toMatch(/RULES_PUBLIC_KEYS: required.*\(not set\)/);
    const bad = problems({ RULES_PUBLIC_KEYS: "ed25519:c2VjcmV0LXNob3J0" });
    expect(bad).toMatch(/RULES_PUBLIC_KEYS: entry 1 is not 32 bytes of base64/);
    expect(bad).not.toContain("c2VjcmV0LXNob3J0");
    const ok = loadConfig(rulesEngineConfigSchema, { RULES_PUBLIC_KEYS: pairA.publicKeyPem });
    expect([...ok.RULES_PUBLIC_KEYS.keys()]).toEqual([pairA.keyId]);
  });
});

describe("RuleSetRegistry.admit: the acceptance rules", () => {
  function running(): RuleSetRegistry {
    const reg = new RuleSetRegistry("standard", PROGRAMME);
    const v1 = signedPublication(standard(1), T, signerA);
    const a = reg.admit(v1, at(0), verify);
    if (a.kind !== "accept") throw new Error(`v1 not accepted: ${JSON.stringify(a)}`);
    reg.install(a.candidate, reg.effectiveTimeFor(1000));
    return reg;
  }

  it("accepts a signed, greater, valid version; installs it from the stream time, not the publisher's", () => {
    const reg = running();
    const v2 = signedPublication(standard(2, "3"), 0, signerA);
    const a = reg.admit(v2, at(1), verify);
    expect(a.kind).toBe("accept");
    if (a.kind !== "accept") return;
    expect(a.candidate.audit).toMatchObject({ publisher: "alice", keyId: pairA.keyId, publishedAt: 0 });
    // Nothing changes until install.
    expect(reg.latest?.version).toBe(1);
    const effective = reg.effectiveTimeFor(5000);
    expect(effective).toBe(5000);
    reg.install(a.candidate, effective);
    expect(reg.at(4999)?.version).toBe(1);
    expect(reg.at(5000)?.version).toBe(2);
    // publishedAt 0 claimed: history before the stream time keeps v1.
    expect(reg.at(0)?.version).toBe(1);
  });

  it("the effective time never goes before the newest running version's", () => {
    const reg = running();
    expect(reg.latest?.effectiveAt).toBe(1000);
    expect(reg.effectiveTimeFor(10)).toBe(1001);
    expect(new RuleSetRegistry("standard", PROGRAMME).effectiveTimeFor(Number.NEGATIVE_INFINITY)).toBe(0);
  });

  it("refuses unsigned, unknown key, bad signature, replayed, version-lowering and invalid; changes nothing", () => {
    const reg = running();
    const v3 = signedPublication(standard(3), T, signerA);
    const a3 = reg.admit(v3, at(2), verify);
    if (a3.kind !== "accept") throw new Error("v3");
    reg.install(a3.candidate, reg.effectiveTimeFor(2000));
    const before = reg.all().map((v) => [v.version, v.effectiveAt, v.checksum]);
    const code = (p: RuleSetPublished, offset = 9) => {
      const r = reg.admit(p, at(offset), verify);
      return r.kind === "reject" ? r.code : r.kind;
    };
    // The forged rule set of issue 21: version 999999, publishedAt 0, unsigned.
    expect(code(publication(standard(999999), 0))).toBe("RULESET_UNSIGNED");
    expect(code(signedPublication(standard(999999), 0, signerB))).toBe("RULESET_UNKNOWN_KEY");
    const good4 = signedPublication(standard(4), T, signerA);
    expect(code({ ...good4, version: 5 })).toBe("RULESET_BAD_SIGNATURE");
    // Same version, other content; the very same record at another offset.
    expect(code(signedPublication(standard(3, "9"), T, signerA))).toBe("RULESET_REPLAYED");
    expect(code(v3, 7)).toBe("RULESET_REPLAYED");
    // The same record where it was accepted (a restart re-reading the topic): nothing to do.
    expect(code(v3, 2)).toBe("already-running");
    // An old version, never seen: lower than the running v3.
    const v2 = signedPublication(standard(2), T, signerA);
    expect(code(v2)).toBe("RULESET_VERSION_NOT_GREATER");
    // Signed but not a valid rule set (a rate over the caps), or the JSON's version differs.
    const bad = standard(4, "999999999999");
    expect(code(signedPublication(bad, T, signerA))).toBe("RULESET_INVALID");
    // The rule set swapped under a signed checksum: the checksum no longer matches it.
    const swapped = {
      ...signedPublication(standard(4), T, signerA),
      ruleSetJson: publication(standard(4, "5"), T).ruleSetJson,
    };
    expect(code(swapped)).toBe("RULESET_INVALID");
    // Another programme's rule set: not this engine's.
    expect(code(signedPublication({ ...standard(9), id: "other" }, T, signerA))).toBe("other-id");
    expect(reg.all().map((v) => [v.version, v.effectiveAt, v.checksum])).toEqual(before);
  });
});
