/**
 * The hostile-input corpus: manifest files as an attacker or a careless operator writes them,
 * each with what kipvs must make of it. `writeCorpus(dir)` writes every file; the kernel test
 * (hostile_test.ts) runs `kipvs run --once` over the directory and checks each expectation.
 *
 * - `valid`: programmed; `vs` lists the virtual servers it brings ("TCP 10.96.1.1:80").
 * - `quiet`: neither programmed nor warned about (empty files, kinds kipvs does not read).
 * - a RegExp: a warning names the file and matches it (the field and what is wrong).
 *
 * @module
 */

/** One file of the corpus. */
export interface Case {
  file: string;
  content: string | Uint8Array;
  expect: "valid" | "quiet" | RegExp;
  /** Virtual servers a valid file brings, as `ipvsadm -Sn` names them ("-t 10.96.1.1:80"). */
  vs?: string[];
}

/** A Service (and, with `endpoints`, its EndpointSlice) in YAML. */
function svc(o: {
  name: string;
  ip?: string;
  spec?: string;
  meta?: string;
  ports?: string;
  endpoints?: string[];
}): string {
  const ports = o.ports ?? "[{ name: http, port: 80, targetPort: 8080 }]";
  let y = `apiVersion: v1
kind: Service
metadata:
  name: ${o.name}
  namespace: hostile
${o.meta ?? ""}spec:
  clusterIP: ${o.ip ?? "10.96.9.9"}
  ports: ${ports}
${o.spec ?? ""}`;
  if (o.endpoints) {
    y += `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${o.name}-x
  namespace: hostile
  labels: { kubernetes.io/service-name: ${o.name} }
addressType: IPv4
endpoints:
${o.endpoints.map((a) => `  - { addresses: [${a}], conditions: { ready: true } }`).join("\n")}
ports: [{ name: http, protocol: TCP, port: 8080 }]
`;
  }
  return y;
}

/** A Service with `spec` lines added to a valid one (an invalid field, usually). */
function bad(name: string, spec: string): string {
  return svc({ name, spec });
}

/** An EndpointSlice of service "web" with the given body lines. */
function slice(name: string, body: string): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  namespace: hostile
  labels: { kubernetes.io/service-name: web }
${body}`;
}

function utf16(s: string, bigEndian: boolean, bom: boolean): Uint8Array {
  const out = new Uint8Array((bom ? 2 : 0) + s.length * 2);
  const view = new DataView(out.buffer);
  let at = 0;
  if (bom) view.setUint16((at += 2) - 2, 0xfeff, !bigEndian);
  for (let i = 0; i < s.length; i++, at += 2) view.setUint16(at, s.charCodeAt(i), !bigEndian);
  return out;
}

function utf32(s: string, bigEndian: boolean, bom: boolean): Uint8Array {
  const cps = [...(bom ? "\ufeff" : ""), ...s].map((c) => c.codePointAt(0)!);
  const out = new Uint8Array(cps.length * 4);
  const view = new DataView(out.buffer);
  cps.forEach((cp, i) => view.setUint32(i * 4, cp, !bigEndian));
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);

/** A "billion laughs": `levels` levels of nine aliases each, the last one in `field`. */
function bomb(name: string, levels: number, field: string): string {
  let y = `l0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
  for (let i = 1; i <= levels; i++) {
    y += `l${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]\n`;
  }
  return `${y}apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: hostile\n` +
    field.replace("BOMB", `*a${levels}`);
}

