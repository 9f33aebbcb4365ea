// `kubectl apply --dry-run=client` of deploy/ against the test API server, when kubectl is
// installed: kubectl parses the files and maps every kind through the server's discovery, as it
// would against a real cluster. The test server has no OpenAPI documents, so kubectl's schema
// validation is off (--validate=false); manifests_test.ts checks the structure instead.
import assert from "node:assert/strict";
import { TestApiServer } from "../support/apiserver.ts";
import { ROOT } from "./_deploy.ts";

function kubectlPath(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/kubectl`).isFile) return `${dir}/kubectl`;
    } catch {
      // not here
    }
  }
  return undefined;
}

const kubectl = kubectlPath();

async function run(args: string[], kubeconfig: string) {
  const out = await new Deno.Command(kubectl!, {
    args,
    env: { KUBECONFIG: kubeconfig },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "kubectl apply --dry-run=client accepts deploy/ against the test API server",
  ignore: kubectl === undefined,
  fn: async () => {
    const s = await TestApiServer.start();
    const dir = await Deno.makeTempDir({ prefix: "kipvs-kubectl-" });
    try {
      const kc = `${dir}/kubeconfig`;
      await Deno.writeTextFile(
        kc,
        `apiVersion: v1
kind: Config
current-context: t
clusters: [{ name: t, cluster: { server: "${s.url}" } }]
users: [{ name: t, user: {} }]
contexts: [{ name: t, context: { cluster: t, user: t } }]
`,
      );
      const r = await run(
        ["apply", "--dry-run=client", "--validate=false", "-f", `${ROOT}/deploy/`, "-o", "name"],
        kc,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), [
        "clusterrole.rbac.authorization.k8s.io/kipvs",
        "clusterrolebinding.rbac.authorization.k8s.io/kipvs",
        "configmap/kipvs",
        "daemonset.apps/kipvs",
        "serviceaccount/kipvs",
      ]);
      // A kind the cluster does not serve is refused: the dry run is a real check.
      await Deno.writeTextFile(
        `${dir}/bad.yaml`,
        "apiVersion: apps/v1\nkind: DaemonSett\n" +
          "metadata: { name: x, namespace: kube-system }\n",
      );
      const bad = await run(
        ["apply", "--dry-run=client", "--validate=false", "-f", `${dir}/bad.yaml`],
        kc,
      );
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /no matches for kind "DaemonSett"/);
    } finally {
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
