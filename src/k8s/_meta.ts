/**
 * Reading `metadata` of a Service, EndpointSlice or Node.
 *
 * @module
 */

import type { ObjectMeta } from "./types.ts";
import { type Checker, isRaw, type Raw } from "./_check.ts";
import { DNS_LABEL, type NameFormat } from "./names.ts";

/**
 * Annotations dropped from validated objects: `kubectl apply` keeps a full copy of the object
 * there, which no part of kipvs reads and which would double the memory of a large cluster.
 */
export const DROPPED_ANNOTATIONS: readonly string[] = [
  "kubectl.kubernetes.io/last-applied-configuration",
];

/** How to read one object's metadata. */
export interface MetaOptions {
  /** Format of metadata.name. */
  nameFormat: NameFormat;
  /** Namespaced kinds need a namespace; cluster-scoped ones (Node) get "". */
  namespaced: boolean;
  /** Namespace for objects without one (manifest files: "default", as kubectl does). */
  defaultNamespace?: string;
}

/** Reads and checks `metadata`. */
export function readMeta(raw: Raw, c: Checker, o: MetaOptions): ObjectMeta {
  const m = c.record(raw.metadata, "metadata");
  if (m === undefined) {
    if (raw.metadata === undefined || raw.metadata === null) {
      c.fail("metadata", undefined, "required");
    }
    return { name: "", namespace: "", labels: {}, annotations: {} };
  }
  const name = c.name(m.name, "metadata.name", o.nameFormat, true);
  let namespace = "";
  if (o.namespaced) {
    const given = c.string(m.namespace, "metadata.namespace");
    if (given === undefined || given === "") {
      if (o.defaultNamespace === undefined) c.fail("metadata.namespace", undefined, "required");
      else namespace = o.defaultNamespace;
    } else {
      namespace = c.name(given, "metadata.namespace", DNS_LABEL, true);
    }
  }
  const annotations = c.stringMap(m.annotations, "metadata.annotations");
  for (const a of DROPPED_ANNOTATIONS) delete annotations[a];
  const meta: ObjectMeta = {
    name,
    namespace,
    labels: c.stringMap(m.labels, "metadata.labels"),
    annotations,
  };
  const rv = c.string(m.resourceVersion, "metadata.resourceVersion");
  if (rv !== undefined) meta.resourceVersion = rv;
  const uid = c.string(m.uid, "metadata.uid");
  if (uid !== undefined) meta.uid = uid;
  const del = c.string(m.deletionTimestamp, "metadata.deletionTimestamp");
  if (del !== undefined) meta.deletionTimestamp = del;
  const created = c.string(m.creationTimestamp, "metadata.creationTimestamp");
  if (created !== undefined && Number.isNaN(Date.parse(created))) {
    c.warn("metadata.creationTimestamp", created, "is not a time; ignored");
  } else if (created !== undefined) meta.creationTimestamp = created;
  return meta;
}

/** namespace and name of an object, as far as they can be read (for messages about it). */
export function peekIdentity(
  raw: unknown,
  o: { namespaced: boolean; defaultNamespace?: string },
): { namespace: string; name: string } {
  const m = isRaw(raw) && isRaw(raw.metadata) ? raw.metadata : {};
  const name = typeof m.name === "string" ? m.name : "";
  if (!o.namespaced) return { namespace: "", name };
  const ns = typeof m.namespace === "string" && m.namespace !== ""
    ? m.namespace
    : o.defaultNamespace ?? "";
  return { namespace: ns, name };
}
