import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { parseKubeYaml } from "../../src/source/_kubeyaml.ts";

/** What npm:yaml makes of `text` (empty documents dropped, as the manifest source drops them). */
function reference(text: string): unknown[] | "error" {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.some((d) => d.errors.length > 0)) return "error";
  return list.map((d) => d.toJS()).filter((d) => d !== null);
}

function fast(text: string): unknown[] | undefined {
  return parseKubeYaml(text)?.filter((d) => d !== null);
}

/** The fast reader either declines or agrees with npm:yaml exactly. */
function agrees(text: string): "fast" | "declined" {
  const f = fast(text);
  if (f === undefined) return "declined";
  assert.deepEqual(f, reference(text), `disagrees with npm:yaml on:\n${text}`);
  return "fast";
}

Deno.test("parseKubeYaml() reads kubectl's block style exactly as npm:yaml does", () => {
  const text = `apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"v1","kind":"Service"}
      note: |-
        line one

        line three
    creationTimestamp: "2025-01-01T00:00:00Z"
    labels:
      app.kubernetes.io/name: web
      "quoted key": 'it''s'
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:spec:
          f:ports:
            .: {}
            k:{"port":80,"protocol":"TCP"}:
              .: {}
              f:port: {}
      manager: kubectl-client-side-apply
    name: web   # a comment
    namespace: default
    resourceVersion: "1234"
  spec:
    clusterIP: 10.96.0.10
    clusterIPs:
    - 10.96.0.10
    ipFamilies:
      - IPv4
    ports:
    -   name: http
        port: 80
        targetPort: -1
    - name: "dns\\t\\u00e9\\"x\\""
      port: 0
    sessionAffinity: None
    selector:
    empty: []
    yes: no
    on: ~
    n: null
    t: true
    f: FALSE
  status:
    loadBalancer: {}
kind: List
metadata:
  resourceVersion: ""
---
# a comment document
---
kind: Second
`;
  assert.equal(agrees(text), "fast");
});

Deno.test("parseKubeYaml() declines what lies outside its subset", () => {
  const outside = [
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: {b: 1}\n",
    "a: [1, 2]\n",
    "a: >\n  folded\n",
    "a: |+\n  kept\n\n",
    "a: |2\n   x\n",
    "a: plain\n  continued\n",
    'a: "open\n  close"\n',
    "a: 1.5\n",
    "a: 1e3\n",
    "a: 0x1F\n",
    "a: 0o17\n",
    "a: 007\n",
    "a: +1\n",
    "a: .inf\n",
    "a: 1\na: 2\n",
    "<<: {a: 1}\n",
    "a:\n\t- b\n",
    "? a\n: b\n",
    "- - a\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: 1\n...\n",
    "just a scalar\n",
    "a: b: c\n",
    "a: 1\n- b\n",
    "a: 'x' y\n",
    'a: "\\q"\n',
    "a: 99999999999999999999\n",
    "__proto__: 1\n",
    "- a\nb: 1\n",
  ];
  for (const text of outside) assert.equal(agrees(text), "declined", JSON.stringify(text));
});

Deno.test("parseKubeYaml() agrees with npm:yaml on generated documents or declines them", () => {
  // Scalars chosen to sit on the edges of the core schema and of the subset.
  const scalars = [
    "web",
    "10.96.0.1",
    "fd00::1",
    "80",
    "-1",
    "0",
    "-0",
    "true",
    "True",
    "yes",
    "No",
    "on",
    "null",
    "~",
    "",
    "None",
    "1.5",
    "1e3",
    "0x10",
    "a#b",
    "a #b",
    "a:b",
    "http://x:80/",
    "'q'",
    '"d"',
    "'it''s'",
    '"a\\"b"',
    "{}",
    "[]",
    "- x",
    "-x",
    "?x",
    ":x",
    ".",
    "..",
    "k:{}",
    "@x",
    "`x",
    "%x",
    "*x",
    "&x",
    "!x",
    "|",
    ">",
    "#",
    "a  b",
    "é",
    "x ",
    "0o7",
    ".5",
    "+5",
  ];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]) => xs[rand(xs.length)]!;
  const key = () => pick(["a", "b", "name", "port", "80", "f:spec", ".", 'k:{"p":1}', "x y"]);
  function node(indent: number, depth: number): string {
    const pad = " ".repeat(indent);
    const kind = depth > 2 ? 0 : rand(3);
    if (kind === 0) return ` ${pick(scalars)}\n`;
    if (kind === 1) {
      const keys = new Set<string>();
      let out = "\n";
      for (let n = 1 + rand(3); n > 0; n--) {
        const k = key();
        if (keys.has(k) && rand(4) !== 0) continue;
        keys.add(k);
        out += `${pad}  ${k}:${node(indent + 2, depth + 1)}`;
      }
      return out;
    }
    let out = "\n";
    const dash = rand(2) === 0 ? pad : pad + "  ";
    for (let n = 1 + rand(3); n > 0; n--) {
      if (rand(2) === 0) out += `${dash}- ${pick(scalars)}\n`;
      else out += `${dash}- ${key()}:${node(dash.length + 2, depth + 1)}`;
    }
    return out;
  }
  let fastCount = 0;
  for (let i = 0; i < 3000; i++) {
    const text = `root:${node(0, 0)}---\nother: ${pick(scalars)}\n`;
    if (agrees(text) === "fast") fastCount++;
  }
  // Most generated documents must take the fast path, or the comparison proves little.
  assert.ok(fastCount > 600, `only ${fastCount} of 3000 took the fast path`);
});
