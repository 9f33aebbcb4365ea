import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TestApiServer } from "../../support/apiserver.ts";
import { testPki } from "../../support/certs.ts";
import { rawNode, rawService, rawSlice } from "../../support/kube_objects.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The flags of scripts/permissions, which `deno task kipvs` and the compiled binary use. */
async function permissions(): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}/scripts/permissions`);
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

Deno.test("the Kubernetes source lists over mTLS, a token file and insecure-skip-tls-verify with kipvs's exact permissions", async () => {
  const pki = await testPki();
  const s = await TestApiServer.start({
    tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert },
    clientCerts: true,
    tokens: { "tok-123": "system:serviceaccount:kube-system:kipvs" },
  });
  const dir = await Deno.makeTempDir({ prefix: "kipvs-kc-" });
  try {
    s.apply("services", rawService("default", "web"));
    s.apply("endpointslices", rawSlice("default", "web-1", { service: "web" }));
    s.apply("nodes", rawNode("node-1"));
    await Deno.writeTextFile(`${dir}/token`, "tok-123\n");
    const kubeconfig = (cluster: string, user: string) => `
apiVersion: v1
kind: Config
current-context: c
clusters: [{ name: k, cluster: { server: "${s.url}", ${cluster} } }]
users: [{ name: u, user: { ${user} } }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
`;
    await Deno.writeTextFile(
      `${dir}/mtls`,
      kubeconfig(
        `certificate-authority: ${pki.files.caCert}`,
        `client-certificate: ${pki.files.clientCert}, client-key: ${pki.files.clientKey}`,
      ),
    );
    await Deno.writeTextFile(
      `${dir}/token-file`,
      kubeconfig(`certificate-authority-data: ${btoa(pki.caCert)}`, "tokenFile: token"),
    );
    await Deno.writeTextFile(
      `${dir}/insecure`,
      kubeconfig("insecure-skip-tls-verify: true", "token: tok-123"),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--cached-only",
        ...await permissions(),
        `${ROOT}/tests/source/kube/_list_under_permissions.ts`,
        `${dir}/mtls`,
        `${dir}/token-file`,
        `${dir}/insecure`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // A source that cannot list retries forever: bound the child so that the test fails instead.
    const killer = setTimeout(() => child.kill(), 15_000);
    const out = await child.output();
    clearTimeout(killer);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
    const want = { services: ["default/web"], endpointSlices: ["default/web-1"], node: "node-1" };
    assert.deepEqual(lines, [want, want, want], stderr);
    const users = new Set(s.requestsOf("list").map((r) => r.user));
    assert.deepEqual([...users].sort(), [
      "system:kube-proxy",
      "system:serviceaccount:kube-system:kipvs",
    ]);
  } finally {
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});
