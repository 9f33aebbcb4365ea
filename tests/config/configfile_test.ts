import assert from "node:assert/strict";
import { parseConfigFile } from "../../src/config/configfile.ts";
import { parseDuration } from "../../src/config/duration.ts";
import { KipvsError } from "../../src/errors.ts";

// What kubeadm writes into the kube-proxy ConfigMap (config.conf), switched to ipvs mode.
const KUBEADM = `
apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 2s
  scheduler: "wrr"
  strictARP: true
  syncPeriod: 45s
  tcpFinTimeout: 0s
  tcpTimeout: 15m
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: 0.0.0.0:10249
mode: ipvs
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
`;

Deno.test("parseDuration() reads Go durations", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2h22m"), 8_520_000);
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("30"), undefined);
  assert.equal(parseDuration("1x"), undefined);
  assert.equal(parseDuration(""), undefined);
});

Deno.test("parseConfigFile() takes kubeadm's kube-proxy ConfigMap in ipvs mode", () => {
  const f = parseConfigFile(KUBEADM, "config.conf");
  assert.deepEqual(f.config, {
    metricsBindAddress: "0.0.0.0:10249",
    clusterCIDRs: ["10.244.0.0/16", "fd00:10:244::/56"],
    scheduler: "wrr",
    syncPeriodMs: 45_000,
    minSyncPeriodMs: 2_000,
    strictARP: true,
    tcpTimeoutSeconds: 900,
    tcpFinTimeoutSeconds: 0,
    udpTimeoutSeconds: 0,
    masqueradeAll: false,
  });
  assert.equal(f.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
});

function rejects(text: string, re: RegExp) {
  assert.throws(
    () => parseConfigFile(text, "/etc/kipvs/config.yaml"),
    (e: unknown) => e instanceof KipvsError && e.code === "invalid-config" && re.test(e.message),
  );
}

const head = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

Deno.test("parseConfigFile() names the file, field and value of what is wrong", () => {
  rejects(head + "ipvs:\n  schedular: rr\n", /config\.yaml: ipvs\.schedular: "rr" is not a field/);
  rejects(head + "ipvs:\n  syncPeriod: 30\n", /ipvs\.syncPeriod: 30 is not a duration/);
  rejects(head + "ipvs:\n  scheduler: fastest\n", /ipvs\.scheduler: "fastest" is not one of rr/);
  rejects(
    head + "iptables:\n  masqueradeBit: 40\n",
    /iptables\.masqueradeBit: 40 must be an integer 0-31/,
  );
  rejects(head + "mode: iptables\n", /mode: "iptables" is not supported/);
  rejects(
    head + "ipvs:\n  excludeCIDRs: [10.200.0.0/16, 10.1.2.3]\n",
    /ipvs\.excludeCIDRs: "10\.1\.2\.3" is not a CIDR/,
  );
  rejects(head + "clusterCIDR: 10.244.0.0/16,nope\n", /clusterCIDR: "nope" is not a CIDR/);
  rejects(
    head + "ipvs:\n  strictARP: yes please\n",
    /ipvs\.strictARP: "yes please" must be true or false/,
  );
  rejects("kind: KubeProxyConfiguration\n", /apiVersion: undefined must be kubeproxy/);
  rejects(head + "ipvs: [1, 2\n", /not valid YAML/);
});

Deno.test("kipvs.rulesBackend: kipvs's own key picks the rules backend; another value is refused", () => {
  const head =
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n";
  const f = parseConfigFile(head + "kipvs:\n  rulesBackend: nftables\n", "c.yaml");
  assert.equal(f.config.rulesBackend, "nftables");
  assert.equal(parseConfigFile(head, "c.yaml").config.rulesBackend, undefined);
  assert.throws(
    () => parseConfigFile(head + "kipvs:\n  rulesBackend: ebpf\n", "c.yaml"),
    (e: unknown) =>
      e instanceof KipvsError &&
      /c\.yaml: kipvs\.rulesBackend: "ebpf" is not one of iptables nftables/.test(e.message),
  );
});
