/**
 * The guard that must accompany `route_localnet=1` (CVE-2020-8558): drop packets to 127.0.0.0/8
 * that did not come from the node itself, as kube-proxy does in its `KUBE-FIREWALL` chain.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { type Exec, runChecked } from "../exec.ts";
import { type IptablesBackend, iptablesTools } from "./backend.ts";

/** The filter chain that holds the guard (kube-proxy's name). */
export const LOCALNET_CHAIN = "KUBE-FIREWALL";

// In the order iptables-save prints it, so a dump can be compared line by line.
const GUARD_RULE = `-A ${LOCALNET_CHAIN} ! -s 127.0.0.0/8 -d 127.0.0.0/8 ` +
  `-m comment --comment "block incoming localnet connections" ` +
  `-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`;

const JUMPS = ["INPUT", "OUTPUT"] as const;

/** Whether an `iptables-save -t filter` dump holds the guard rule and both jumps to it. */
export function hasLocalnetGuard(filterDump: string): boolean {
  const lines = filterDump.split("\n");
  const guard = lines.some((l) =>
    l.startsWith(`-A ${LOCALNET_CHAIN} `) && l.includes("-d 127.0.0.0/8") &&
    l.includes("! -s 127.0.0.0/8") && l.endsWith("-j DROP")
  );
  return guard && JUMPS.every((c) => lines.includes(`-A ${c} -j ${LOCALNET_CHAIN}`));
}

/**
 * The `iptables-restore --noflush` payload that (re)writes the guard chain and adds the jumps
 * that `filterDump` lacks.
 */
export function localnetGuardPayload(filterDump: string): string {
  const lines = filterDump.split("\n");
  const out = ["*filter", `:${LOCALNET_CHAIN} - [0:0]`, GUARD_RULE];
  for (const c of JUMPS) {
    if (!lines.includes(`-A ${c} -j ${LOCALNET_CHAIN}`)) out.push(`-I ${c} -j ${LOCALNET_CHAIN}`);
  }
  out.push("COMMIT", "");
  return out.join("\n");
}

/** Reads the IPv4 filter table of a backend. */
export async function saveFilter(exec: Exec, backend: IptablesBackend): Promise<string> {
  const tools = iptablesTools(backend, 4);
  return (await runChecked(exec, tools.save, ["-t", "filter"])).stdout;
}

/** Installs the guard when it is missing; returns whether anything was written. */
export async function ensureLocalnetGuard(exec: Exec, backend: IptablesBackend): Promise<boolean> {
  const dump = await saveFilter(exec, backend);
  if (hasLocalnetGuard(dump)) return false;
  const tools = iptablesTools(backend, 4);
  const res = await exec.run(tools.restore, ["--noflush"], { stdin: localnetGuardPayload(dump) });
  if (res.code !== 0) {
    throw new KipvsError(
      "exec",
      `${tools.restore} failed to install the localnet guard: ${res.stderr.trim()}`,
    );
  }
  return true;
}
