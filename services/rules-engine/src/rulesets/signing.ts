import {
  type KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { DlqReasonCode, RuleSetPublished } from "@loyalty/contracts";
import { LoyaltyError } from "@loyalty/stream-runtime";

// Signed rule-set publications (loyalty.rules.v1, docs/security.md). node:crypto only, no I/O
// except reading key files named by the environment.
//
// What is signed: the canonical JSON (keys sorted, no spaces) of a statement binding the rule
// set's id, version, checksum (sha256 of ruleSetJson, itself canonical JSON of the rule set),
// the publisher's name, the publisher's claimed publishedAt and the key id. Its sha256 is the
// record's `digest`; the Ed25519 signature covers the digest's 32 bytes. The engine recomputes
// the statement from the record, so a changed field changes the digest and fails.

/** A signing-key problem: the variable's name and the rule, never the key. Not retriable. */
export class SigningKeyError extends LoyaltyError {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`, { retriable: false });
  }
}

/** JSON with every object's keys sorted and no whitespace: the same value gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

export const sha256Hex = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** The key id: first 16 hex digits of sha256 of the public key's SPKI DER. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return sha256Hex(pub.export({ type: "spki", format: "der" })).slice(0, 16);
}

export interface StatementFields {
  ruleSetId: string;
  version: number;
  checksum: string;
  publisher: string;
  publishedAt: number;
  keyId: string;
}

/** The bytes whose sha256 is signed. */
export function statementBytes(s: StatementFields): Buffer {
  return Buffer.from(
    canonicalJson({
      type: "loyalty.rules.v1/signed-publication",
      ruleSetId: s.ruleSetId,
      version: s.version,
      checksum: s.checksum,
      publisher: s.publisher,
      publishedAt: s.publishedAt,
      keyId: s.keyId,
    }),
    "utf8",
  );
}

export function digestOf(s: StatementFields): string {
  return sha256Hex(statementBytes(s));
}

export interface Signer {
  keyId: string;
  publisher: string;
  /** Ed25519 signature of the 32 bytes of a hex sha256 digest. */
  signDigest(digestHex: string): Buffer;
}

export function signerOf(privateKey: KeyObject, publisher: string): Signer {
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519")
    throw new SigningKeyError("RULES_SIGNING_KEY", "must be an Ed25519 private key (PEM, PKCS#8)");
  const keyId = keyIdOf(privateKey);
  return {
    keyId,
    publisher,
    signDigest: (digestHex) => sign(null, Buffer.from(digestHex, "hex"), privateKey),
  };
}

/** Signs an unsigned publication: fills publisher, keyId, digest and signature. */
export function signPublication(p: RuleSetPublished, signer: Signer): RuleSetPublished {
  const fields: StatementFields = {
    ruleSetId: p.ruleSetId,
    version: p.version,
    checksum: p.checksum,
    publisher: signer.publisher,
    publishedAt: p.publishedAt,
    keyId: signer.keyId,
  };
  const digest = digestOf(fields);
  return {
    ...p,
    publisher: signer.publisher,
    keyId: signer.keyId,
    digest,
    signature: signer.signDigest(digest),
  };
}

/** The public keys the engine trusts, by key id. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

export type Verification =
  | { ok: true; keyId: string; publisher: string; digest: string }
  | { ok: false; code: DlqReasonCode; detail: string };

/** Checks a publication's signature against the trusted keys. Pure: no I/O. */
export function verifyPublication(p: RuleSetPublished, keys: TrustedKeys): Verification {
  const { publisher, keyId, digest, signature } = p;
  if (
    publisher === null ||
    publisher === undefined ||
    publisher === "" ||
    keyId === null ||
    keyId === undefined ||
    digest === null ||
    digest === undefined ||
    signature === null ||
    signature === undefined
  )
    return { ok: false, code: "RULESET_UNSIGNED", detail: "publisher, keyId, digest or signature missing" };
  const key = keys.get(keyId);
  if (key === undefined)
    return { ok: false, code: "RULESET_UNKNOWN_KEY", detail: `key id ${keyId} is not in RULES_PUBLIC_KEYS` };
  const expected = digestOf({
    ruleSetId: p.ruleSetId,
    version: p.version,
    checksum: p.checksum,
    publisher,
    publishedAt: p.publishedAt,
    keyId,
  });
  if (expected !== digest)
    return { ok: false, code: "RULESET_BAD_SIGNATURE", detail: "digest does not match the record's fields" };
  let good = false;
  try {
    good = verify(null, Buffer.from(digest, "hex"), key, signature);
  } catch {
    good = false;
  }
  if (!good)
    return {
      ok: false,
      code: "RULESET_BAD_SIGNATURE",
      detail: `signature does not verify with key ${keyId}`,
    };
  return { ok: true, keyId, publisher, digest };
}

const PEM_PUBLIC = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

/**
 * RULES_PUBLIC_KEYS: inline PEM public keys (one or more BEGIN PUBLIC KEY blocks), or a comma-
 * separated list of PEM file paths and `ed25519:<base64 of the 32-byte raw key>` entries.
 * Throws SigningKeyError naming the variable, never quoting the value.
 */
export function parsePublicKeys(value: string | undefined, variable = "RULES_PUBLIC_KEYS"): TrustedKeys {
  if (value === undefined || value.trim() === "")
    throw new SigningKeyError(
      variable,
      "required: one or more Ed25519 public keys (PEM, PEM file paths, or ed25519:<base64>) that may sign rule sets (not set)",
    );
  const keys = new Map<string, KeyObject>();
  const add = (source: { pem: string } | { raw: Buffer }, what: string) => {
    let key: KeyObject;
    try {
      key =
        "raw" in source
          ? createPublicKey({
              key: { kty: "OKP", crv: "Ed25519", x: source.raw.toString("base64url") },
              format: "jwk",
            })
          : createPublicKey(source.pem);
    } catch {
      throw new SigningKeyError(variable, `${what} is not a public key`);
    }
    if (key.asymmetricKeyType !== "ed25519")
      throw new SigningKeyError(variable, `${what} is not an Ed25519 key`);
    keys.set(keyIdOf(key), key);
  };
  const blocks = value.match(PEM_PUBLIC);
  if (blocks) blocks.forEach((b, i) => add({ pem: b }, `PEM block ${i + 1}`));
  else
    value
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .forEach((entry, i) => {
        if (entry.startsWith("ed25519:")) {
          const raw = Buffer.from(entry.slice("ed25519:".length), "base64");
          if (raw.length !== 32)
            throw new SigningKeyError(variable, `entry ${i + 1} is not 32 bytes of base64`);
          add({ raw }, `entry ${i + 1}`);
          return;
        }
        if (!existsSync(entry)) throw new SigningKeyError(variable, `entry ${i + 1} names no readable file`);
        const text = readFileSync(entry, "utf8");
        const inFile = text.match(PEM_PUBLIC);
        if (!inFile)
          throw new SigningKeyError(variable, `entry ${i + 1}: the file holds no BEGIN PUBLIC KEY block`);
        inFile.forEach((b, j) => add({ pem: b }, `entry ${i + 1} block ${j + 1}`));
      });
  if (keys.size === 0) throw new SigningKeyError(variable, "no key given");
  return keys;
}

/**
 * The signing key from the environment: RULES_SIGNING_KEY (inline PEM, PKCS#8) or
 * RULES_SIGNING_KEY_FILE (a path to one). Null when neither is set.
 */
export function signingKeyFromEnv(env: NodeJS.ProcessEnv): KeyObject | null {
  const inline = env.RULES_SIGNING_KEY;
  const file = env.RULES_SIGNING_KEY_FILE;
  if (inline !== undefined && inline.trim() !== "" && file !== undefined && file.trim() !== "")
    throw new SigningKeyError(
      "RULES_SIGNING_KEY",
      "set RULES_SIGNING_KEY or RULES_SIGNING_KEY_FILE, not both",
    );
  let pem: string;
  let variable: string;
  if (inline !== undefined && inline.trim() !== "") {
    pem = inline;
    variable = "RULES_SIGNING_KEY";
  } else if (file !== undefined && file.trim() !== "") {
    variable = "RULES_SIGNING_KEY_FILE";
    if (!existsSync(file)) throw new SigningKeyError(variable, "names no readable file");
    pem = readFileSync(file, "utf8");
  } else return null;
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new SigningKeyError(variable, "is not a PEM private key (value not shown: secret)");
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new SigningKeyError(variable, "is not an Ed25519 private key");
  return key;
}

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
}

/** A new Ed25519 key pair as PEM (PKCS#8 private, SPKI public). */
export function generateSigningKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    keyId: keyIdOf(publicKey),
  };
}
