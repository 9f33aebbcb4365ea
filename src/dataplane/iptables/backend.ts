/**
 * Which iptables backend (legacy or nft) holds the node's rules, decided the way
 * kubernetes-sigs/iptables-wrappers does, and the program names for each backend and family.
 *
 * @module
 */

import type { Exec } from "../exec.ts";

/** The two iptables implementations a node can use. */
export type IptablesBackend = "legacy" | "nft";
/** `--iptables-backend`: a backend, or `auto` to detect it. */
export type IptablesBackendChoice = IptablesBackend | "auto";
/** IP family. */
export type Family = 4 | 6;

/** The save and restore programs of one backend and family. */
export interface IptablesTools {
  backend: IptablesBackend;
  family: Family;
  save: string;
  restore: string;
}

/** The programs of a backend for a family (`iptables-legacy-restore`, `ip6tables-nft-save`, ...). */
export function iptablesTools(backend: IptablesBackend, family: Family): IptablesTools {
  const base = family === 4 ? "iptables" : "ip6tables";
  return {
    backend,
    family,
    save: `${base}-${backend}-save`,
    restore: `${base}-${backend}-restore`,
  };
}

// Chains only kubelet and kube-proxy create; whichever backend holds them is the node's.
const HINT = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

/**
 * Detects the backend in use: the one holding kubelet's hint chains, else legacy when it holds
 * at least 10 rules or more rules than nft, else nft (iptables-wrappers' rule).
 */
export async function detectBackend(exec: Exec): Promise<IptablesBackend> {
  const dump = async (backend: IptablesBackend) => {
    let text = "";
    for (const family of [4, 6] as const) {
      const res = await exec.run(iptablesTools(backend, family).save, []);
      if (res.code === 0) text += res.stdout;
    }
    return text;
  };
  const legacy = await dump("legacy");
  if (HINT.test(legacy)) return "legacy";
  const nft = await dump("nft");
  if (HINT.test(nft)) return "nft";
  const rules = (s: string) => s.split("\n").filter((l) => l.startsWith("-")).length;
  const nl = rules(legacy);
  return nl >= 10 || nl > rules(nft) ? "legacy" : "nft";
}

/** Resolves `--iptables-backend`: a fixed backend as given, `auto` by detection. */
export function resolveBackend(
  choice: IptablesBackendChoice,
  exec: Exec,
): Promise<IptablesBackend> {
  return choice === "auto" ? detectBackend(exec) : Promise.resolve(choice);
}
