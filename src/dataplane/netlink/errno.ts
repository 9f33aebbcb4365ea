/**
 * Kernel errno values and their names, and the typed error of a failed netlink request: a
 * KipvsError with code "netlink" whose details carry the errno, so callers test
 * `netlinkErrno(err) === ENOENT`, never the message.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";

/** The errno values kipvs meets, by name. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EMSGSIZE: 90,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
} as const;

const TEXT: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  3: ["ESRCH", "No such process"],
  4: ["EINTR", "Interrupted system call"],
  5: ["EIO", "Input/output error"],
  6: ["ENXIO", "No such device or address"],
  7: ["E2BIG", "Argument list too long"],
  9: ["EBADF", "Bad file descriptor"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  14: ["EFAULT", "Bad address"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  19: ["ENODEV", "No such device"],
  22: ["EINVAL", "Invalid argument"],
  28: ["ENOSPC", "No space left on device"],
  34: ["ERANGE", "Numerical result out of range"],
  90: ["EMSGSIZE", "Message too long"],
  93: ["EPROTONOSUPPORT", "Protocol not supported"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  97: ["EAFNOSUPPORT", "Address family not supported by protocol"],
  98: ["EADDRINUSE", "Address already in use"],
  99: ["EADDRNOTAVAIL", "Cannot assign requested address"],
  105: ["ENOBUFS", "No buffer space available"],
  110: ["ETIMEDOUT", "Connection timed out"],
};

/** "EEXIST" for 17; "errno 200" for a value this table lacks. */
export function errnoName(errno: number): string {
  return TEXT[errno]?.[0] ?? `errno ${errno}`;
}

/** "File exists (EEXIST)". */
export function errnoText(errno: number): string {
  const t = TEXT[errno];
  return t ? `${t[1]} (${t[0]})` : `error ${errno}`;
}

/** Options of {@link netlinkError}. */
export interface NetlinkErrorOptions {
  /** What was attempted, with its object: "add destination 10.244.1.2:8080 to TCP/10.96.0.10:80". */
  what: string;
  /** A positive errno. */
  errno: number;
  /** Said after the errno text ("scheduler ip_vs_foo is not in this kernel"). */
  hint?: string;
  /** More context for logs. */
  details?: Record<string, unknown>;
}

/**
 * A `netlink` KipvsError: "add destination 10.244.1.2:8080 to TCP/10.96.0.10:80: File exists
 * (EEXIST)". `details.errno` and `details.errnoName` carry the errno.
 */
export function netlinkError(o: NetlinkErrorOptions): KipvsError {
  return new KipvsError(
    "netlink",
    `${o.what}: ${errnoText(o.errno)}${o.hint ? `: ${o.hint}` : ""}`,
    { details: { ...o.details, errno: o.errno, errnoName: errnoName(o.errno), operation: o.what } },
  );
}

/** The errno a netlink error carries, or undefined for any other value. */
export function netlinkErrno(err: unknown): number | undefined {
  if (!(err instanceof KipvsError) || err.code !== "netlink") return undefined;
  const e = err.details.errno;
  return typeof e === "number" ? e : undefined;
}
