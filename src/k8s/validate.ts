/**
 * Validation of the Kubernetes objects kipvs reads, shared by the API source and the manifest
 * source: one decoded object (plain JSON, as the API server returns it, or a YAML document) in,
 * the typed object of `types.ts` out, with the API server's defaults applied, or the list of
 * what is wrong with it, each naming the field and the value.
 *
 * What is checked is what the dataplane depends on: names (they end up in ipset and iptables
 * comments), addresses and their families, CIDRs, ports and node ports, protocols, enumerations,
 * and the slice's `kubernetes.io/service-name` label. IP addresses and CIDRs come out in
 * canonical text (see `ip.ts`).
 *
 * Only core/v1 Service and Node and discovery.k8s.io/v1 EndpointSlice are read; other kinds and
 * versions, and EndpointSlices of addressType FQDN, are `ignored`.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { KubeObject } from "./types.ts";
import { Checker, isRaw, type Raw, type ValidationIssue } from "./_check.ts";
import { peekIdentity, readMeta } from "./_meta.ts";
import { DNS_SUBDOMAIN, type NameFormat, SERVICE_NAME } from "./names.ts";
import { readService } from "./_service.ts";
import { readEndpointSlice } from "./_slice.ts";
import { readNode } from "./_node.ts";
import { compact } from "./_compact.ts";

export type { ValidationIssue } from "./_check.ts";

/** The kinds kipvs reads, with their API version. */
export const KINDS: Readonly<
  Record<KubeObject["kind"], { apiVersion: string; namespaced: boolean; nameFormat: NameFormat }>
> = {
  Service: { apiVersion: "v1", namespaced: true, nameFormat: SERVICE_NAME },
  EndpointSlice: { apiVersion: "discovery.k8s.io/v1", namespaced: true, nameFormat: DNS_SUBDOMAIN },
  Node: { apiVersion: "v1", namespaced: false, nameFormat: DNS_SUBDOMAIN },
};

/** Options of {@link validateObject}. */
export interface ValidateOptions {
  /**
   * Kind and apiVersion for objects that carry none: the items of a typed list
   * (`ServiceList` from `GET /api/v1/services`) have neither.
   */
  kind?: string;
  apiVersion?: string;
  /** Namespace for namespaced objects without one (manifest files use "default", as kubectl). */
  defaultNamespace?: string;
}

/** What {@link validateObject} made of one object. */
export interface ValidationResult {
  /** The object's kind ("" when it has none). */
  kind: string;
  /** Namespace and name as far as they could be read, for messages. */
  namespace: string;
  name: string;
  /** The typed object: present exactly when `issues` is empty and the object is not ignored. */
  object?: KubeObject;
  /** What makes the object invalid; it must be skipped. */
  issues: ValidationIssue[];
  /** Oddities read the way kube-proxy reads them (leading zeros, host bits, port-less ports). */
  warnings: ValidationIssue[];
  /** Set for kinds kipvs does not read and for FQDN EndpointSlices; `reason` says which. */
  ignored?: boolean;
  reason?: string;
  /** What made it ignored: a kind or an apiVersion kipvs does not read, or an FQDN slice. */
  ignoredFor?: "kind" | "apiVersion" | "addressType";
}

/**
 * Turns one decoded API object into a typed, defaulted object, or says what is wrong with it.
 * The object is in compact form, and parts of it are shared with other objects and frozen (see
 * `_compact.ts`): read it, do not change it.
 */
export function validateObject(raw: unknown, options: ValidateOptions = {}): ValidationResult {
  if (!isRaw(raw)) {
    return {
      kind: "",
      namespace: "",
      name: "",
      issues: [{ field: "", value: raw, message: "is not an object" }],
      warnings: [],
    };
  }
  const kind = typeof raw.kind === "string" && raw.kind !== "" ? raw.kind : options.kind ?? "";
  const apiVersion = typeof raw.apiVersion === "string" && raw.apiVersion !== ""
    ? raw.apiVersion
    : options.apiVersion;
  const def = Object.hasOwn(KINDS, kind) ? KINDS[kind as KubeObject["kind"]] : undefined;
  const id = peekIdentity(raw, {
    namespaced: def?.namespaced ?? true,
    defaultNamespace: options.defaultNamespace,
  });
  const base = { kind, ...id, warnings: [] };
  if (kind === "") {
    return { ...base, issues: [{ field: "kind", message: "required" }] };
  }
  const ignored = (
    ignoredFor: ValidationResult["ignoredFor"],
    reason: string,
  ): ValidationResult => ({ ...base, issues: [], ignored: true, reason, ignoredFor });
  if (def === undefined) return ignored("kind", `kind ${clip(kind)} is not read by kipvs`);
  if (apiVersion !== undefined && apiVersion !== def.apiVersion) {
    return ignored(
      "apiVersion",
      `${kind} of apiVersion ${clip(apiVersion)} is not read by kipvs (it reads ${def.apiVersion})`,
    );
  }
  const c = new Checker();
  const metadata = readMeta(raw, c, { ...def, defaultNamespace: options.defaultNamespace });
  const object = readKind(raw, kind as KubeObject["kind"], metadata, c);
  if (object === "FQDN") {
    return ignored("addressType", "addressType FQDN: kipvs proxies to IPs only");
  }
  const result: ValidationResult = { ...base, issues: c.issues, warnings: c.warnings };
  if (c.issues.length === 0) result.object = compact(object);
  return result;
}

