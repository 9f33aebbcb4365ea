import assert from "node:assert/strict";
import {
  formatIssue,
  renderValue,
  validateObject,
  validationError,
  type ValidationResult,
} from "../../src/k8s/validate.ts";
import type { EndpointSlice, Node, Service } from "../../src/k8s/types.ts";
import { KipvsError } from "../../src/errors.ts";

type Raw = Record<string, unknown>;

function service(spec: Raw = {}, extra: Raw = {}): Raw {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "default" },
    spec: { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }], ...spec },
    ...extra,
  };
}

function slice(extra: Raw = {}, endpoint: Raw = {}): Raw {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc12",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.244.1.5"], ...endpoint }],
    ports: [{ name: "http", port: 8080 }],
    ...extra,
  };
}

function node(extra: Raw = {}): Raw {
  return { apiVersion: "v1", kind: "Node", metadata: { name: "node-1" }, ...extra };
}

/** The formatted issues of a validation, as a user sees them. */
function problems(r: ValidationResult): string[] {
  return r.issues.map((i) => formatIssue({ ...r, source: "file x.yaml" }, i));
}

const svc = (r: ValidationResult) => r.object as Service;

Deno.test("validateObject() applies the API server's Service defaults", () => {
  const r = validateObject(service({ ports: [{ port: 80 }] }));
  assert.deepEqual(r.issues, []);
  assert.deepEqual(svc(r), {
    kind: "Service",
    metadata: { name: "web", namespace: "default", labels: {}, annotations: {} },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ipFamilies: ["IPv4"],
      ports: [{ name: "", protocol: "TCP", port: 80, nodePort: 0 }],
      externalIPs: [],
      sessionAffinity: "None",
      sessionAffinityTimeoutSeconds: 10800,
      externalTrafficPolicy: "Cluster",
      internalTrafficPolicy: "Cluster",
      healthCheckNodePort: 0,
      loadBalancerSourceRanges: [],
    },
    status: { loadBalancer: { ingress: [] } },
  });
});

Deno.test("validateObject() reads a dual-stack LoadBalancer with canonical addresses", () => {
  const r = validateObject(service({
    type: "LoadBalancer",
    clusterIP: "10.96.0.10",
    clusterIPs: ["10.96.0.10", "FD00::0:A"],
    ipFamilies: ["IPv4", "IPv6"],
    ports: [{ name: "http", port: 80, targetPort: "web", nodePort: 30080, protocol: "TCP" }],
    externalIPs: ["192.0.2.10", "2001:DB8::10"],
    loadBalancerSourceRanges: [" 203.0.113.0/24 ", "2001:db8:0::/48"],
    externalTrafficPolicy: "Local",
    healthCheckNodePort: 32000,
    sessionAffinity: "ClientIP",
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
  }, {
    status: {
      loadBalancer: {
        ingress: [{ ip: "198.51.100.7", ipMode: "VIP" }, { hostname: "lb.example.com" }],
      },
    },
  }));
  assert.deepEqual(r.issues, []);
  const s = svc(r);
  assert.deepEqual(s.spec.clusterIPs, ["10.96.0.10", "fd00::a"]);
  assert.deepEqual(s.spec.externalIPs, ["192.0.2.10", "2001:db8::10"]);
  assert.deepEqual(s.spec.loadBalancerSourceRanges, ["203.0.113.0/24", "2001:db8::/48"]);
  assert.equal(s.spec.sessionAffinityTimeoutSeconds, 60);
  assert.equal(s.spec.ports[0]?.targetPort, "web");
  assert.deepEqual(s.status.loadBalancer.ingress, [
    { ip: "198.51.100.7", ipMode: "VIP" },
    { hostname: "lb.example.com" },
  ]);
});

