// deploy/ checked as data, without a cluster: kinds, apiVersions and required fields; the
// DaemonSet's flags, files, mounts, probes and privileges against what kipvs really reads, serves
// and runs; the ConfigMap's files through kipvs's own parsers; RBAC against the client's calls.
import assert from "node:assert/strict";
import { runCli } from "../../src/cli/program.ts";
import { parseBindAddress } from "../../src/observe/http.ts";
import { DEFAULT_CONFIG } from "../../src/config/config.ts";
import { parseConfigFile } from "../../src/config/configfile.ts";
import { loadKubeconfig } from "../../src/source/kube/kubeconfig.ts";
import {
  ENDPOINT_SLICES,
  NODES,
  type ResourceType,
  SERVICES,
} from "../../src/source/kube/resources.ts";
import { allowList, type Json, manifests, one, permissionFlags } from "./_deploy.ts";

/** The collections the Kubernetes source follows, and the verbs of KubeClient (list, watch). */
const READ: ResourceType[] = [SERVICES, ENDPOINT_SLICES, NODES];
const CLIENT_VERBS = ["list", "watch"];
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

const daemonSet = async () => one(await manifests(), "DaemonSet");
const container = (ds: Json, name: string) =>
  ds.spec.template.spec.containers.find((c: Json) => c.name === name) ??
    ds.spec.template.spec.initContainers?.find((c: Json) => c.name === name);
const mountOf = (c: Json, volume: string) => c.volumeMounts?.find((m: Json) => m.name === volume);

Deno.test("deploy/ holds exactly the kinds kipvs needs, each with its apiVersion, name and scope", async () => {
  const all = await manifests();
  assert.deepEqual(all.map((m) => `${m.doc.apiVersion} ${m.doc.kind}`).sort(), [
    "apps/v1 DaemonSet",
    "rbac.authorization.k8s.io/v1 ClusterRole",
    "rbac.authorization.k8s.io/v1 ClusterRoleBinding",
    "v1 ConfigMap",
    "v1 ServiceAccount",
  ]);
  for (const { file, doc } of all) {
    assert.equal(doc.metadata?.name, "kipvs", `${file}: ${doc.kind} metadata.name`);
    const clusterScoped = doc.kind.startsWith("Cluster");
    assert.equal(doc.metadata.namespace, clusterScoped ? undefined : "kube-system", `${doc.kind}`);
  }
});

Deno.test("the DaemonSet selects its own pods and runs them on every Linux node as kube-proxy does", async () => {
  const ds = await daemonSet();
  const pod = ds.spec.template.spec;
  assert.deepEqual(ds.spec.selector.matchLabels, { "k8s-app": "kipvs" });
  for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) {
    assert.equal(ds.spec.template.metadata.labels[k], v, `template label ${k}`);
  }
  assert.equal(pod.serviceAccountName, one(await manifests(), "ServiceAccount").metadata.name);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, "Default", "cluster DNS is a Service: it needs a working proxy");
  assert.equal(pod.priorityClassName, "system-node-critical");
  assert.deepEqual(pod.tolerations, [{ operator: "Exists" }]);
  assert.deepEqual(pod.nodeSelector, { "kubernetes.io/os": "linux" });
  assert.deepEqual(pod.containers.map((c: Json) => c.name), ["kipvs"]);
  const images = new Set([...pod.containers, ...pod.initContainers].map((c: Json) => c.image));
  assert.equal(images.size, 1, "the init container runs the same binary");
});

Deno.test("the DaemonSet's command uses only flags of kipvs run, and every variable it names is set", async () => {
  const ds = await daemonSet();
  const c = container(ds, "kipvs");
  assert.deepEqual(c.command.slice(0, 2), ["/usr/local/bin/kipvs", "run"]);
  let help = "";
  const code = await runCli(["run", "--help"], { stdout: (s) => help += s, stderr: () => {} });
  assert.equal(code, 0);
  for (const arg of c.command.slice(2)) {
    const flag = String(arg).split("=")[0]!;
    assert.ok(new RegExp(`^\\s+${flag}\\b`, "m").test(help), `kipvs run has no ${flag}`);
    for (const [, v] of String(arg).matchAll(/\$\((\w+)\)/g)) {
      assert.ok(c.env.some((e: Json) => e.name === v), `$(${v}) is not in env`);
    }
  }
  assert.ok(c.command.includes("--skip-sysctl"), "the init container applies the sysctls");
  const init = container(ds, "sysctl");
  assert.deepEqual(init.command, ["/usr/local/bin/kipvs", "sysctl", "--apply"]);
  assert.equal(
    c.env.find((e: Json) => e.name === "NODE_NAME").valueFrom.fieldRef.fieldPath,
    "spec.nodeName",
  );
});

