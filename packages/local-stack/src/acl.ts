// The broker's ACLs, generated from the topic contract (schemas/asyncapi.yaml): each channel's
// `x-producers` may write it and its `x-consumers` read it; `x-principals` adds each principal's
// consumer groups and transactional ids (prefixes) and whether it may see and create (not read or
// write) every topic of its namespace, as a service's start-up provisioning does.
// Nothing else is allowed: the StandardAuthorizer denies what no ACL allows.
//
// Namespaces (ADR 10): a namespace's topics are `<ns>.<address>`. A PREFIXED pattern on `<ns>.`
// cannot say "ingestor may write <ns>.loyalty.purchases.v1 but not <ns>.loyalty.rules.v1", so a
// namespace gets the same rules as LITERAL ACLs on its own topic names, created by the admin
// principal when the namespace is provisioned (stack up for the empty namespace; `loyalty up` and
// the test harness for theirs). Groups and transactional ids are PREFIXED `<ns>.<service>`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AclEntry, Admin } from "kafkajs";
// kafkajs is CommonJS and Node cannot see these enums as named exports: they come from the default.
import kafkajs from "kafkajs";
import { parse } from "yaml";
import { type Principal, SERVICE_PRINCIPALS } from "./credentials.ts";
import { REPO_ROOT } from "./paths.ts";

export const ASYNCAPI_FILE = join(REPO_ROOT, "schemas/asyncapi.yaml");

export interface ChannelAccess {
  address: string;
  producers: string[];
  consumers: string[];
}

export interface PrincipalAccess {
  groups: string[];
  /** Group prefixes that are the same in every namespace (not prefixed with it). */
  globalGroups: string[];
  transactionalIds: string[];
  provisionTopics: boolean;
}

export interface AccessPlan {
  channels: ChannelAccess[];
  principals: Record<string, PrincipalAccess>;
}

export class AccessPlanError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(`${ASYNCAPI_FILE}: ${message}`);
    this.name = "AccessPlanError";
  }
}

const KNOWN = new Set<string>(["admin", ...SERVICE_PRINCIPALS, "publisher", "upstream", "backtest"]);

function names(v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new AccessPlanError(`${where} must be a list of principal names`);
  for (const n of v) if (!KNOWN.has(n)) throw new AccessPlanError(`${where} names unknown principal '${n}'`);
  return v;
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x !== ""))
    throw new AccessPlanError(`${where} must be a list of non-empty strings`);
  return v;
}

/** Who may produce and consume what, as the AsyncAPI document says. */
export function accessPlan(text: string = readFileSync(ASYNCAPI_FILE, "utf8")): AccessPlan {
  const doc = parse(text) as { channels?: Record<string, unknown>; "x-principals"?: Record<string, unknown> };
  const channels: ChannelAccess[] = [];
  for (const [id, raw] of Object.entries(doc.channels ?? {})) {
    const c = raw as Record<string, unknown>;
    if (typeof c.address !== "string") throw new AccessPlanError(`channel ${id} has no address`);
    channels.push({
      address: c.address,
      producers: names(c["x-producers"], `channels.${id}.x-producers`),
      consumers: names(c["x-consumers"], `channels.${id}.x-consumers`),
    });
  }
  const principals: Record<string, PrincipalAccess> = {};
  for (const [name, raw] of Object.entries(doc["x-principals"] ?? {})) {
    if (name === "description") continue;
    names([name], "x-principals");
    const p = (raw ?? {}) as Record<string, unknown>;
    principals[name] = {
      groups: strings(p.groups, `x-principals.${name}.groups`),
      globalGroups: strings(p.globalGroups, `x-principals.${name}.globalGroups`),
      transactionalIds: strings(p.transactionalIds, `x-principals.${name}.transactionalIds`),
      provisionTopics: p.provisionTopics === true,
    };
  }
  return { channels, principals };
}

/** One ACL in a form that is easy to compare and print: `User:x TOPIC LITERAL name WRITE`. */
export interface Grant {
  principal: string;
  resource: "TOPIC" | "GROUP" | "TRANSACTIONAL_ID";
  pattern: "LITERAL" | "PREFIXED";
  name: string;
  operation: "READ" | "WRITE" | "DESCRIBE" | "CREATE";
}

export function grantKey(g: Grant): string {
  return `User:${g.principal} ${g.resource} ${g.pattern} ${g.name} ${g.operation}`;
}

/** The ACLs of one namespace ("" is the production one), sorted and without duplicates. */
export function namespaceGrants(namespace: string, plan: AccessPlan = accessPlan()): Grant[] {
  const prefix = namespace === "" ? "" : `${namespace}.`;
  const out = new Map<string, Grant>();
  const add = (g: Grant) => out.set(grantKey(g), g);
  for (const c of plan.channels) {
    const name = `${prefix}${c.address}`;
    for (const p of c.producers)
      add({ principal: p, resource: "TOPIC", pattern: "LITERAL", name, operation: "WRITE" });
    for (const p of c.consumers)
      add({ principal: p, resource: "TOPIC", pattern: "LITERAL", name, operation: "READ" });
  }
  for (const [principal, a] of Object.entries(plan.principals)) {
    if (a.provisionTopics)
      for (const c of plan.channels)
        for (const operation of ["DESCRIBE", "CREATE"] as const)
          add({ principal, resource: "TOPIC", pattern: "LITERAL", name: `${prefix}${c.address}`, operation });
    for (const g of a.groups)
      for (const operation of ["READ", "DESCRIBE"] as const)
        add({ principal, resource: "GROUP", pattern: "PREFIXED", name: `${prefix}${g}`, operation });
    for (const g of a.globalGroups)
      for (const operation of ["READ", "DESCRIBE"] as const)
        add({ principal, resource: "GROUP", pattern: "PREFIXED", name: g, operation });
    for (const t of a.transactionalIds)
      for (const operation of ["WRITE", "DESCRIBE"] as const)
        add({
          principal,
          resource: "TRANSACTIONAL_ID",
          pattern: "PREFIXED",
          name: `${prefix}${t}`,
          operation,
        });
  }
  return [...out.values()].sort((a, b) => grantKey(a).localeCompare(grantKey(b)));
}

