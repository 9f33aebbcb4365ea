/**
 * A node programmed by the Proxier over the fakes (IPVS, kube-ipvs0, ipsets and iptables wired
 * together so a set in use cannot be destroyed and a rule cannot match a missing set, as in the
 * kernel), and the scenario cluster the diagnostics tests share.
 */

import { FakeConntrack } from "../../src/dataplane/conntrack/conntrack.ts";
import { FakeIpset } from "../dataplane/ipset/fake.ts";
import { IpsetModel } from "../dataplane/ipset/model.ts";
import { FakeIptables } from "../dataplane/iptables/fake.ts";
import { IptablesModel } from "../dataplane/iptables/model.ts";
import { FakeIpvs } from "../dataplane/ipvs/fake.ts";
import { FakeDummyLink } from "../dataplane/link/fake.ts";
import { Logger } from "../../src/log.ts";
import { DEFAULT_CONFIG, type ProxyConfig } from "../../src/config/config.ts";
import { plan } from "../../src/plan/plan.ts";
import { Proxier } from "../../src/reconcile/proxier.ts";
import type { ClusterState } from "../../src/source/source.ts";
import type { DiagDataplane } from "../../src/diag/dataplane.ts";
import { type NodeSnapshot, readSnapshot } from "../../src/diag/snapshot.ts";
import { cluster, NODE, slice, svc } from "../plan/_fixtures.ts";

/** kipvs's configuration on the scenario node: IPv4, pods in 10.244.0.0/16. */
export const CONFIG: ProxyConfig = {
  ...DEFAULT_CONFIG,
  hostname: NODE.name,
  families: [4],
  clusterCIDRs: ["10.244.0.0/16"],
};

/**
 * default/web (ClusterIP 10.96.0.10:80, node port 30080; pods 10.244.1.2 here and 10.244.2.2 on
 * node-b), default/empty (10.96.0.20:80, no endpoints), shop/lb (LoadBalancer 203.0.113.10:80
 * open to 198.51.100.0/24 only; pod 10.244.1.2), kube-system/dns (UDP 10.96.0.53:53, ClientIP
 * affinity; pod 10.244.2.2:5353).
 */
export function scenario(): ClusterState {
  return cluster(
    svc({ name: "web", type: "NodePort", ips: ["10.96.0.10"], ports: [{ nodePort: 30080 }] }),
    slice({ service: "web", name: "web-1", endpoints: ["10.244.1.2@node-a", "10.244.2.2@node-b"] }),
    svc({ name: "empty", ips: ["10.96.0.20"] }),
    svc({
      ns: "shop",
      name: "lb",
      type: "LoadBalancer",
      ips: ["10.96.0.30"],
      ports: [{ nodePort: 30081 }],
      sourceRanges: ["198.51.100.0/24"],
      ingress: [{ ip: "203.0.113.10" }],
    }),
    slice({ ns: "shop", service: "lb", name: "lb-1", endpoints: ["10.244.1.2@node-a"] }),
    svc({
      ns: "kube-system",
      name: "dns",
      ips: ["10.96.0.53"],
      affinity: 10800,
      ports: [{ name: "dns", protocol: "UDP", port: 53 }],
    }),
    slice({
      ns: "kube-system",
      service: "dns",
      name: "dns-1",
      ports: [{ name: "dns", protocol: "UDP", port: 5353 }],
      endpoints: ["10.244.2.2@node-b"],
    }),
  );
}

/** The node's interfaces besides kube-ipvs0. */
export const INTERFACES = [
  { name: "lo", address: "127.0.0.1", family: "IPv4" as const },
  { name: "eth0", address: "192.168.1.10", family: "IPv4" as const },
];

/** A fake node, optionally programmed by one full sync of `state`. */
export async function fakeNode(state?: ClusterState, config: ProxyConfig = CONFIG) {
  const ipsetModel = new IpsetModel();
  const iptablesModel = new IptablesModel();
  ipsetModel.isReferenced = (name) => iptablesModel.usesSet(name);
  iptablesModel.setExists = (name) => ipsetModel.sets.has(name);
  const dp = {
    ipvs: new FakeIpvs(),
    link: new FakeDummyLink(),
    ipset: new FakeIpset(ipsetModel),
    iptables: new FakeIptables({ model: iptablesModel }),
    conntrack: new FakeConntrack(),
  };
  const proxier = new Proxier({ config, dataplane: dp, logger: new Logger({ sink: () => {} }) });
  const sync = (s: ClusterState) =>
    proxier.sync({ state: s, node: NODE, services: new Set(), full: true });
  if (state) await sync(state);
  const diag: DiagDataplane = {
    ipvs: dp.ipvs,
    link: dp.link,
    ipset: dp.ipset,
    iptables: dp.iptables,
    backend: "legacy",
    close() {},
  };
  const snapshot = (families: (4 | 6)[] = [4, 6]): Promise<NodeSnapshot> =>
    readSnapshot({ ...diag, interfaces: () => INTERFACES }, { families });
  return { dp, diag, ipsetModel, iptablesModel, proxier, sync, snapshot };
}

/** The plan of `state` on the scenario node (what the diagnostics compare with). */
export function desiredOf(state: ClusterState, config: ProxyConfig = CONFIG) {
  return plan(state, { config, node: NODE });
}