/** Reads the body of an object of a kind kipvs reads; "FQDN" for an FQDN EndpointSlice. */
function readKind(
  raw: Raw,
  kind: KubeObject["kind"],
  metadata: ReturnType<typeof readMeta>,
  c: Checker,
): KubeObject | "FQDN" {
  if (kind === "Service") return readService(raw, metadata, c);
  if (kind === "Node") return readNode(raw, metadata, c);
  const at = c.oneOf(raw.addressType, "addressType", ["IPv4", "IPv6", "FQDN"]);
  if (at === "FQDN") return "FQDN";
  if (at === undefined && (raw.addressType === undefined || raw.addressType === null)) {
    c.fail("addressType", undefined, "required");
  }
  return readEndpointSlice(raw, metadata, at ?? "IPv4", c);
}

/** Which object an issue is about, and where it came from. */
export interface IssueContext {
  kind: string;
  namespace: string;
  name: string;
  /** Where the object came from: "file /etc/kipvs/web.yaml", "API watch". */
  source?: string;
}

/**
 * "Service default/web (file x.yaml)". Kind, namespace and name are cut to {@link MAX_SHOWN}
 * characters: an invalid object's name can be a megabyte long.
 */
export function describeObject(ctx: IssueContext): string {
  const name = ctx.name === "" ? "<unnamed>" : clip(ctx.name);
  const key = ctx.namespace === "" ? name : `${clip(ctx.namespace)}/${name}`;
  const from = ctx.source ? ` (${ctx.source})` : "";
  return `${clip(ctx.kind) || "object"} ${key}${from}`;
}

/** "spec.ports[0].port: 70000 out of range 1-65535". */
export function describeIssue(issue: ValidationIssue): string {
  const value = issue.value === undefined ? "" : `${renderValue(issue.value)} `;
  return issue.field === ""
    ? `${value}${issue.message}`
    : `${issue.field}: ${value}${issue.message}`;
}

/**
 * One line for one issue: "invalid Service default/web (file x.yaml): spec.ports[0].port: 70000
 * out of range 1-65535".
 */
export function formatIssue(ctx: IssueContext, issue: ValidationIssue): string {
  return `invalid ${describeObject(ctx)}: ${describeIssue(issue)}`;
}

/** A KipvsError ("invalid-object") for an invalid object, naming its first issue. */
export function validationError(ctx: IssueContext, issues: readonly ValidationIssue[]): KipvsError {
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  const what = first ? describeIssue(first) : "no issue recorded";
  return new KipvsError("invalid-object", `invalid ${describeObject(ctx)}: ${what}${more}`, {
    details: { ...ctx, issues },
  });
}

/** The most characters of a value or name a message shows. */
export const MAX_SHOWN = 80;

/** `s` cut to {@link MAX_SHOWN} characters, "..." marking the cut. */
function clip(s: string): string {
  return s.length > MAX_SHOWN ? s.slice(0, MAX_SHOWN - 3) + "..." : s;
}

/**
 * A value as JSON, cut to {@link MAX_SHOWN} characters. Only what is shown is rendered: the
 * walk stops once it has enough, so a huge list, or one that YAML aliases make exponential or
 * circular, costs no more than a small one.
 */
export function renderValue(v: unknown): string {
  const out = { text: "", room: MAX_SHOWN + 1 };
  renderInto(v, out);
  return clip(out.text);
}

function renderInto(v: unknown, out: { text: string; room: number }): void {
  const put = (s: string) => {
    out.text += s.length > out.room ? s.slice(0, out.room) : s;
    out.room -= s.length;
  };
  if (out.room <= 0) return;
  if (typeof v === "string") return put(JSON.stringify(v.slice(0, out.room)));
  if (typeof v !== "object" || v === null) return put(String(v));
  const list = Array.isArray(v);
  put(list ? "[" : "{");
  if (list) {
    for (let i = 0; i < v.length && out.room > 0; i++) {
      if (i > 0) put(",");
      renderInto(v[i], out);
    }
  } else {
    let i = 0;
    for (const key in v) {
      if (out.room <= 0) return;
      if (!Object.hasOwn(v, key)) continue;
      if (i++ > 0) put(",");
      put(`${JSON.stringify(key.slice(0, out.room))}:`);
      renderInto((v as Record<string, unknown>)[key], out);
    }
  }
  put(list ? "]" : "}");
}