/**
 * Apicurio's storage client: its own topics (kafkasql-journal, kafkasql-snapshots and
 * registry-events, which it creates) and consumer groups (`apicurio-<uuid>`, one per start; its
 * default registry.id, which must stay unique to the journal's consumer: a second consumer of
 * the same group held the journal's replay in a rebalance for max.poll.interval.ms, 5 minutes),
 * nothing of the engine's.
 */
export function registryGrants(principal: Principal = "registry"): Grant[] {
  const grants: Grant[] = [];
  for (const operation of ["READ", "WRITE", "DESCRIBE", "CREATE"] as const) {
    grants.push({ principal, resource: "TOPIC", pattern: "PREFIXED", name: "kafkasql-", operation });
    grants.push({ principal, resource: "TOPIC", pattern: "LITERAL", name: "registry-events", operation });
  }
  for (const operation of ["READ", "DESCRIBE"] as const)
    grants.push({ principal, resource: "GROUP", pattern: "PREFIXED", name: "apicurio-", operation });
  return grants;
}

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

const RESOURCE = {
  TOPIC: AclResourceTypes.TOPIC,
  GROUP: AclResourceTypes.GROUP,
  TRANSACTIONAL_ID: AclResourceTypes.TRANSACTIONAL_ID,
} as const;
const OPERATION = {
  READ: AclOperationTypes.READ,
  WRITE: AclOperationTypes.WRITE,
  DESCRIBE: AclOperationTypes.DESCRIBE,
  CREATE: AclOperationTypes.CREATE,
} as const;

export function aclEntry(g: Grant): AclEntry {
  return {
    principal: `User:${g.principal}`,
    host: "*",
    resourceType: RESOURCE[g.resource],
    resourceName: g.name,
    resourcePatternType:
      g.pattern === "LITERAL" ? ResourcePatternTypes.LITERAL : ResourcePatternTypes.PREFIXED,
    operation: OPERATION[g.operation],
    permissionType: AclPermissionTypes.ALLOW,
  };
}

/** Creates the grants (idempotent: the broker keeps one copy of an ACL created twice). */
export async function applyGrants(admin: Admin, grants: readonly Grant[]): Promise<number> {
  if (grants.length === 0) return 0;
  await admin.createAcls({ acl: grants.map(aclEntry) });
  return grants.length;
}

/**
 * Deletes the topic ACLs of the engine's own principals that the contract no longer grants on the
 * topics `grants` covers (LITERAL topic names): applying the grants only adds, so a producer or
 * consumer removed from schemas/asyncapi.yaml (rules-engine's WRITE on loyalty.rules.v1, say)
 * would keep its access on a stack provisioned before. Other principals' ACLs are left alone.
 * Returns how many were deleted.
 */
export async function revokeStaleTopicGrants(admin: Admin, grants: readonly Grant[]): Promise<number> {
  const wanted = new Set(grants.map(grantKey));
  const topics = new Set(
    grants.filter((g) => g.resource === "TOPIC" && g.pattern === "LITERAL").map((g) => g.name),
  );
  const ops = new Map<number, Grant["operation"]>(
    Object.entries(OPERATION).map(([k, v]) => [v, k as Grant["operation"]]),
  );
  const stale: AclEntry[] = [];
  for (const name of topics) {
    const found = await admin.describeAcls({
      resourceType: AclResourceTypes.TOPIC,
      resourceName: name,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ALLOW,
    });
    for (const r of found.resources)
      for (const a of r.acls) {
        const principal = a.principal.startsWith("User:") ? a.principal.slice(5) : "";
        const operation = ops.get(a.operation);
        if (principal === "admin" || !KNOWN.has(principal) || operation === undefined) continue;
        const g: Grant = { principal, resource: "TOPIC", pattern: "LITERAL", name, operation };
        if (!wanted.has(grantKey(g))) stale.push(aclEntry(g));
      }
  }
  if (stale.length > 0) await admin.deleteAcls({ filters: stale });
  return stale.length;
}

// Namespaces whose ACLs this process has already created: provisioning is idempotent but not free.
const granted = new Set<string>();

/** The ACLs of a namespace, created once per process (admin principal required). */
export async function grantNamespace(admin: Admin, namespace: string): Promise<number> {
  if (granted.has(namespace)) return 0;
  const grants = namespaceGrants(namespace);
  const n = await applyGrants(admin, grants);
  await revokeStaleTopicGrants(admin, grants);
  granted.add(namespace);
  return n;
}
