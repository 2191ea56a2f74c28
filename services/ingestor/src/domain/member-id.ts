// Which member an upstream customer id belongs to.
//
// Policy: one loyalty programme whose upstream systems (shop, POS, app) share one customer id
// space, so by default the member id IS the customer id, whatever the source. A source that
// brings its own id space (an acquired shop whose "12345" is someone else) is given a
// namespace in configuration: its member ids become "<namespace>:<customerId>". Several
// sources may share a namespace. Namespaces are lower-case [a-z0-9-] so a namespaced id is
// recognisable; a shared customer id that itself looks like "ns:..." could collide with a
// namespace, which is why namespaces should be configured before that source goes live and
// never renamed (a rename re-keys every member of that source).

import { z } from "zod";

export interface MemberIdPolicy {
  /** source -> namespace; a source not listed uses the shared id space. */
  readonly namespaces: Readonly<Record<string, string>>;
}

export const SHARED_MEMBER_IDS: MemberIdPolicy = Object.freeze({ namespaces: Object.freeze({}) });

const policySchema = z
  .object({
    namespaces: z.record(z.string().min(1), z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/)).default({}),
  })
  .strict();

/** Validates configuration; throws with the offending path on a bad policy. */
export function parseMemberIdPolicy(raw: unknown): MemberIdPolicy {
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid member id policy at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  // Copy into a null-prototype map so a source named "__proto__" or "constructor" is just a key.
  const namespaces: Record<string, string> = Object.create(null);
  for (const [source, ns] of Object.entries(parsed.data.namespaces)) namespaces[source] = ns;
  return { namespaces };
}

export function memberIdFor(
  customerId: string,
  source: string,
  policy: MemberIdPolicy = SHARED_MEMBER_IDS,
): string {
  const ns = Object.hasOwn(policy.namespaces, source) ? policy.namespaces[source] : undefined;
  return ns === undefined ? customerId : `${ns}:${customerId}`;
}
