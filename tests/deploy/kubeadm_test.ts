// Replacing kube-proxy on kubeadm (README.md, "In a cluster"): kube-proxy's ConfigMap as
// kubeadm writes it, copied under the name kipvs, must work unchanged where the DaemonSet mounts
// it: kipvs reads its config.conf (kubeadm's zero values mean kube-proxy's defaults) and, through
// clientConnection.kubeconfig, its kubeconfig.conf with the pod's service account.
import assert from "node:assert/strict";
import { load } from "js-yaml";
import { parseConfigFile } from "../../src/config/configfile.ts";
import { resolveProxyConfig } from "../../src/cli/runflags.ts";
import { loadKubeconfig } from "../../src/source/kube/kubeconfig.ts";
import { type Json, manifests, one, ROOT } from "./_deploy.ts";

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

Deno.test("kubeadm's kube-proxy ConfigMap is read unchanged, with kube-proxy's defaults for its zero values", async () => {
  const cm = load(
    await Deno.readTextFile(`${ROOT}/tests/deploy/testdata/kubeadm-kube-proxy.yaml`),
  ) as Json;
  const file = parseConfigFile(cm.data["config.conf"], "config.conf");
  const config = resolveProxyConfig({}, () => "default", file, "node-1");
  assert.equal(config.syncPeriodMs, 30_000, 'ipvs.syncPeriod "0s" is the default, 30 s');
  assert.equal(config.scheduler, "rr", 'ipvs.scheduler "" is the default');
  assert.equal(config.healthzBindAddress, "0.0.0.0:10256");
  assert.equal(config.metricsBindAddress, "127.0.0.1:10249");
  assert.deepEqual(config.clusterCIDRs, ["10.244.0.0/16"]);
  assert.equal(config.masqueradeBit, 14, "masqueradeBit null is the default");

  // Mounted where the DaemonSet mounts its ConfigMap, the kubeconfig path of kubeadm resolves.
  const ds = one(await manifests(), "DaemonSet");
  const c = ds.spec.template.spec.containers[0];
  const mount = c.volumeMounts.find((m: Json) => m.name === "config").mountPath;
  assert.equal(file.kubeconfig, `${mount}/kubeconfig.conf`);
  assert.ok(c.command.includes(`--config=${mount}/config.conf`));
  const files: Record<string, string> = {
    [file.kubeconfig!]: cm.data["kubeconfig.conf"],
    [`${SA_DIR}/ca.crt`]: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    [`${SA_DIR}/token`]: "t\n",
  };
  const conn = await loadKubeconfig({
    paths: [file.kubeconfig!],
    readTextFile: (p) => p in files ? Promise.resolve(files[p]!) : Promise.reject(new Error(p)),
  });
  assert.equal(conn.server, "https://k8s-api.example:6443");
  assert.equal(conn.credentials.kind, "bearer");
});