/** Bytes from a fixed seed (xorshift): the same "garbage" every run. */
function garbage(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A log line kipvs could have written, hidden in a name. */
export const FORGED = "2026-01-01T00:00:00.000Z INFO  synced services=999 forged=yes";

const VALID: Case[] = [
  {
    file: "valid-web.yaml",
    content: svc({ name: "web", ip: "10.96.1.1", endpoints: ["10.244.1.2"] }),
    expect: "valid",
    vs: ["-t 10.96.1.1:80"],
  },
  {
    file: "valid-dns.json",
    content: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "dns", namespace: "hostile" },
      spec: { clusterIP: "10.96.1.2", ports: [{ name: "dns", protocol: "UDP", port: 53 }] },
    }),
    expect: "valid",
    vs: ["-u 10.96.1.2:53"],
  },
  {
    file: "valid-utf8-bom.yaml",
    content: new Uint8Array([0xef, 0xbb, 0xbf, ...enc(svc({ name: "bom", ip: "10.96.1.3" }))]),
    expect: "valid",
    vs: ["-t 10.96.1.3:80"],
  },
  {
    file: "valid-utf16le-bom.yaml",
    content: utf16(svc({ name: "u16le", ip: "10.96.1.4" }), false, true),
    expect: "valid",
    vs: ["-t 10.96.1.4:80"],
  },
  {
    file: "valid-utf16be-bom.yaml",
    content: utf16(svc({ name: "u16be", ip: "10.96.1.5" }), true, true),
    expect: "valid",
    vs: ["-t 10.96.1.5:80"],
  },
  {
    file: "valid-utf16le-nobom.yaml",
    content: utf16(svc({ name: "u16nobom", ip: "10.96.1.6" }), false, false),
    expect: "valid",
    vs: ["-t 10.96.1.6:80"],
  },
  {
    file: "valid-utf32le-bom.yaml",
    content: utf32(svc({ name: "u32le", ip: "10.96.1.7" }), false, true),
    expect: "valid",
    vs: ["-t 10.96.1.7:80"],
  },
  {
    file: "valid-utf32be-nobom.yaml",
    content: utf32(svc({ name: "u32be", ip: "10.96.1.8" }), true, false),
    expect: "valid",
    vs: ["-t 10.96.1.8:80"],
  },
  {
    file: "valid-crlf.yaml",
    content: svc({ name: "crlf", ip: "10.96.1.9" }).replaceAll("\n", "\r\n"),
    expect: "valid",
    vs: ["-t 10.96.1.9:80"],
  },
  {
    file: "valid-anchors.yaml",
    content: svc({
      name: "anchors",
      ip: "10.96.1.10",
      meta: "  labels: &l { app: anchors }\n  annotations: *l\n",
    }),
    expect: "valid",
    vs: ["-t 10.96.1.10:80"],
  },
  {
    file: "valid-big-annotation.yaml",
    content: svc({
      name: "bigannotation",
      ip: "10.96.1.14",
      meta: `  annotations: { note: "${"x".repeat(200_000)}" }\n`,
    }),
    expect: "valid",
    vs: ["-t 10.96.1.14:80"],
  },
  {
    file: "mixed-list.yaml",
    content: `apiVersion: v1
kind: List
items:
- { apiVersion: v1, kind: Service, metadata: { name: listok, namespace: hostile },
    spec: { clusterIP: 10.96.1.11, ports: [{ port: 80 }] } }
- { apiVersion: v1, kind: Service, metadata: { name: listbadport, namespace: hostile },
    spec: { clusterIP: 10.96.1.21, ports: [{ port: 0 }] } }
- { apiVersion: v1, kind: Service, metadata: { name: listbadip, namespace: hostile },
    spec: { clusterIP: 10.96.1.300, ports: [{ port: 80 }] } }
`,
    expect: /items\[1\].*spec\.ports\[0\]\.port: 0 out of range/,
    vs: ["-t 10.96.1.11:80"],
  },
  {
    file: "mixed-docs.yaml",
    content: `${svc({ name: "docok", ip: "10.96.1.12" })}---\n${
      bad("docbad", "  type: Sideways\n")
    }---\n--- 42\n`,
    expect: /document 2.*spec\.type: "Sideways" not one of/,
    vs: ["-t 10.96.1.12:80"],
  },
  {
    file: "orphan-slice.yaml",
    content: slice("orphan", "addressType: IPv4\nendpoints: []\n").replace(
      "service-name: web",
      "service-name: nosuchservice",
    ),
    expect: "quiet",
  },
  {
    file: "slice-fqdn.yaml",
    content: slice("fqdn", "addressType: FQDN\nendpoints: [{ addresses: [db.example.com] }]\n"),
    expect: "quiet",
  },
  {
    file: "other-kinds.yaml",
    content: "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\ndata: { a: b }\n---\n" +
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n",
    expect: "quiet",
  },
  {
    file: "node-other.yaml",
    content: "apiVersion: v1\nkind: Node\nmetadata: { name: some-other-node }\n",
    expect: "quiet",
  },
  // Conflicts: the older Service wins 10.96.1.40:80 though "anew" sorts first; anew's other
  // ports are programmed. Two Services on node port 30090: the older one has it.
  {
    file: "conflict-old.yaml",
    content: svc({
      name: "zold",
      ip: "10.96.1.40",
      meta: '  creationTimestamp: "2020-01-01T00:00:00Z"\n',
      endpoints: ["10.244.1.2"],
    }),
    expect: "valid",
    vs: ["-t 10.96.1.40:80"],
  },
  {
    file: "conflict-new.yaml",
    content: svc({
      name: "anew",
      ip: "10.96.1.41",
      meta: '  creationTimestamp: "2024-01-01T00:00:00Z"\n',
      ports: "[{ name: a, port: 80 }, { name: b, port: 81 }]",
      spec: "  externalIPs: [10.96.1.40]\n",
    }),
    expect: "valid",
    vs: ["-t 10.96.1.41:80", "-t 10.96.1.41:81", "-t 10.96.1.40:81"],
  },
  {
    file: "nodeport-a.yaml",
    content: svc({
      name: "npa",
      ip: "10.96.1.42",
      meta: '  creationTimestamp: "2021-01-01T00:00:00Z"\n',
      ports: "[{ port: 80, nodePort: 30090 }]",
      spec: "  type: NodePort\n",
    }),
    expect: "valid",
    vs: ["-t 10.96.1.42:80"],
  },
  {
    file: "nodeport-b.yaml",
    content: svc({
      name: "npb",
      ip: "10.96.1.43",
      meta: '  creationTimestamp: "2022-01-01T00:00:00Z"\n',
      ports: "[{ port: 80, nodePort: 30090 }]",
      spec: "  type: NodePort\n",
    }),
    expect: "valid",
    vs: ["-t 10.96.1.43:80"],
  },
  { file: "empty.yaml", content: "", expect: "quiet" },
  { file: "whitespace.yaml", content: "  \n\n\t\n   \n", expect: "quiet" },
  { file: "comments-only.yaml", content: "# nothing here\n# at all\n", expect: "quiet" },
  { file: "separators-only.yaml", content: "---\n---\n...\n---\n", expect: "quiet" },
  { file: "json-null.json", content: "null", expect: "quiet" },
];

