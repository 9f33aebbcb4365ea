import type { SetMembers } from "../../../src/dataplane/members.ts";
import { setsOf } from "../ipset/_ops.ts";

/**
 * A fixed scenario of desired ipsets, as the plan would produce them for one node
 * (node IP 192.168.100.1, cluster CIDR 10.244.0.0/16), shared by the unit and kernel tests:
 * - web: ClusterIP 10.96.0.10 tcp/80, NodePort 30080, one local endpoint 10.244.1.2:8080
 * - dns: ClusterIP 10.96.0.11 udp/53
 * - ext: externalIP 198.51.100.5 tcp/80; ext-local: externalIP 198.51.100.6 tcp/80, ETP Local
 * - lb: LoadBalancer 203.0.113.10 tcp/80, sourceRanges 192.168.100.10/32 (node not inside)
 * - lb-node: LoadBalancer 203.0.113.11 tcp/443, sourceRanges 192.168.100.0/24 (node inside)
 * - lb-local: LoadBalancer 203.0.113.12 tcp/80, ETP Local, NodePort 30081, health check 32000
 * - an IPv6 ClusterIP fd00:96::10 tcp/80
 */
export function scenarioSets(): Map<string, SetMembers> {
  const sets: Record<string, string[]> = {
    "KUBE-LOOP-BACK": ["10.244.1.2,tcp:8080,10.244.1.2"],
    "KUBE-CLUSTER-IP": ["10.96.0.10,tcp:80", "10.96.0.11,udp:53"],
    "KUBE-EXTERNAL-IP": ["198.51.100.5,tcp:80"],
    "KUBE-EXTERNAL-IP-LOCAL": ["198.51.100.6,tcp:80"],
    "KUBE-LOAD-BALANCER": ["203.0.113.10,tcp:80", "203.0.113.11,tcp:443", "203.0.113.12,tcp:80"],
    "KUBE-LOAD-BALANCER-FW": ["203.0.113.10,tcp:80", "203.0.113.11,tcp:443"],
    "KUBE-LOAD-BALANCER-LOCAL": ["203.0.113.12,tcp:80"],
    "KUBE-LOAD-BALANCER-SOURCE-IP": ["203.0.113.11,tcp:443,203.0.113.11"],
    "KUBE-LOAD-BALANCER-SOURCE-CIDR": [
      "203.0.113.10,tcp:80,192.168.100.10/32",
      "203.0.113.11,tcp:443,192.168.100.0/24",
    ],
    "KUBE-NODE-PORT-TCP": ["30080", "30081"],
    "KUBE-NODE-PORT-LOCAL-TCP": ["30081"],
    "KUBE-NODE-PORT-UDP": [],
    "KUBE-NODE-PORT-LOCAL-UDP": [],
    "KUBE-NODE-PORT-SCTP-HASH": [],
    "KUBE-NODE-PORT-LOCAL-SCTP-HASH": [],
    "KUBE-HEALTH-CHECK-NODE-PORT": ["32000"],
    "KUBE-IPVS-IPS": [
      "10.96.0.10",
      "10.96.0.11",
      "198.51.100.5",
      "198.51.100.6",
      "203.0.113.10",
      "203.0.113.11",
      "203.0.113.12",
    ],
    "KUBE-6-CLUSTER-IP": ["fd00:96::10,tcp:80"],
    "KUBE-6-IPVS-IPS": ["fd00:96::10"],
  };
  return setsOf(sets);
}

/** The configuration of the scenario. */
export const SCENARIO_CONFIG = {
  masqueradeAll: false,
  masqueradeBit: 14,
  clusterCIDRs: ["10.244.0.0/16", "fd00:10:244::/56"],
};
