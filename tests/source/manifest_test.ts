import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ManifestSource } from "../../src/source/manifest.ts";
import { parseManifest } from "../../src/source/_manifest_parse.ts";
import { Logger } from "../../src/log.ts";
import { describeError, KipvsError } from "../../src/errors.ts";

const DATA = fileURLToPath(new URL("../testdata/manifests/", import.meta.url)).replace(/\/$/, "");

function source(path: string, nodeName = "kipvs-node") {
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => lines.push(l) });
  return { src: new ManifestSource({ path, nodeName, logger }), lines };
}

Deno.test("ManifestSource reads what `kubectl get svc,endpointslices -A -o yaml` prints", async () => {
  const { src, lines } = source(`${DATA}/kubectl-get-svc-endpointslices.yaml`);
  await src.start();
  try {
    const s = src.snapshot();
    assert.deepEqual([...s.services.keys()].sort(), [
      "default/kubernetes",
      "kube-system/kube-dns",
      "shop/web",
    ]);
    assert.deepEqual([...s.endpointSlices.keys()].sort(), [
      "default/kubernetes",
      "kube-system/kube-dns-n5v4q",
      "shop/web-ipv4-x2b7c",
      "shop/web-ipv6-8pq4m",
    ]);
    const web = s.services.get("shop/web")!;
    assert.deepEqual(web.spec.clusterIPs, ["10.96.120.7", "fd00:10:96::7a07"]);
    assert.equal(web.spec.externalTrafficPolicy, "Local");
    assert.equal(web.spec.healthCheckNodePort, 31877);
    assert.deepEqual(web.metadata.annotations, {}); // last-applied-configuration dropped
    assert.deepEqual(web.status.loadBalancer.ingress.map((i) => i.ip), [
      "203.0.113.40",
      "2001:db8:40::1",
    ]);
    const dns = s.endpointSlices.get("kube-system/kube-dns-n5v4q")!;
    assert.deepEqual(dns.endpoints.map((e) => e.conditions), [
      { ready: true, serving: true, terminating: false },
      { ready: false, serving: false, terminating: true },
    ]);
    assert.deepEqual(s.endpointSlices.get("shop/web-ipv4-x2b7c")?.endpoints[0]?.hints, {
      forZones: ["eu-west-1a"],
      forNodes: [],
    });
    assert.equal(s.node, undefined);
    assert.ok(lines.some((l) => /DEBUG.*ignoring EndpointSlice shop\/external-db-1.*FQDN/.test(l)));
    assert.ok(!lines.some((l) => / WARN /.test(l)), lines.join("\n"));
    const h = src.health();
    assert.equal(h.synced, true);
    assert.equal(h.error, undefined);
    assert.ok(Date.now() - h.lastContact < 10_000);
  } finally {
    await src.stop();
  }
});

Deno.test("parseManifest() reads kubectl's output on the fast path and typed lists from JSON", async () => {
  const kubectl = parseManifest(
    await Deno.readTextFile(`${DATA}/kubectl-get-svc-endpointslices.yaml`),
    "x.yaml",
  );
  assert.equal(kubectl.with, "yaml");
  assert.equal(kubectl.items.length, 8);
  assert.equal(kubectl.items[3]?.where, "items[3]");
  const list = parseManifest(await Deno.readTextFile(`${DATA}/api-servicelist.json`), "l.json");
  assert.equal(list.with, "json");
  assert.deepEqual(list.items.map((i) => [i.kind, i.apiVersion]), [
    ["Service", "v1"],
    ["Service", "v1"],
  ]);
});

