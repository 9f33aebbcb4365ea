/**
 * The one error type kipvs raises on purpose. Each failure class has a stable {@link ErrorCode}
 * that scripts and tests can match on, and the original failure travels as `cause`.
 *
 * @module
 */

/** Stable codes, one per failure class. Never match on message text; match on these. */
export type ErrorCode =
  | "usage" // bad command-line arguments or flag values
  | "not-root" // the operation needs root (CAP_NET_ADMIN and friends)
  | "not-implemented" // the subcommand or feature is not built yet
  | "kernel-unsupported" // the kernel lacks a facility (IPVS, ipset, ...)
  | "invalid-object" // a Service, EndpointSlice or Node failed validation
  | "invalid-config" // a configuration file or value failed validation
  | "netlink" // a netlink request failed (carries errno)
  | "exec" // an external program failed (ipset, iptables-restore, ...)
  | "kube-api" // the Kubernetes API answered with an error or could not be reached
  | "io" // reading or writing a file failed
  | "sync" // a sync of the dataplane did not complete
  | "internal"; // a bug: an invariant did not hold

/** Process exit status for an error code: 2 for usage-class errors, 1 for the rest. */
export function exitCodeFor(code: ErrorCode): number {
  return code === "usage" || code === "not-root" || code === "not-implemented" ? 2 : 1;
}

/** Options of {@link KipvsError}. */
export interface KipvsErrorOptions {
  /** The failure that led to this one. */
  cause?: unknown;
  /** Structured context for logs (object name, field, value, errno, ...). */
  details?: Record<string, unknown>;
}

/** An error with a stable code, a message that says what was wrong, and a cause chain. */
export class KipvsError extends Error {
  override name = "KipvsError";
  /** The failure class. */
  readonly code: ErrorCode;
  /** Structured context for logs. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: KipvsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** The messages of an error and its causes, outermost first ("a: b: c"). */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && depth < 8; depth++) {
    if (cur instanceof Error) {
      if (!parts.includes(cur.message)) parts.push(cur.message);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(": ");
}