Deno.test("the ConfigMap's config.conf and kubeconfig.conf are read by kipvs where the DaemonSet mounts them", async () => {
  const all = await manifests();
  const ds = one(all, "DaemonSet");
  const cm = one(all, "ConfigMap");
  const c = container(ds, "kipvs");
  const volume = ds.spec.template.spec.volumes.find((v: Json) => v.configMap?.name === "kipvs");
  const mount = mountOf(c, volume.name);
  assert.equal(mount.readOnly, true);
  const configPath = c.command.find((a: string) => a.startsWith("--config=")).slice(9);
  const fileOf = (path: string) => {
    assert.ok(path.startsWith(mount.mountPath + "/"), `${path} is outside ${mount.mountPath}`);
    const key = path.slice(mount.mountPath.length + 1);
    assert.ok(typeof cm.data[key] === "string", `the ConfigMap has no key ${key}`);
    return cm.data[key] as string;
  };
  const file = parseConfigFile(fileOf(configPath), configPath);
  assert.ok(file.kubeconfig, "config.conf names its kubeconfig (clientConnection.kubeconfig)");
  const kubeconfig = fileOf(file.kubeconfig!);
  const files: Record<string, string> = {
    [file.kubeconfig!]: kubeconfig,
    [`${SA_DIR}/ca.crt`]: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    [`${SA_DIR}/token`]: "a-token\n",
  };
  const conn = await loadKubeconfig({
    paths: [file.kubeconfig!],
    readTextFile: (p) => p in files ? Promise.resolve(files[p]!) : Promise.reject(new Error(p)),
  });
  assert.equal(conn.credentials.kind, "bearer", "the pod's service account token");
  assert.equal(conn.caCerts.length, 1, "the service account's CA");
  assert.doesNotMatch(conn.server, /^https:\/\/10\.96\.0\.1\b/, "not the kubernetes Service");
  assert.equal(
    file.config.healthzBindAddress ?? DEFAULT_CONFIG.healthzBindAddress,
    "0.0.0.0:10256",
  );
});

Deno.test("the probes and the healthz port are kipvs's healthz server: /livez for liveness, /healthz for readiness", async () => {
  const ds = await daemonSet();
  const c = container(ds, "kipvs");
  const port = parseBindAddress(DEFAULT_CONFIG.healthzBindAddress, "--healthz-bind-address").port;
  assert.equal(port, 10256);
  assert.equal(c.livenessProbe.httpGet.path, "/livez");
  assert.equal(c.readinessProbe.httpGet.path, "/healthz");
  for (const p of [c.livenessProbe, c.readinessProbe]) {
    assert.equal(p.httpGet.port, port);
    assert.equal(p.httpGet.host, "127.0.0.1", "the pod shares the node's network");
  }
  assert.deepEqual(c.ports, [{
    name: "healthz",
    containerPort: port,
    hostPort: port,
    protocol: "TCP",
  }]);
});

Deno.test("the DaemonSet mounts /lib/modules read-only and the host's /run/xtables.lock", async () => {
  const ds = await daemonSet();
  const volumes = new Map(ds.spec.template.spec.volumes.map((v: Json) => [v.name, v]));
  const c = container(ds, "kipvs");
  const lock = mountOf(c, "xtables-lock");
  assert.equal(lock.mountPath, "/run/xtables.lock");
  assert.notEqual(lock.readOnly, true, "iptables takes the lock: it must be writable");
  assert.deepEqual((volumes.get("xtables-lock") as Json).hostPath, {
    path: "/run/xtables.lock",
    type: "FileOrCreate",
  });
  for (const name of ["kipvs", "sysctl"]) {
    const m = mountOf(container(ds, name), "lib-modules");
    assert.deepEqual({ path: m.mountPath, ro: m.readOnly }, { path: "/lib/modules", ro: true });
  }
  assert.equal((volumes.get("lib-modules") as Json).hostPath.path, "/lib/modules");
});

Deno.test("the proxy container has NET_ADMIN and NET_RAW only; privileges go to the init container that writes sysctls", async () => {
  const ds = await daemonSet();
  const sc = container(ds, "kipvs").securityContext;
  assert.deepEqual(sc.capabilities, { drop: ["ALL"], add: ["NET_ADMIN", "NET_RAW"] });
  assert.notEqual(sc.privileged, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.runAsUser, 0, "kipvs run refuses to run as anyone but root");
  assert.equal(sc.seccompProfile.type, "RuntimeDefault");
  // kipvs has no write permission at all (scripts/permissions): a read-only root is no loss.
  const flags = await permissionFlags();
  assert.ok(!flags.some((f) => f.startsWith("--allow-write")), "scripts/permissions allows writes");
  assert.equal(sc.readOnlyRootFilesystem, true);
  // What needs more than NET_ADMIN/NET_RAW is what --skip-sysctl leaves to the init container:
  // writing /proc/sys (sysctl) and loading modules (modprobe). pgrep needs no capability.
  const proxyPrograms = allowList(flags, "allow-run").filter((p) =>
    p !== "sysctl" && p !== "modprobe"
  );
  assert.deepEqual(
    proxyPrograms.filter((p) =>
      !/^(ipset|conntrack|pgrep|nft|ip6?tables-(legacy|nft)-(save|restore))$/.test(p)
    ),
    [],
  );
  assert.equal(container(ds, "sysctl").securityContext.privileged, true);
});

Deno.test("the ClusterRole grants exactly list and watch of what the Kubernetes source reads, bound to kipvs's ServiceAccount", async () => {
  const all = await manifests();
  const granted = one(all, "ClusterRole").rules.flatMap((r: Json) =>
    r.apiGroups.flatMap((g: string) =>
      r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${g}/${res}:${v}`))
    )
  ).sort();
  const used = READ.flatMap((r) => CLIENT_VERBS.map((v) => `${r.group}/${r.plural}:${v}`)).sort();
  assert.deepEqual(granted, used);
  assert.ok(
    one(all, "ClusterRole").rules.every((r: Json) => !r.resourceNames && !r.nonResourceURLs),
  );
  const binding = one(all, "ClusterRoleBinding");
  const sa = one(all, "ServiceAccount");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: one(all, "ClusterRole").metadata.name,
  });
  assert.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace },
  ]);
});
