/**
 * The proxy's configuration: kube-proxy's IPVS-mode settings under kube-proxy's names, after
 * flags and `--config` (KubeProxyConfiguration) were merged and validated.
 *
 * @module
 */

import { SCHEDULERS } from "../dataplane/ipvs/constants.ts";
import type { Family } from "../net/family.ts";

/** Schedulers a proxy may use: every one the kernel knows, except "none" (no balancing). */
export const PROXY_SCHEDULERS: readonly string[] = SCHEDULERS.filter((s) => s !== "none");

/** Validated configuration of `kipvs run` (and of the commands that plan, like `dump --diff`). */
export interface ProxyConfig {
  /** This node's name (`--hostname-override`, default the host name). */
  hostname: string;
  /** IPVS scheduler for every virtual server (`--ipvs-scheduler`, default "rr"). */
  scheduler: string;
  /** Full resync period, ms (`--ipvs-sync-period`, default 30 s). */
  syncPeriodMs: number;
  /** Minimum time between syncs, ms (`--ipvs-min-sync-period`, default 1 s). */
  minSyncPeriodMs: number;
  /** Virtual servers inside these CIDRs are never removed (`--ipvs-exclude-cidrs`). */
  excludeCIDRs: string[];
  /** `--ipvs-strict-arp`. */
  strictARP: boolean;
  /** IPVS timeouts in seconds; 0 leaves the kernel's value (`--ipvs-tcp-timeout` ...). */
  tcpTimeoutSeconds: number;
  tcpFinTimeoutSeconds: number;
  udpTimeoutSeconds: number;
  /** Pod CIDRs for local-traffic detection, any family (`--cluster-cidr`, comma separated). */
  clusterCIDRs: string[];
  /** SNAT all traffic to service IPs (`--masquerade-all`). */
  masqueradeAll: boolean;
  /** Bit of the fwmark that asks for masquerade (`--masquerade-bit`, default 14 = 0x4000). */
  masqueradeBit: number;
  /**
   * Which node addresses serve node ports (`--nodeport-addresses`): CIDRs, or ["primary"] for
   * the node's primary addresses; [] means every local address except loopback, IPv6
   * link-local and kube-ipvs0's.
   */
  nodePortAddresses: string[];
  /** Families this node proxies. */
  families: Family[];
  /** `--healthz-bind-address`, default "0.0.0.0:10256". */
  healthzBindAddress: string;
  /** `--metrics-bind-address`, default "127.0.0.1:10249". */
  metricsBindAddress: string;
  /** Graceful termination check period, ms (`--graceful-termination-check-period`?). */
  gracefulTerminationCheckPeriodMs: number;
  /** `--iptables-backend`. */
  iptablesBackend: "auto" | "legacy" | "nft";
  /**
   * Where the packet-filter half of IPVS mode goes (`--rules-backend`, `kipvs.rulesBackend` in
   * the --config file): "iptables" (ipsets and KUBE-* chains, kube-proxy's names, the default)
   * or "nftables" (kipvs's own `ip kipvs` / `ip6 kipvs` tables, no ipset, no iptables).
   */
  rulesBackend: RulesBackend;
}

/** The rules backends (`--rules-backend`). */
export const RULES_BACKENDS = ["iptables", "nftables"] as const;

/** A rules backend. */
export type RulesBackend = typeof RULES_BACKENDS[number];

/** Defaults of kube-proxy's IPVS mode. */
export const DEFAULT_CONFIG: Omit<ProxyConfig, "hostname"> = {
  scheduler: "rr",
  syncPeriodMs: 30_000,
  minSyncPeriodMs: 1_000,
  excludeCIDRs: [],
  strictARP: false,
  tcpTimeoutSeconds: 0,
  tcpFinTimeoutSeconds: 0,
  udpTimeoutSeconds: 0,
  clusterCIDRs: [],
  masqueradeAll: false,
  masqueradeBit: 14,
  nodePortAddresses: [],
  families: [4, 6],
  healthzBindAddress: "0.0.0.0:10256",
  metricsBindAddress: "127.0.0.1:10249",
  gracefulTerminationCheckPeriodMs: 10_000,
  iptablesBackend: "auto",
  rulesBackend: "iptables",
};

/** What the plan needs to know about the node beyond its configuration. */
export interface NodeInfo {
  /** This node's name. */
  name: string;
  /** The node's zone label, for topology hints. */
  zone?: string;
  /** Addresses that serve node ports, already filtered by `nodePortAddresses`, per family. */
  nodePortAddresses: { 4: string[]; 6: string[] };
  /**
   * The node's primary IP per family (kube-proxy's NodeIPs; loopback when unknown). A load
   * balancer whose source ranges cover it stays reachable from the node itself.
   */
  ips?: { 4: string; 6: string };
  /**
   * Local addresses outside kube-ipvs0 (no loopback, no IPv6 link-local): an external or load
   * balancer IP among them is served where it is, not bound to kube-ipvs0.
   */
  localAddresses?: string[];
}