Deno.test("parseManifest() falls back to npm:yaml outside the fast subset", () => {
  const r = parseManifest("a: &x {b: 1}\nc: *x\n---\n- kind: x\n", "f.yaml");
  assert.equal(r.with, "yaml");
  assert.deepEqual(r.items.map((i) => [i.raw, i.where]), [
    [{ a: { b: 1 }, c: { b: 1 } }, "document 1"],
    [[{ kind: "x" }], "document 2"],
  ]);
  assert.equal(parseManifest('{"kind": "Service"}', "flow.yaml").with, "json");
  assert.deepEqual(parseManifest('\ufeff{"kind": "Service"}', "bom.json").items[0]?.raw, {
    kind: "Service",
  });
  assert.equal(parseManifest("{kind: Service}", "flow.yaml").with, "yaml");
});

Deno.test("parseManifest() names the file and the YAML or JSON error", () => {
  assert.throws(
    () => parseManifest("a: [unclosed\n", "/m/bad.yaml"),
    (e: unknown) =>
      e instanceof KipvsError && e.code === "invalid-config" &&
      /^cannot parse \/m\/bad\.yaml: .* at line \d+, column \d+$/.test(e.message),
  );
  assert.throws(
    () => parseManifest('{"a": ', "/m/bad.json"),
    (e: unknown) => e instanceof KipvsError && /^cannot parse \/m\/bad\.json: /.test(e.message),
  );
});

Deno.test("ManifestSource gives typed list items their kind (the API's ServiceList)", async () => {
  const { src } = source(`${DATA}/api-servicelist.json`);
  await src.start();
  try {
    const sticky = src.snapshot().services.get("shop/sticky")!;
    assert.equal(sticky.spec.type, "NodePort");
    assert.equal(sticky.spec.sessionAffinityTimeoutSeconds, 600);
    assert.equal(sticky.spec.ports[0]?.nodePort, 31900);
  } finally {
    await src.stop();
  }
});

Deno.test("ManifestSource reads a directory recursively, skipping bad objects and files", async () => {
  const { src, lines } = source(`${DATA}/dir`);
  await src.start();
  try {
    const s = src.snapshot();
    // web.yaml (default namespace), bad-port.yaml's good half, sub/deeper/dns.json; not
    // .hidden.yaml, notes.txt, the invalid "broken" or the unparsable "never".
    assert.deepEqual([...s.services.keys()].sort(), ["default/web", "kube-system/dns", "prod/api"]);
    assert.equal(s.services.get("kube-system/dns")?.spec.clusterIP, "fd00:10:96::a");
    assert.deepEqual([...s.endpointSlices.keys()], ["default/web-1"]);
    assert.equal(s.node?.metadata.name, "kipvs-node");
    assert.deepEqual(s.node?.spec.podCIDRs, ["10.244.1.0/24", "fd00:10:244:1::/64"]);
    const warns = lines.filter((l) => / WARN /.test(l));
    assert.ok(
      warns.some((l) =>
        l.includes(
          `invalid Service prod/broken (file ${DATA}/dir/bad-port.yaml, document 2): ` +
            "spec.ports[0].port: 70000 out of range 1-65535",
        )
      ),
      warns.join("\n"),
    );
    assert.ok(
      warns.some((l) => l.includes(`cannot parse ${DATA}/dir/syntax-error.yaml: `)),
      warns.join("\n"),
    );
    assert.equal(warns.length, 2, warns.join("\n"));
    assert.ok(lines.some((l) => /DEBUG.*ignoring ConfigMap default\/settings/.test(l)));
    assert.ok(lines.some((l) => /DEBUG.*ignoring Node other-node.*not this node/.test(l)));
    assert.match(src.health().error ?? "", /syntax-error\.yaml/);
    assert.equal(src.health().synced, true);
  } finally {
    await src.stop();
  }
});

Deno.test("ManifestSource.start() rejects with an io error naming a missing path", async () => {
  const { src } = source("/nonexistent/kipvs-manifests");
  await assert.rejects(
    () => src.start(),
    (e: unknown) =>
      e instanceof KipvsError && e.code === "io" &&
      e.message === "cannot read manifests at /nonexistent/kipvs-manifests" &&
      /^cannot read manifests at \/nonexistent\/kipvs-manifests: No such file/.test(
        describeError(e),
      ),
  );
});
