/**
 * Changes to ipsets as data: what reconcile/ipset*.ts decide and an {@link Ipset} backend
 * applies. The netlink backend encodes them directly; the `ipset` program gets them as
 * `ipset restore` text ({@link restoreText}), the one place that text is written.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import type { SetMember } from "../members.ts";
import type { SetType } from "./sets.ts";

/** Options of a set to create, as the kernel takes them. */
export interface CreateOptions {
  type: SetType;
  /** 4 or 6 for hash sets; undefined for bitmap:port, which holds no addresses. */
  family?: Family;
  hashsize?: number;
  maxelem?: number;
  /** bitmap:port's first and last port. */
  range?: [number, number];
}

/** One change; add and del carry a typed member (dataplane/members.ts). */
export type IpsetOp =
  | { op: "create"; set: string; create: CreateOptions }
  | { op: "add" | "del"; set: string; member: SetMember }
  | { op: "destroy" | "flush"; set: string };

/** One op as the line `ipset restore` reads. */
export function opLine(op: IpsetOp): string {
  switch (op.op) {
    case "create": {
      const o = op.create;
      const words = [`create ${op.set} ${o.type}`];
      if (o.family !== undefined) words.push(`family ${o.family === 4 ? "inet" : "inet6"}`);
      if (o.hashsize !== undefined) words.push(`hashsize ${o.hashsize}`);
      if (o.maxelem !== undefined) words.push(`maxelem ${o.maxelem}`);
      if (o.range) words.push(`range ${o.range[0]}-${o.range[1]}`);
      return words.join(" ");
    }
    case "add":
    case "del":
      // The key is ipset's notation of the member (members.ts): the program reads it as is.
      return `${op.op} ${op.set} ${op.member.key}`;
    default:
      return `${op.op} ${op.set}`;
  }
}

/** The `ipset restore` input of `ops`, one line each ("" for none). */
export function restoreText(ops: readonly IpsetOp[]): string {
  let out = "";
  for (const op of ops) out += opLine(op) + "\n";
  return out;
}