Deno.test("validateObject() derives clusterIP, clusterIPs and ipFamilies from each other", () => {
  const fromList = svc(validateObject(service({ clusterIP: undefined, clusterIPs: ["fd00::1"] })));
  assert.equal(fromList.spec.clusterIP, "fd00::1");
  assert.deepEqual(fromList.spec.ipFamilies, ["IPv6"]);
  const headless = svc(validateObject(service({ clusterIP: "None" })));
  assert.deepEqual([headless.spec.clusterIP, headless.spec.clusterIPs], ["None", ["None"]]);
  assert.deepEqual(headless.spec.ipFamilies, []);
  const unset = svc(validateObject(service({ clusterIP: undefined, ipFamilies: ["IPv6"] })));
  assert.deepEqual([unset.spec.clusterIP, unset.spec.clusterIPs], ["", []]);
  assert.deepEqual(unset.spec.ipFamilies, ["IPv6"]);
});

Deno.test("validateObject() reports each invalid Service field with its value", () => {
  const cases: [string, Raw, string[]][] = [
    ["port out of range", service({ ports: [{ port: 70000 }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[0].port: 70000 out of range 1-65535",
    ]],
    ["port missing", service({ ports: [{ name: "a" }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[0].port: required",
    ]],
    ["port as text", service({ ports: [{ port: "80" }] }), [
      'invalid Service default/web (file x.yaml): spec.ports[0].port: "80" must be an integer',
    ]],
    ["unknown protocol", service({ ports: [{ port: 80, protocol: "HTTP" }] }), [
      'invalid Service default/web (file x.yaml): spec.ports[0].protocol: "HTTP" not one of TCP, UDP, SCTP',
    ]],
    ["lower-case protocol", service({ ports: [{ port: 53, protocol: "udp" }] }), [
      'invalid Service default/web (file x.yaml): spec.ports[0].protocol: "udp" not one of TCP, UDP, SCTP',
    ]],
    ["bad cluster IP", service({ clusterIP: "999.1.1.1" }), [
      'invalid Service default/web (file x.yaml): spec.clusterIP: "999.1.1.1" not a valid IP address',
    ]],
    ["zoned cluster IP", service({ clusterIP: "fe80::1%eth0" }), [
      'invalid Service default/web (file x.yaml): spec.clusterIP: "fe80::1%eth0" not a valid IP address: zoned IPv6 addresses are not allowed',
    ]],
    ["clusterIPs[0] differs", service({ clusterIPs: ["10.96.0.11"] }), [
      'invalid Service default/web (file x.yaml): spec.clusterIPs[0]: ["10.96.0.11"] must equal spec.clusterIP 10.96.0.10',
    ]],
    ["two IPv4 cluster IPs", service({ clusterIPs: ["10.96.0.10", "10.96.0.11"] }), [
      'invalid Service default/web (file x.yaml): spec.clusterIPs[1]: "10.96.0.11" must be of the other family than 10.96.0.10',
    ]],
    ["family mismatch", service({ ipFamilies: ["IPv6"] }), [
      'invalid Service default/web (file x.yaml): spec.ipFamilies[0]: "IPv6" does not match spec.clusterIPs[0] 10.96.0.10',
    ]],
    ["unknown family", service({ ipFamilies: ["IPv5"] }), [
      'invalid Service default/web (file x.yaml): spec.ipFamilies[0]: "IPv5" not one of IPv4, IPv6',
    ]],
    ["bad external IP", service({ externalIPs: ["192.0.2.300"] }), [
      'invalid Service default/web (file x.yaml): spec.externalIPs[0]: "192.0.2.300" not a valid IP address',
    ]],
    ["bad source range", service({ loadBalancerSourceRanges: ["10.0.0.0/40"] }), [
      'invalid Service default/web (file x.yaml): spec.loadBalancerSourceRanges[0]: "10.0.0.0/40" not a valid CIDR: prefix must be 0-32',
    ]],
    ["source range without prefix", service({ loadBalancerSourceRanges: ["10.0.0.1"] }), [
      'invalid Service default/web (file x.yaml): spec.loadBalancerSourceRanges[0]: "10.0.0.1" not a valid CIDR: missing /prefix',
    ]],
    ["bad LB ingress IP", service({}, { status: { loadBalancer: { ingress: [{ ip: "lb" }] } } }), [
      'invalid Service default/web (file x.yaml): status.loadBalancer.ingress[0].ip: "lb" not a valid IP address',
    ]],
    [
      "bad ipMode",
      service({}, { status: { loadBalancer: { ingress: [{ ip: "1.2.3.4", ipMode: "vip" }] } } }),
      [
        'invalid Service default/web (file x.yaml): status.loadBalancer.ingress[0].ipMode: "vip" not one of VIP, Proxy',
      ],
    ],
    ["unknown type", service({ type: "Ingress" }), [
      'invalid Service default/web (file x.yaml): spec.type: "Ingress" not one of ClusterIP, NodePort, LoadBalancer, ExternalName',
    ]],
    ["node port on ClusterIP", service({ ports: [{ port: 80, nodePort: 30080 }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[0].nodePort: 30080 may not be set when spec.type is ClusterIP",
    ]],
    [
      "node port out of range",
      service({ type: "NodePort", ports: [{ port: 80, nodePort: 65536 }] }),
      [
        "invalid Service default/web (file x.yaml): spec.ports[0].nodePort: 65536 out of range 0-65535",
      ],
    ],
    [
      "duplicate node port",
      service({
        type: "NodePort",
        ports: [{ name: "a", port: 80, nodePort: 30080 }, { name: "b", port: 81, nodePort: 30080 }],
      }),
      [
        "invalid Service default/web (file x.yaml): spec.ports[1].nodePort: 30080 duplicate: TCP node port 30080 is listed twice",
      ],
    ],
    ["duplicate port", service({ ports: [{ name: "a", port: 80 }, { name: "b", port: 80 }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[1].port: 80 duplicate: TCP port 80 is listed twice",
    ]],
    ["unnamed second port", service({ ports: [{ name: "a", port: 80 }, { port: 81 }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[1].name: required when the service has more than one port",
    ]],
    [
      "duplicate port name",
      service({ ports: [{ name: "a", port: 80 }, { name: "a", port: 81 }] }),
      [
        'invalid Service default/web (file x.yaml): spec.ports[1].name: "a" duplicate port name',
      ],
    ],
    ["bad port name", service({ ports: [{ name: "HTTP", port: 80 }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[0].name: \"HTTP\" not a valid name: must be at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit",
    ]],
    ["target port out of range", service({ ports: [{ port: 80, targetPort: 0 }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[0].targetPort: 0 out of range 1-65535",
    ]],
    ["numeric target port text", service({ ports: [{ port: 80, targetPort: "8080" }] }), [
      "invalid Service default/web (file x.yaml): spec.ports[0].targetPort: \"8080\" not a port number or port name: a name must be at most 15 lowercase letters, digits or '-' with at least one letter, no '--', not starting or ending with '-'",
    ]],
    ["bad affinity", service({ sessionAffinity: "Cookie" }), [
      'invalid Service default/web (file x.yaml): spec.sessionAffinity: "Cookie" not one of None, ClientIP',
    ]],
    [
      "affinity timeout too long",
      service({
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } },
      }),
      [
        "invalid Service default/web (file x.yaml): spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 out of range 1-86400",
      ],
    ],
    ["bad traffic policy", service({ externalTrafficPolicy: "Global" }), [
      'invalid Service default/web (file x.yaml): spec.externalTrafficPolicy: "Global" not one of Cluster, Local',
    ]],
    ["bad internal policy", service({ internalTrafficPolicy: "local" }), [
      'invalid Service default/web (file x.yaml): spec.internalTrafficPolicy: "local" not one of Cluster, Local',
    ]],
    ["bad health check port", service({ healthCheckNodePort: -1 }), [
      "invalid Service default/web (file x.yaml): spec.healthCheckNodePort: -1 out of range 0-65535",
    ]],
    ["ports not a list", service({ ports: { port: 80 } }), [
      'invalid Service default/web (file x.yaml): spec.ports: {"port":80} must be a list',
    ]],
  ];
  for (const [what, raw, want] of cases) {
    const r = validateObject(raw);
    assert.deepEqual(problems(r), want, what);
    assert.equal(r.object, undefined, what);
  }
});

Deno.test("validateObject() reports bad metadata: missing or malformed names and namespaces", () => {
  const cases: [string, Raw, string[]][] = [
    ["missing name", { kind: "Service", metadata: { namespace: "prod" }, spec: {} }, [
      "invalid Service prod/<unnamed> (file x.yaml): metadata.name: required",
    ]],
    ["missing metadata", { kind: "Service", spec: {} }, [
      "invalid Service <unnamed> (file x.yaml): metadata: required",
    ]],
    ["upper-case name", service({}, { metadata: { name: "Web", namespace: "default" } }), [
      "invalid Service default/Web (file x.yaml): metadata.name: \"Web\" not a valid name: must be at most 63 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit",
    ]],
    ["name starting with a digit", service({}, { metadata: { name: "1web", namespace: "a" } }), [
      "invalid Service a/1web (file x.yaml): metadata.name: \"1web\" not a valid name: must be at most 63 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit",
    ]],
    ["bad namespace", service({}, { metadata: { name: "web", namespace: "my_ns" } }), [
      "invalid Service my_ns/web (file x.yaml): metadata.namespace: \"my_ns\" not a valid name: must be at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit",
    ]],
    ["missing namespace", service({}, { metadata: { name: "web" } }), [
      "invalid Service web (file x.yaml): metadata.namespace: required",
    ]],
    [
      "label value not text",
      service({}, { metadata: { name: "web", namespace: "a", labels: { tier: 1 } } }),
      ["invalid Service a/web (file x.yaml): metadata.labels[tier]: 1 must be a string"],
    ],
    ["missing kind", { metadata: { name: "web" } }, [
      "invalid object web (file x.yaml): kind: required",
    ]],
  ];
  for (const [what, raw, want] of cases) {
    assert.deepEqual(problems(validateObject(raw)), want, what);
  }
  assert.deepEqual(problems(validateObject("text")), [
    'invalid object <unnamed> (file x.yaml): "text" is not an object',
  ]);
});

Deno.test("validateObject() gives namespace-less objects the default namespace when asked", () => {
  const r = validateObject(service({}, { metadata: { name: "web" } }), {
    defaultNamespace: "default",
  });
  assert.equal(svc(r).metadata.namespace, "default");
  const n = validateObject(node({ metadata: { name: "node-1", namespace: "kube-system" } }), {
    defaultNamespace: "default",
  });
  assert.equal((n.object as Node).metadata.namespace, "");
});

Deno.test("validateObject() drops kubectl's last-applied annotation and keeps the others", () => {
  const r = validateObject(service({}, {
    metadata: {
      name: "web",
      namespace: "a",
      resourceVersion: "42",
      uid: "u-1",
      annotations: {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        "service.kubernetes.io/topology-mode": "Auto",
      },
      managedFields: [{ manager: "kubectl" }],
    },
  }));
  assert.deepEqual(svc(r).metadata, {
    name: "web",
    namespace: "a",
    labels: {},
    annotations: { "service.kubernetes.io/topology-mode": "Auto" },
    resourceVersion: "42",
    uid: "u-1",
  });
});

Deno.test("validateObject() reads endpoint conditions with the API's nil rules", () => {
  const cond = (c: unknown) =>
    (validateObject(slice({}, { conditions: c })).object as EndpointSlice).endpoints[0]
      ?.conditions;
  assert.deepEqual(cond(undefined), { ready: true, serving: true, terminating: false });
  assert.deepEqual(cond({}), { ready: true, serving: true, terminating: false });
  assert.deepEqual(cond({ ready: false }), { ready: false, serving: false, terminating: false });
  assert.deepEqual(cond({ ready: false, serving: true, terminating: true }), {
    ready: false,
    serving: true,
    terminating: true,
  });
  assert.deepEqual(cond({ ready: null, serving: null, terminating: null }), {
    ready: true,
    serving: true,
    terminating: false,
  });
});

Deno.test("validateObject() reads an EndpointSlice with defaults, hints and canonical IPv6", () => {
  const r = validateObject(slice({
    addressType: "IPv6",
    ports: [{ port: 8080 }, { name: "dns", port: 53, protocol: "UDP" }],
  }, {
    addresses: ["FD00:10::0:5"],
    nodeName: "node-1",
    zone: "zone-a",
    hints: { forZones: [{ name: "zone-a" }] },
    targetRef: { kind: "Pod", name: "web-1" },
  }));
  assert.deepEqual(r.issues, []);
  assert.deepEqual(r.object, {
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc12",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "web" },
      annotations: {},
    },
    addressType: "IPv6",
    endpoints: [{
      addresses: ["fd00:10::5"],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: "node-1",
      zone: "zone-a",
      hints: { forZones: ["zone-a"], forNodes: [] },
    }],
    ports: [
      { name: "", protocol: "TCP", port: 8080 },
      { name: "dns", protocol: "UDP", port: 53 },
    ],
  });
});

Deno.test("validateObject() reports each invalid EndpointSlice field with its value", () => {
  const at = "invalid EndpointSlice default/web-abc12 (file x.yaml)";
  const cases: [string, Raw, string[]][] = [
    ["address of the wrong family", slice({}, { addresses: ["fd00::5"] }), [
      `${at}: endpoints[0].addresses[0]: "fd00::5" not an IPv4 address (the slice's addressType is IPv4)`,
    ]],
    ["bad address", slice({}, { addresses: ["10.244.1"] }), [
      `${at}: endpoints[0].addresses[0]: "10.244.1" not a valid IP address`,
    ]],
    ["no address", slice({}, { addresses: [] }), [
      `${at}: endpoints[0].addresses: required: at least one address`,
    ]],
    ["bad addressType", slice({ addressType: "ipv4" }), [
      `${at}: addressType: "ipv4" not one of IPv4, IPv6, FQDN`,
    ]],
    ["missing addressType", slice({ addressType: undefined }), [`${at}: addressType: required`]],
    ["port out of range", slice({ ports: [{ port: 0 }] }), [
      `${at}: ports[0].port: 0 out of range 1-65535`,
    ]],
    ["unknown protocol", slice({ ports: [{ port: 80, protocol: "ICMP" }] }), [
      `${at}: ports[0].protocol: "ICMP" not one of TCP, UDP, SCTP`,
    ]],
    ["duplicate port name", slice({ ports: [{ port: 80 }, { port: 81 }] }), [
      `${at}: ports[1].name: "" duplicate port name`,
    ]],
    ["condition not a boolean", slice({}, { conditions: { ready: "yes" } }), [
      `${at}: endpoints[0].conditions.ready: "yes" must be true or false`,
    ]],
    ["bad node name", slice({}, { nodeName: "Node_1" }), [
      `${at}: endpoints[0].nodeName: "Node_1" not a valid node name: must be at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit`,
    ]],
    [
      "missing service-name label",
      slice({ metadata: { name: "web-abc12", namespace: "default" } }),
      [`${at}: metadata.labels[kubernetes.io/service-name]: required: it names the slice's Service`],
    ],
    [
      "bad service-name label",
      slice({
        metadata: {
          name: "web-abc12",
          namespace: "default",
          labels: { "kubernetes.io/service-name": "Web" },
        },
      }),
      [
        `${at}: metadata.labels[kubernetes.io/service-name]: "Web" not a valid Service name: must be at most 63 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit`,
      ],
    ],
  ];
  for (const [what, raw, want] of cases) {
    assert.deepEqual(problems(validateObject(raw)), want, what);
  }
});

Deno.test("validateObject() ignores a slice port without a number, with a warning", () => {
  const r = validateObject(slice({ ports: [{ name: "http" }, { name: "m", port: 9090 }] }));
  assert.deepEqual((r.object as EndpointSlice).ports, [{ name: "m", protocol: "TCP", port: 9090 }]);
  assert.deepEqual(r.warnings, [
    { field: "ports[0].port", message: "missing: port ignored, as kube-proxy does" },
  ]);
});

Deno.test("validateObject() warns about sloppy addresses it reads the way kube-proxy does", () => {
  const r = validateObject(service({
    clusterIP: "010.096.000.010",
    loadBalancerSourceRanges: ["10.1.2.3/8"],
  }));
  assert.deepEqual(r.issues, []);
  assert.equal(svc(r).spec.clusterIP, "10.96.0.10");
  assert.deepEqual(svc(r).spec.loadBalancerSourceRanges, ["10.0.0.0/8"]);
  assert.deepEqual(r.warnings.map((w) => w.message), [
    "has leading zeros, read as 10.96.0.10 (as kube-proxy does)",
    "has host bits set, read as 10.0.0.0/8",
  ]);
});

Deno.test("validateObject() ignores FQDN slices, other kinds and other API versions", () => {
  const fqdn = validateObject(slice({ addressType: "FQDN", endpoints: [{ addresses: ["a.b"] }] }));
  assert.deepEqual([fqdn.ignored, fqdn.object, fqdn.issues], [true, undefined, []]);
  assert.match(fqdn.reason ?? "", /FQDN/);
  const cm = validateObject({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } });
  assert.deepEqual([cm.ignored, cm.kind, cm.reason], [
    true,
    "ConfigMap",
    "kind ConfigMap is not read by kipvs",
  ]);
  const knative = validateObject({ ...service(), apiVersion: "serving.knative.dev/v1" });
  assert.equal(knative.ignored, true);
  assert.match(knative.reason ?? "", /serving\.knative\.dev\/v1 is not read/);
  const beta = validateObject({ ...slice(), apiVersion: "discovery.k8s.io/v1beta1" });
  assert.equal(beta.ignored, true);
});

Deno.test("validateObject() takes kind and apiVersion from options for typed list items", () => {
  const { kind: _k, apiVersion: _a, ...item } = service();
  const r = validateObject(item, { kind: "Service", apiVersion: "v1" });
  assert.equal(r.object?.kind, "Service");
  const wrong = validateObject(item, { kind: "Service", apiVersion: "v2" });
  assert.equal(wrong.ignored, true);
});

Deno.test("validateObject() reads a Node's addresses, pod CIDRs and taints", () => {
  const r = validateObject(node({
    metadata: { name: "node-1", labels: { "topology.kubernetes.io/zone": "zone-a" } },
    spec: {
      podCIDR: "10.244.1.0/24",
      taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }],
    },
    status: {
      addresses: [
        { type: "InternalIP", address: "192.168.100.1" },
        { type: "InternalIP", address: "FD00:100::1" },
        { type: "Hostname", address: "node-1" },
      ],
    },
  }));
  assert.deepEqual(r.issues, []);
  const n = r.object as Node;
  assert.deepEqual(n.spec, {
    taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }],
    podCIDRs: ["10.244.1.0/24"],
  });
  assert.deepEqual(n.status.addresses.map((a) => a.address), [
    "192.168.100.1",
    "fd00:100::1",
    "node-1",
  ]);
});

Deno.test("validateObject() reports each invalid Node field with its value", () => {
  const r = validateObject(node({
    spec: { podCIDRs: ["10.244.1.0/33"], taints: [{ key: "k", effect: "Never" }, { key: "j" }] },
    status: { addresses: [{ type: "InternalIP", address: "node-1" }] },
  }));
  assert.deepEqual(problems(r), [
    'invalid Node node-1 (file x.yaml): spec.taints[0].effect: "Never" not one of NoSchedule, PreferNoSchedule, NoExecute',
    "invalid Node node-1 (file x.yaml): spec.taints[1].effect: required",
    'invalid Node node-1 (file x.yaml): spec.podCIDRs[0]: "10.244.1.0/33" not a valid CIDR: prefix must be 0-32',
    'invalid Node node-1 (file x.yaml): status.addresses[0].address: "node-1" not a valid IP address',
  ]);
});

Deno.test("validateObject() reports every issue of an object, not only the first", () => {
  const r = validateObject(service({ clusterIP: "x", ports: [{ port: 0, protocol: "ICMP" }] }));
  assert.deepEqual(r.issues.map((i) => i.field), [
    "spec.clusterIP",
    "spec.ports[0].protocol",
    "spec.ports[0].port",
  ]);
});

Deno.test("validationError() is an invalid-object KipvsError naming the first issue", () => {
  const r = validateObject(service({ clusterIP: "x", ports: [{ port: 0 }] }));
  const err = validationError({ ...r, source: "API watch" }, r.issues);
  assert.ok(err instanceof KipvsError);
  assert.equal(err.code, "invalid-object");
  assert.equal(
    err.message,
    'invalid Service default/web (API watch): spec.clusterIP: "x" not a valid IP address (and 1 more)',
  );
  assert.equal(err.details.name, "web");
});

Deno.test("validateObject() reports null list elements instead of dropping them", () => {
  const r = validateObject(slice({ ports: [null] }, {}));
  assert.deepEqual(problems(r), [
    "invalid EndpointSlice default/web-abc12 (file x.yaml): ports[0]: null must be an object",
  ]);
  const e = validateObject(slice({ endpoints: [null] }));
  assert.deepEqual(e.issues.map((i) => i.field), ["endpoints[0]"]);
});

Deno.test("validateObject() never throws and never returns an object with issues, on junk", () => {
  const junk = [null, 0, -1, 1.5, 70000, "", "x", "10.0.0.1", "fd00::1", true, [], [null], {}, {
    a: 1,
  }];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // Replaces one random node of the object (at any depth) with junk.
  function mutate(v: unknown): unknown {
    if (rand(4) === 0 || v === null || typeof v !== "object") return junk[rand(junk.length)];
    if (Array.isArray(v)) {
      if (v.length === 0) return v;
      const i = rand(v.length);
      return v.map((x, k) => k === i ? mutate(x) : x);
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return v;
    const key = keys[rand(keys.length)]!;
    return { ...v, [key]: mutate((v as Raw)[key]) };
  }
  const bases = [
    service({
      type: "LoadBalancer",
      clusterIPs: ["10.96.0.10"],
      externalIPs: ["1.2.3.4"],
      loadBalancerSourceRanges: ["10.0.0.0/8"],
      ports: [{ name: "a", port: 80, nodePort: 30000, targetPort: "web" }],
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } },
    }, { status: { loadBalancer: { ingress: [{ ip: "1.2.3.5", ipMode: "VIP" }] } } }),
    slice({}, { hints: { forZones: [{ name: "a" }] }, conditions: { ready: true } }),
    node({ spec: { podCIDRs: ["10.0.0.0/24"], taints: [{ key: "k", effect: "NoSchedule" }] } }),
  ];
  for (let i = 0; i < 5000; i++) {
    let raw: unknown = bases[i % bases.length];
    for (let m = 1 + rand(3); m > 0; m--) raw = mutate(raw);
    const r = validateObject(raw);
    assert.equal(r.object !== undefined, r.issues.length === 0 && !r.ignored, JSON.stringify(raw));
    for (const issue of r.issues) assert.equal(typeof formatIssue(r, issue), "string");
  }
});

Deno.test("validation messages render at most 80 characters of a value and walk no more of it", () => {
  // An exponential value, as YAML aliases build it: nine references to the level below, 30
  // deep; every read of it is counted.
  let reads = 0;
  const counted = <T extends object>(o: T): T =>
    new Proxy(o, { get: (t, k, r) => (reads++, Reflect.get(t, k, r)) });
  let bomb: unknown = counted(["lol"]);
  for (let i = 0; i < 30; i++) bomb = counted(Array(9).fill(bomb));
  const circular: unknown[] = [];
  circular.push(circular);
  for (const value of [bomb, circular, "x".repeat(1e7), { ["k".repeat(1e6)]: 1 }]) {
    reads = 0;
    const r = validateObject(service({ ports: value }));
    const text = validationError({ ...r, source: "file x.yaml" }, r.issues).message;
    assert.ok(reads < 2_000, `${reads} reads of the value`);
    const shown = text.match(/spec\.ports(?:\[0\])?: (.*) must be an? (list|object)/)?.[1];
    assert.ok(shown !== undefined && shown.length <= 80 && shown.endsWith("..."), text);
  }
  assert.equal(renderValue([1, "a\nb", { c: null }]), '[1,"a\\nb",{"c":null}]');
});

Deno.test("describeObject() cuts a huge kind, namespace or name to 80 characters", () => {
  const r = validateObject(service({}, { metadata: { name: "n".repeat(1e6), namespace: "x" } }));
  const text = formatIssue({ ...r, source: "file x.yaml" }, r.issues[0]!);
  assert.ok(text.length < 400, text);
  assert.match(
    text,
    /^invalid Service x\/n{77}\.\.\. \(file x\.yaml\): metadata\.name: "n{76}\.\.\. not a valid name/,
  );
});
