/**
 * Errors from the Kubernetes API as {@link KipvsError}s with code "kube-api": the message names
 * the server, the request, the HTTP status and the reason; `details` carries them for code.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";

/** What went wrong with one API request, as far as it is known. */
export interface ApiFailure {
  /** The API server's base URL. */
  server: string;
  /** HTTP method. */
  method: string;
  /** Path and query of the request. */
  path: string;
  /** HTTP status; undefined when no response came back (refused, reset, TLS failure). */
  status?: number;
  /** The Status object's `reason` ("Expired", "Forbidden", ...) or the HTTP reason phrase. */
  reason?: string;
  /** Human-readable explanation (the Status object's `message`, or the transport's error). */
  message: string;
  /** Seconds the server asked the client to wait (Retry-After). */
  retryAfterSeconds?: number;
  /** The underlying failure (network error, parse error). */
  cause?: unknown;
}

/** Builds the "kube-api" error of a failed request. */
export function apiError(f: ApiFailure): KipvsError {
  const what = f.status === undefined ? "failed" : `${f.status} ${f.reason ?? ""}`.trim();
  const details: Record<string, unknown> = {
    server: f.server,
    method: f.method,
    path: f.path,
  };
  if (f.status !== undefined) details.status = f.status;
  if (f.reason !== undefined) details.reason = f.reason;
  if (f.retryAfterSeconds !== undefined) details.retryAfterSeconds = f.retryAfterSeconds;
  return new KipvsError(
    "kube-api",
    `API server ${f.server}: ${f.method} ${f.path}: ${what}: ${f.message}`,
    { cause: f.cause, details },
  );
}

/** Status, reason and Retry-After of an API error; empty for any other error. */
export function apiStatusOf(
  err: unknown,
): { status?: number; reason?: string; retryAfterSeconds?: number } {
  if (!(err instanceof KipvsError) || err.code !== "kube-api") return {};
  const d = err.details;
  return {
    status: typeof d.status === "number" ? d.status : undefined,
    reason: typeof d.reason === "string" ? d.reason : undefined,
    retryAfterSeconds: typeof d.retryAfterSeconds === "number" ? d.retryAfterSeconds : undefined,
  };
}

/** True for 410 Gone: a resourceVersion or continue token too old to serve; relist. */
export function isGone(err: unknown): boolean {
  return apiStatusOf(err).status === 410;
}

/**
 * Parses a Retry-After header: delta seconds or an HTTP date (RFC 9110). Undefined when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** The fields of a `kind: Status` body, when the body is one. */
export function statusBody(body: unknown): { message?: string; reason?: string; code?: number } {
  if (typeof body !== "object" || body === null) return {};
  const b = body as Record<string, unknown>;
  if (b.kind !== "Status") return {};
  return {
    message: typeof b.message === "string" ? b.message : undefined,
    reason: typeof b.reason === "string" ? b.reason : undefined,
    code: typeof b.code === "number" ? b.code : undefined,
  };
}
