/**
 * The validator the Kubernetes source decodes objects with (`validateObject` in
 * src/k8s/validate.ts has this shape), and how its verdicts are reported.
 *
 * @module
 */

import type { KubeObject } from "../../k8s/types.ts";

/** What a validator says about one raw object. */
export interface DecodeResult {
  /** The validated object, with API defaults filled in; absent when invalid or ignored. */
  object?: KubeObject;
  /** Problems found (strings, or objects with a `message` and perhaps a `path`). */
  issues: readonly unknown[];
  /** The object is valid but of no interest to a proxy (an FQDN EndpointSlice, ...). */
  ignored?: boolean;
}

/** Turns a raw API object (with `kind` set) into a {@link KubeObject}, or says why not. */
export type ObjectDecoder = (raw: unknown) => DecodeResult;

/** One line for logs from a validator's issues. */
export function formatIssues(issues: readonly unknown[]): string {
  if (issues.length === 0) return "no reason given";
  return issues.map((i) => {
    if (typeof i === "string") return i;
    if (typeof i === "object" && i !== null) {
      const { path, field, message } = i as { path?: unknown; field?: unknown; message?: unknown };
      const where = typeof path === "string" ? path : typeof field === "string" ? field : "";
      if (typeof message === "string") return where ? `${where}: ${message}` : message;
    }
    return JSON.stringify(i);
  }).join("; ");
}
