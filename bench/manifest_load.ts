/**
 * How fast the manifest source reads 10,000 Services and their EndpointSlices (3 endpoints
 * each), written as kubectl prints them (managedFields left out, last-applied annotation in):
 * one file per service, one `kind: List` file, and JSON files; then how long a one-file edit
 * takes to reach a listener. Prints figures; passes or fails nothing.
 *
 *   deno run -A bench/manifest_load.ts [services]
 *
 * @module
 */

import { ManifestSource } from "../src/source/manifest.ts";
import { Logger } from "../src/log.ts";

const N = Number(Deno.args[0] ?? 10_000);

function ip(base: string, i: number): string {
  return `${base}.${(i >> 8) & 255}.${i & 255}`;
}

function service(i: number, indent: string): string {
  const ns = `ns-${i % 50}`;
  return `apiVersion: v1
kind: Service
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"svc-${i}","namespace":"${ns}"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080}],"selector":{"app":"svc-${i}"}}}
  creationTimestamp: "2025-11-03T09:12:41Z"
  labels:
    app: svc-${i}
  name: svc-${i}
  namespace: ${ns}
  resourceVersion: "${1000 + i}"
  uid: 0b6c3c8e-0000-4000-8000-${String(i).padStart(12, "0")}
spec:
  clusterIP: ${ip("10.96", i)}
  clusterIPs:
  - ${ip("10.96", i)}
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
  selector:
    app: svc-${i}
  sessionAffinity: None
  type: ClusterIP
status:
  loadBalancer: {}
`.replaceAll("\n", "\n" + indent).trimEnd();
}

function slice(i: number, indent: string): string {
  const ns = `ns-${i % 50}`;
  let eps = "";
  for (let e = 0; e < 3; e++) {
    eps += `- addresses:
  - ${ip("10.244", i * 3 + e)}
  conditions:
    ready: true
    serving: true
    terminating: false
  nodeName: node-${e}
  targetRef:
    kind: Pod
    name: svc-${i}-pod-${e}
    namespace: ${ns}
  zone: zone-a
`;
  }
  return `addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints:
${eps}kind: EndpointSlice
metadata:
  generateName: svc-${i}-
  labels:
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
    kubernetes.io/service-name: svc-${i}
  name: svc-${i}-abcde
  namespace: ${ns}
  resourceVersion: "${2000 + i}"
ports:
- name: http
  port: 8080
  protocol: TCP
`.replaceAll("\n", "\n" + indent).trimEnd();
}

async function measure(what: string, path: string, edit?: string): Promise<void> {
  const src = new ManifestSource({
    path,
    nodeName: "node-0",
    logger: new Logger({ level: "error" }),
    debounceMs: 20,
  });
  const t0 = performance.now();
  await src.start();
  const ms = performance.now() - t0;
  const s = src.snapshot();
  const size = (await Array.fromAsync(Deno.readDir(path)).catch(() => [])).length;
  console.log(
    `${what.padEnd(34)} start ${ms.toFixed(0).padStart(5)} ms  ` +
      `(${s.services.size} services, ${s.endpointSlices.size} slices${
        size ? `, ${size} files` : ""
      })`,
  );
  if (edit) {
    const changed = new Promise<number>((resolve) => src.onChange((c) => resolve(c.seenAt)));
    const text = await Deno.readTextFile(edit);
    const t1 = Date.now();
    await Deno.writeTextFile(
      edit,
      text.replace("port: 8080\n  protocol", "port: 8081\n  protocol"),
    );
    await changed;
    console.log(
      `${"  one-file edit to listener".padEnd(34)} ${
        String(Date.now() - t1).padStart(5)
      } ms  (debounce 20 ms included)`,
    );
  }
  await src.stop();
}

const root = await Deno.makeTempDir({ prefix: "kipvs-bench-" });
try {
  const perFile = `${root}/per-file`;
  await Deno.mkdir(perFile);
  for (let i = 0; i < N; i++) {
    await Deno.writeTextFile(
      `${perFile}/svc-${i}.yaml`,
      `${service(i, "")}\n---\n${slice(i, "")}\n`,
    );
  }
  const list = `${root}/list.yaml`;
  const items: string[] = [];
  for (let i = 0; i < N; i++) items.push(`- ${service(i, "  ")}`, `- ${slice(i, "  ")}`);
  await Deno.writeTextFile(
    list,
    `apiVersion: v1\nitems:\n${items.join("\n")}\nkind: List\nmetadata:\n  resourceVersion: ""\n`,
  );
  const json = `${root}/json`;
  await Deno.mkdir(json);
  const { parseManifest } = await import("../src/source/_manifest_parse.ts");
  for (let i = 0; i < N; i++) {
    const docs = parseManifest(`${service(i, "")}\n---\n${slice(i, "")}\n`, "x.yaml").items.map((
      x,
    ) => x.raw);
    await Deno.writeTextFile(
      `${json}/svc-${i}.json`,
      JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }),
    );
  }
  const mb = (await Deno.stat(list)).size / 1e6;
  console.log(`${N} services + ${N} slices; the List file is ${mb.toFixed(1)} MB`);
  await measure("directory, one YAML file each", perFile, `${perFile}/svc-7.yaml`);
  await measure("one kubectl List file", list);
  await measure("directory, one JSON file each", json);
} finally {
  await Deno.remove(root, { recursive: true });
}
