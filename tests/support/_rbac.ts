/**
 * RBAC for the test API server, from the same YAML a cluster would be given (deploy/rbac.yaml):
 * ClusterRoles and the ClusterRoleBindings that grant them to ServiceAccounts and Users. A user
 * a binding names gets exactly the rules bound to it, as from kube-apiserver's RBAC authorizer;
 * any other authenticated user is the test's administrator and may do everything.
 *
 * @module
 */

import { loadAll } from "js-yaml";
import { RESOURCES } from "./_store.ts";
import type { Verb } from "./_http.ts";

/** One request, as the server's authorizer sees it. */
export interface AuthzRequest {
  user: string;
  verb: Verb;
  /** Plural resource name (unique among what the test server serves). */
  resource: string;
}

/** The authorizer and the users it restricts. */
export interface RbacAuthorizer {
  authorize(r: AuthzRequest): boolean;
  /** Users named by a binding, with the "verb group/resource" pairs granted to each. */
  grants: Map<string, Set<string>>;
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Builds the authorizer; throws on RBAC features the test server does not model. */
export function rbacAuthorizer(yamlText: string): RbacAuthorizer {
  const docs = (loadAll(yamlText) as Json[]).filter((d) => d);
  const roles = new Map<string, Json[]>();
  for (const d of docs.filter((d) => d.kind === "ClusterRole")) {
    for (const r of d.rules ?? []) {
      if (r.resourceNames || r.nonResourceURLs) {
        throw new Error(`ClusterRole ${d.metadata.name}: resourceNames/nonResourceURLs unmodelled`);
      }
    }
    roles.set(d.metadata.name, d.rules ?? []);
  }
  const grants = new Map<string, Set<string>>();
  for (const b of docs.filter((d) => d.kind === "ClusterRoleBinding")) {
    const rules = roles.get(b.roleRef?.name);
    if (b.roleRef?.kind !== "ClusterRole" || !rules) {
      throw new Error(`ClusterRoleBinding ${b.metadata.name}: no ClusterRole ${b.roleRef?.name}`);
    }
    for (const s of b.subjects ?? []) {
      const user = s.kind === "ServiceAccount"
        ? `system:serviceaccount:${s.namespace}:${s.name}`
        : s.kind === "User"
        ? s.name
        : undefined;
      if (!user) throw new Error(`ClusterRoleBinding ${b.metadata.name}: subject kind ${s.kind}`);
      const set = grants.get(user) ?? new Set<string>();
      for (const r of rules) {
        for (const g of r.apiGroups) {
          for (const res of r.resources) for (const v of r.verbs) set.add(`${v} ${g}/${res}`);
        }
      }
      grants.set(user, set);
    }
  }
  const authorize = (r: AuthzRequest): boolean => {
    const set = grants.get(r.user);
    if (!set) return true;
    const group = RESOURCES.find((x) => x.plural === r.resource)?.group ?? "";
    return [r.verb, "*"].some((v) =>
      [group, "*"].some((g) => [r.resource, "*"].some((res) => set.has(`${v} ${g}/${res}`)))
    );
  };
  return { authorize, grants };
}