const BOMBS: Case[] = [
  {
    file: "bomb-annotation.yaml",
    content: bomb("bombann", 9, "  annotations:\n    x: BOMB\nspec: { ports: [{ port: 80 }] }\n"),
    expect: /aliases expand to more than 100000 values/,
  },
  {
    file: "bomb-ports.yaml",
    content: bomb("bombports", 7, "spec:\n  ports: BOMB\n"),
    expect: /aliases expand to more than 100000 values/,
  },
  {
    file: "bomb-deeper.yaml",
    content: bomb("bombdeep", 30, "spec:\n  ports: BOMB\n"),
    expect: /aliases expand to more than 100000 values/,
  },
  // YAML 1.1 merge keys are not merges in the YAML 1.2 core schema: "<<" is a plain key.
  {
    file: "merge-keys.yaml",
    content: `base: &b { app: x }\n${svc({ name: "mergekeys", meta: "  labels: { <<: *b }\n" })}`,
    expect: /metadata\.labels\[<<\]: \{"app":"x"\} must be a string/,
  },
  {
    file: "alias-cycle.yaml",
    content: "apiVersion: v1\nkind: Service\nmetadata: { name: cycle }\nspec: &s\n  ports: [*s]\n",
    expect: /circular document/,
  },
  {
    file: "alias-unknown.yaml",
    content: "apiVersion: v1\nkind: Service\nmetadata: { name: unknown }\nspec: *nowhere\n",
    expect: /unidentified alias "nowhere"/,
  },
  {
    file: "many-aliases.yaml",
    content: `x: &x lol\napiVersion: v1\nkind: Service\nmetadata: { name: manyaliases }\n` +
      `spec:\n  clusterIP: 10.96.1.30\n  ports:\n${"  - *x\n".repeat(50_000)}`,
    expect: /spec\.ports\[0\]: "lol" must be an object/,
  },
  {
    file: "deep-flow.yaml",
    content: `a: ${"[".repeat(10_000)}${"]".repeat(10_000)}\n`,
    expect: /nesting exceeded maxDepth \(100\)/,
  },
  {
    file: "deep-block.yaml",
    content: Array.from({ length: 150 }, (_, i) => `${"  ".repeat(i)}k${i}:`).join("\n") + " 1\n",
    expect: /nesting exceeded maxDepth \(100\)/,
  },
  {
    file: "deep.json",
    content: `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
    expect: /nested deeper than 100 levels/,
  },
  {
    file: "huge-externalips.yaml",
    content: bad(
      "hugeips",
      `  externalIPs:\n${"    - 300.1.1.1\n".repeat(60_000)}`,
    ),
    expect: /hostile\/hugeips .*: and 59990 more issues/,
  },
  {
    file: "long-name.yaml",
    content: svc({ name: "n".repeat(1_000_000) }),
    expect: /metadata\.name: "n{76}\.\.\. not a valid name/,
  },
];

const ENCODINGS: Case[] = [
  { file: "nul-byte.yaml", content: enc("apiVersion: v1\nkind: Serv\0ice\n"), expect: /NUL/ },
  {
    file: "invalid-utf8.yaml",
    content: new Uint8Array([...enc("apiVersion: v1\n# caf"), 0xe9, ...enc("\nkind: Service\n")]),
    expect: /invalid UTF-8 \(byte 0xe9 at line 2, column 6/,
  },
  { file: "binary-garbage.yaml", content: garbage(4096), expect: /invalid UTF-8/ },
  {
    file: "png-as-yaml.yaml",
    content: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...garbage(200, 7)]),
    expect: /invalid UTF-8 \(byte 0x89/,
  },
  {
    file: "gzip.json",
    content: new Uint8Array([0x1f, 0x8b, 0x08, 0x00, ...garbage(300, 11)]),
    expect: /invalid UTF-8|NUL|cannot parse/,
  },
  {
    file: "utf16-odd.yaml",
    content: new Uint8Array([0xff, 0xfe, 0x61, 0x00, 0x3a]),
    expect: /invalid UTF-16LE/,
  },
  {
    file: "control-chars.yaml",
    content: "apiVersion: v1\nkind: Service\nmetadata: { name: ctl\u0001\u0002 }\n",
    expect: /non-printable|invalid|cannot parse/,
  },
];

const SYNTAX: Case[] = [
  { file: "tab-indent.yaml", content: "spec:\n\tports: []\n", expect: /cannot parse.*tab/i },
  {
    file: "unclosed-quote.yaml",
    content: 'kind: "Service\nmetadata: {}\n',
    expect: /cannot parse/,
  },
  {
    file: "unclosed-flow.yaml",
    content: "kind: Service\nspec: { ports: [\n",
    expect: /cannot parse/,
  },
  {
    file: "trailing-comma.json",
    content: '{"kind": "Service", "spec": {"ports": [1,]},}',
    expect: /cannot parse.*JSON/,
  },
  {
    file: "truncated.json",
    content: '{"kind": "Service", "metadata": {"na',
    expect: /cannot parse/,
  },
  { file: "empty.json", content: "", expect: /cannot parse .*empty\.json/ },
  {
    file: "duplicate-key.yaml",
    content: "kind: Service\nkind: Service\n",
    expect: /cannot parse.*duplicate/i,
  },
  { file: "unknown-tag.yaml", content: "kind: !python/object Service\n", expect: /unknown.*tag/i },
  { file: "binary-tag.yaml", content: "kind: !!binary aGVsbG8=\n", expect: /unknown.*tag/i },
  {
    file: "bad-indent.yaml",
    content: "kind: Service\n  metadata: x\n bad: 1\n",
    expect: /cannot parse/,
  },
];

const NOT_OBJECTS: Case[] = [
  { file: "json-array-of-numbers.json", content: "[1, 2, 3]", expect: /is not an object/ },
  { file: "json-string.json", content: '"hello"', expect: /is not an object/ },
  { file: "yaml-scalar.yaml", content: "just a string\n", expect: /is not an object/ },
  { file: "yaml-list-of-strings.yaml", content: "- a\n- b\n", expect: /is not an object/ },
  {
    file: "list-items-scalars.yaml",
    content: "apiVersion: v1\nkind: List\nitems: [1, x, null]\n",
    expect: /items\[0\].*is not an object/,
  },
  {
    file: "no-kind.yaml",
    content: "apiVersion: v1\nmetadata: { name: x }\n",
    expect: /kind: required/,
  },
  {
    file: "no-name.yaml",
    content: "apiVersion: v1\nkind: Service\nspec: { ports: [{ port: 80 }] }\n",
    expect: /metadata: required/,
  },
];

const WRONG_FIELDS: Case[] = [
  {
    file: "port-string.yaml",
    content: svc({ name: "portstring", ports: '[{ port: "80" }]' }),
    expect: /spec\.ports\[0\]\.port: "80" must be an integer/,
  },
  {
    file: "port-float.yaml",
    content: svc({ name: "portfloat", ports: "[{ port: 80.5 }]" }),
    expect: /spec\.ports\[0\]\.port: 80\.5 must be an integer/,
  },
  {
    file: "port-negative.yaml",
    content: svc({ name: "portneg", ports: "[{ port: -1 }]" }),
    expect: /spec\.ports\[0\]\.port: -1 out of range 1-65535/,
  },
  {
    file: "port-70000.yaml",
    content: svc({ name: "port70000", ports: "[{ port: 70000 }]" }),
    expect: /spec\.ports\[0\]\.port: 70000 out of range 1-65535/,
  },
  {
    file: "nodeport-range.yaml",
    content: svc({
      name: "nodeport",
      ports: "[{ port: 80, nodePort: 99999 }]",
      spec: "  type: NodePort\n",
    }),
    expect: /spec\.ports\[0\]\.nodePort: 99999 out of range/,
  },
  {
    file: "protocol-icmp.yaml",
    content: svc({ name: "icmp", ports: "[{ port: 80, protocol: ICMP }]" }),
    expect: /spec\.ports\[0\]\.protocol: "ICMP" not one of/,
  },
  {
    file: "type-bogus.yaml",
    content: bad("typebogus", "  type: Bogus\n"),
    expect: /spec\.type: "Bogus"/,
  },
  {
    file: "clusterip-bad.yaml",
    content: svc({ name: "badip", ip: "999.1.1.1" }),
    expect: /spec\.clusterIP: "999\.1\.1\.1"/,
  },
  {
    file: "clusterip-family.yaml",
    content: svc({ name: "family", ip: "fd00::10", spec: "  ipFamilies: [IPv4]\n" }),
    expect: /spec\.(clusterIP|ipFamilies)/,
  },
  {
    file: "externalips-bad.yaml",
    content: bad("extip", "  externalIPs: [1.2.3]\n"),
    expect: /spec\.externalIPs\[0\]: "1\.2\.3"/,
  },
  {
    file: "lbsourceranges-bad.yaml",
    content: bad("lbsr", "  type: LoadBalancer\n  loadBalancerSourceRanges: [10.0.0.0/33]\n"),
    expect: /spec\.loadBalancerSourceRanges\[0\]: "10\.0\.0\.0\/33"/,
  },
  {
    file: "affinity-timeout-zero.yaml",
    content: bad(
      "afzero",
      "  sessionAffinity: ClientIP\n  sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }\n",
    ),
    expect: /timeoutSeconds: 0 out of range/,
  },
  {
    file: "affinity-timeout-big.yaml",
    content: bad(
      "afbig",
      "  sessionAffinity: ClientIP\n  sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } }\n",
    ),
    expect: /timeoutSeconds: 86401 out of range/,
  },
  {
    file: "affinity-bogus.yaml",
    content: bad("afbogus", "  sessionAffinity: Sometimes\n"),
    expect: /spec\.sessionAffinity: "Sometimes" not one of/,
  },
  {
    file: "etp-bogus.yaml",
    content: bad("etp", "  type: NodePort\n  externalTrafficPolicy: Sideways\n"),
    expect: /spec\.externalTrafficPolicy: "Sideways" not one of/,
  },
  {
    file: "metadata-string.yaml",
    content: "apiVersion: v1\nkind: Service\nmetadata: just-a-string\n",
    expect: /metadata: "just-a-string" must be an object/,
  },
  {
    file: "spec-list.yaml",
    content: "apiVersion: v1\nkind: Service\nmetadata: { name: speclist }\nspec: [1, 2]\n",
    expect: /spec: \[1,2\] must be an object/,
  },
  {
    file: "ports-map.yaml",
    content: svc({ name: "portsmap", ports: "{ port: 80 }" }),
    expect: /spec\.ports: \{"port":80\} must be a list/,
  },
  {
    file: "labels-nonstring.yaml",
    content: svc({ name: "labels", meta: "  labels: { a: 1 }\n" }),
    expect: /metadata\.labels\[a\]: 1 must be a string/,
  },
  {
    file: "namespace-bad.yaml",
    content: svc({ name: "ns" }).replace("namespace: hostile", "namespace: Bad_NS"),
    expect: /metadata\.namespace: "Bad_NS" not a valid name/,
  },
];

const SLICES: Case[] = [
  {
    file: "slice-no-label.yaml",
    content: slice("nolabel", "addressType: IPv4\nendpoints: []\n").replace(
      "  labels: { kubernetes.io/service-name: web }\n",
      "",
    ),
    expect: /kubernetes\.io\/service-name/,
  },
  {
    file: "slice-bad-address.yaml",
    content: slice("badaddr", "addressType: IPv4\nendpoints: [{ addresses: [10.244.1.999] }]\n"),
    expect: /endpoints\[0\]\.addresses\[0\]: "10\.244\.1\.999"/,
  },
  {
    file: "slice-family-mismatch.yaml",
    content: slice("fam", 'addressType: IPv4\nendpoints: [{ addresses: ["fd00::1"] }]\n'),
    expect: /endpoints\[0\]\.addresses\[0\]: "fd00::1"/,
  },
  {
    file: "slice-port-range.yaml",
    content: slice("port", "addressType: IPv4\nendpoints: []\nports: [{ port: 70000 }]\n"),
    expect: /ports\[0\]\.port: 70000 out of range/,
  },
  {
    file: "slice-endpoints-map.yaml",
    content: slice("epmap", "addressType: IPv4\nendpoints: { a: 1 }\n"),
    expect: /endpoints: \{"a":1\} must be a list/,
  },
  {
    file: "slice-conditions-types.yaml",
    content: slice(
      "cond",
      'addressType: IPv4\nendpoints: [{ addresses: [10.244.1.5], conditions: { ready: "yes" } }]\n',
    ),
    expect: /endpoints\[0\]\.conditions\.ready: "yes" must be true or false/,
  },
  {
    file: "slice-addresstype-bogus.yaml",
    content: slice("at", "addressType: IPv5\nendpoints: []\n"),
    expect: /addressType: "IPv5" not one of/,
  },
];

/** Names that would forge a log line, drive a terminal or hide text, if logged raw. */
const NAMES: Case[] = [
  {
    file: "name-newline.yaml",
    content: svc({ name: `"web\\n${FORGED}"` }),
    expect: /metadata\.name: "web\\n2026-01-01/,
  },
  {
    file: "name-cr.yaml",
    content: svc({ name: `"cr\\r${FORGED}"` }),
    expect: /metadata\.name: "cr\\r2026-01-01/,
  },
  {
    file: "name-ansi.yaml",
    content: svc({ name: '"esc\\e[2J\\e[31mred"' }),
    expect: /metadata\.name: "esc\\u001b\[2J/,
  },
  {
    file: "name-bidi.yaml",
    content: svc({ name: '"bidi\\u202Egnp.exe"' }),
    expect: /\\u202egnp\.exe/,
  },
  {
    file: "name-c1.yaml",
    content: svc({ name: '"csi\\x9b31m"' }),
    expect: /\\u009b31m/,
  },
  {
    file: "name-line-separator.yaml",
    content: svc({ name: `"ls\\L${FORGED}"` }),
    expect: /\\u2028/,
  },
  // A kind kipvs does not read is ignored (a debug line, which must not be forged either).
  {
    file: "kind-newline.yaml",
    content: `apiVersion: v1\nkind: "Svc\\n${FORGED}"\nmetadata: { name: k }\n`,
    expect: "quiet",
  },
];

/** Every file of the corpus. */
export const CORPUS: readonly Case[] = [
  ...VALID,
  ...BOMBS,
  ...ENCODINGS,
  ...SYNTAX,
  ...NOT_OBJECTS,
  ...WRONG_FIELDS,
  ...SLICES,
  ...NAMES,
];

/** Writes the corpus into `dir` (which must exist). */
export function writeCorpus(dir: string): void {
  for (const c of CORPUS) {
    const bytes = typeof c.content === "string" ? enc(c.content) : c.content;
    Deno.writeFileSync(`${dir}/${c.file}`, bytes);
  }
}
