import assert from "node:assert/strict";
import { ManifestSource } from "../../src/source/manifest.ts";
import { Logger } from "../../src/log.ts";

const SVC = (name: string, ip: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\n` +
  `spec: {clusterIP: ${ip}, ports: [{name: http, port: 80}]}\n`;
const SLICE = (name: string, svc: string, type = "IPv4") =>
  `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n` +
  `metadata: {name: ${name}, namespace: default, labels: {kubernetes.io/service-name: ${svc}}}\n` +
  `addressType: ${type}\nports: [{name: http, port: 8080}]\n` +
  `endpoints: [{addresses: [${type === "FQDN" ? "db.example.com" : "10.244.1.2"}]}]\n`;

Deno.test("ManifestSource says once per file and reason what it ignores, and counts it", async () => {
  const dir = await Deno.makeTempDir();
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({
    level: "debug",
    format: "json",
    sink: (l) => lines.push(JSON.parse(l)),
  });
  const src = new ManifestSource({
    path: dir,
    nodeName: "n",
    logger,
    watch: false,
    rescanMs: 50,
    debounceMs: 10,
  });
  /** Waits for the next "manifests changed" line after line `from`. */
  const changedAfter = async (from: number) => {
    for (let i = 0; i < 400; i++) {
      const l = lines.slice(from).find((l) => l.msg === "manifests changed");
      if (l) return l;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.fail("no manifests changed line");
  };
  try {
    const typo = SVC("a", "10.96.0.1").replace("kind: Service", "kind: Servise");
    await Deno.writeTextFile(
      `${dir}/typo.yaml`,
      `${typo}---\n${typo.replace("name: a", "name: b")}`,
    );
    await Deno.writeTextFile(`${dir}/v2.yaml`, SVC("c", "10.96.0.3").replace("v1", "v2"));
    await Deno.writeTextFile(`${dir}/list.yaml`, "apiVersion: v1\nkind: List\nitems: {a: 1}\n");
    await Deno.writeTextFile(
      `${dir}/orphan.yaml`,
      SLICE("web-1", "web") + "---\n" + SLICE("db-1", "db", "FQDN"),
    );
    await Deno.writeTextFile(`${dir}/ok.yaml`, SVC("d", "10.96.0.4"));
    await src.start();
    const infos = lines.filter((l) => l.msg === "manifest input ignored").map((l) => [
      String(l.file).replace(`${dir}/`, ""),
      l.reason,
      l.objects,
    ]);
    assert.deepEqual(infos.sort(), [
      ["list.yaml", "malformed List: it has items that are not a list", 1],
      ["orphan.yaml", "EndpointSlice of a Service no file defines", 1],
      ["typo.yaml", "kind Servise is not read by kipvs", 2],
      ["v2.yaml", "Service of apiVersion v2 is not read by kipvs (it reads v1)", 1],
    ]);
    const typoLine = lines.find((l) => l.reason === "kind Servise is not read by kipvs")!;
    assert.equal(typoLine.level, "info");
    assert.match(String(typoLine.examples), /^Servise default\/a .*; Servise default\/b /);
    const read = lines.find((l) => l.msg === "read manifests")!;
    assert.deepEqual([read.services, read.endpointSlices, read.ignored], [1, 1, 5]);
    // Each object also at debug level; the FQDN slice only there.
    const debug = lines.filter((l) => l.level === "debug").map((l) => String(l.msg));
    assert.ok(debug.some((m) => /ignoring Servise default\/b/.test(m)), debug.join("\n"));
    assert.ok(debug.some((m) => /ignoring EndpointSlice default\/db-1.*FQDN/.test(m)));

    // A reread saying the same says nothing; the Service defined ends the orphan; the reason
    // gone and back is said again.
    const before = lines.length;
    const typoText = await Deno.readTextFile(`${dir}/typo.yaml`);
    await Deno.writeTextFile(`${dir}/typo.yaml`, typoText + "# touched\n");
    await Deno.writeTextFile(`${dir}/web.yaml`, SVC("web", "10.96.0.9"));
    const changed = await changedAfter(before);
    assert.deepEqual(lines.slice(before).filter((l) => l.msg === "manifest input ignored"), []);
    assert.equal(changed.ignored, 4);
    const mid = lines.length;
    await Deno.remove(`${dir}/web.yaml`);
    await changedAfter(mid);
    const again = lines.slice(before).filter((l) => l.msg === "manifest input ignored");
    assert.deepEqual(again.map((l) => l.reason), ["EndpointSlice of a Service no file defines"]);
  } finally {
    await src.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
