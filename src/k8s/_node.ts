/**
 * Validation of a core/v1 Node: the fields a proxy reads (addresses, pod CIDRs, taints).
 *
 * @module
 */

import type { Node, ObjectMeta, Taint } from "./types.ts";
import { type Checker, type Raw } from "./_check.ts";

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
/** Address types whose value is an IP address (the others are names). */
const IP_ADDRESS_TYPES = new Set(["InternalIP", "ExternalIP"]);

/** Reads a Node whose metadata was read already. */
export function readNode(raw: Raw, metadata: ObjectMeta, c: Checker): Node {
  const spec = c.record(raw.spec, "spec") ?? {};
  const status = c.record(raw.status, "status") ?? {};
  const taints = c.list(spec.taints, "spec.taints").flatMap((v, i): Taint[] => {
    const f = `spec.taints[${i}]`;
    const t = c.element(v, f);
    if (t === undefined) return [];
    const key = c.string(t.key, `${f}.key`, true) ?? "";
    const effect = c.oneOf(t.effect, `${f}.effect`, EFFECTS);
    if (effect === undefined && (t.effect === undefined || t.effect === null)) {
      c.fail(`${f}.effect`, undefined, "required");
    }
    const taint: Taint = { key, effect: effect ?? "" };
    const value = c.string(t.value, `${f}.value`);
    if (value !== undefined && value !== "") taint.value = value;
    return [taint];
  });
  let cidrs = c.list(spec.podCIDRs, "spec.podCIDRs").map((v, i) =>
    c.cidr(v, `spec.podCIDRs[${i}]`)?.text
  );
  if (cidrs.length === 0 && spec.podCIDR !== undefined && spec.podCIDR !== "") {
    cidrs = [c.cidr(spec.podCIDR, "spec.podCIDR")?.text];
  }
  const addresses = c.list(status.addresses, "status.addresses").flatMap((v, i) => {
    const f = `status.addresses[${i}]`;
    const a = c.element(v, f);
    if (a === undefined) return [];
    const type = c.string(a.type, `${f}.type`, true) ?? "";
    if (IP_ADDRESS_TYPES.has(type)) {
      const ip = c.ip(a.address, `${f}.address`, true);
      return ip ? [{ type, address: ip.text }] : [];
    }
    const address = c.string(a.address, `${f}.address`, true);
    return address === undefined ? [] : [{ type, address }];
  });
  return {
    kind: "Node",
    metadata,
    spec: { taints, podCIDRs: cidrs.filter((x): x is string => x !== undefined) },
    status: { addresses },
  };
}
