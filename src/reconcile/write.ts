/**
 * What reconcilers write, as data: the kind of kernel object, what was done to it, which one.
 * Syncs report these (report.ts), and drift.ts tells which of them repaired someone else's
 * change.
 *
 * @module
 */

/** The kinds of kernel objects reconcilers write (the `kind` of kipvs_drift_repairs_total). */
export type WriteKind = "ipvs" | "realserver" | "address" | "link" | "ipset" | "rule";

/** Every {@link WriteKind}, in the order reports list them. */
export const WRITE_KINDS: readonly WriteKind[] = [
  "link",
  "address",
  "ipvs",
  "realserver",
  "ipset",
  "rule",
];

/** What a write did to its object. */
export type WriteAction = "add" | "update" | "delete";

/** One object a reconciler wrote. */
export interface Write {
  kind: WriteKind;
  action: WriteAction;
  /**
   * The object, as logs name it and as syncs compare it: a virtual server key
   * ("TCP/10.96.0.10:80"), a real server ("TCP/10.96.0.10:80 10.244.1.2:8080"), an address, a
   * set member ("KUBE-CLUSTER-IP 10.96.0.10,tcp:80"), a set ("KUBE-CLUSTER-IP"), a chain
   * ("4/nat/KUBE-SERVICES") or a jump ("4/nat/PREROUTING -> KUBE-SERVICES").
   */
  object: string;
  /** What the object belongs to: a real server's virtual server, a member's set. */
  parent?: string;
  /**
   * The reconciler knows this write follows from the plan, whatever changed in the input: a
   * chain whose planned rules changed, a drained real server deleted.
   */
  planned?: boolean;
}
