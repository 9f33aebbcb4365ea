/**
 * The localnet guard of `--localhost-nodeports` (CVE-2020-8558) for the nftables rules backend:
 * drop packets to 127.0.0.0/8 that did not come from the node itself, the rule kube-proxy keeps
 * in iptables' filter/KUBE-FIREWALL (iptables/localnet.ts), in a table of its own,
 * `ip kipvs-localnet`, hooked at input and output at the filter priority like KUBE-FIREWALL. A
 * table of its own, because `kipvs sysctl` writes it once (the DaemonSet's init container) and
 * `kipvs run` never rewrites it, as KUBE-FIREWALL sits outside kube-proxy's owned chains.
 * kube-proxy's nftables mode has no such rule: it does not serve node ports on localhost at all.
 *
 * @module
 */

import type { Exec } from "../exec.ts";
import { NFT, nftError } from "./nftables.ts";

/** The guard's table. */
export const LOCALNET_TABLE = "kipvs-localnet";

const COMMENT = "block incoming localnet connections";
const RULE = "ip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 ct state != established,related " +
  `ct status != dnat drop comment "${COMMENT}"`;

/** The nft script that (re)declares the guard table, atomically. */
export function localnetGuardScript(): string {
  const t = `ip ${LOCALNET_TABLE}`;
  const chain = (hook: string) =>
    `add chain ${t} ${hook} { type filter hook ${hook} priority filter; policy accept; }\n` +
    `add rule ${t} ${hook} ${RULE}\n`;
  return `add table ${t}\ndelete table ${t}\n` +
    `add table ${t} { comment "kipvs --localhost-nodeports: CVE-2020-8558"; }\n` +
    chain("input") + chain("output");
}

/** Whether `nft list table ip kipvs-localnet` shows the guard in both chains. */
export function hasNftLocalnetGuard(listing: string): boolean {
  const chains = listing.split(/\n\s*chain /).slice(1);
  return ["input", "output"].every((hook) =>
    chains.some((c) =>
      c.startsWith(`${hook} {`) && c.includes(`hook ${hook} `) &&
      c.includes(`comment "${COMMENT}"`) &&
      c.includes("ip daddr 127.0.0.0/8")
    )
  );
}

/** Whether the guard is in place. */
export async function nftLocalnetGuardPresent(exec: Exec): Promise<boolean> {
  const res = await exec.run(NFT, ["list", "table", "ip", LOCALNET_TABLE]);
  if (res.code !== 0) {
    if (/No such file or directory/.test(res.stderr)) return false;
    throw nftError(`nft list table ip ${LOCALNET_TABLE}`, res.code, res.stderr);
  }
  return hasNftLocalnetGuard(res.stdout);
}

/** Installs the guard when it is missing; returns whether anything was written. */
export async function ensureNftLocalnetGuard(exec: Exec): Promise<boolean> {
  if (await nftLocalnetGuardPresent(exec)) return false;
  const script = localnetGuardScript();
  const res = await exec.run(NFT, ["-f", "-"], { stdin: script });
  if (res.code !== 0) throw nftError("nft -f -", res.code, res.stderr, script);
  return true;
}
