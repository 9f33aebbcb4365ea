// Runs inside the test guest (see tests/kernel/cluster_test.ts), as root, after the pods were
// made: pod-a 10.244.1.2, pod-b 10.244.1.3 and pod-c 10.244.1.4, each serving TCP 8080 and 9090.
//
// `kipvs run --kubeconfig` (the daemon) against the test API server over TLS, both real
// processes, as deploy/ runs it: the kubeconfig.conf of deploy/configmap.yaml (the pod's
// service-account token and CA), the RBAC of deploy/rbac.yaml enforced by the API server, the
// DaemonSet's init command first, as root, then kipvs with --skip-sysctl, only the container's
// capabilities, no_new_privs and a read-only root file system. kipvs started before the API
// server serves healthz and programs nothing until it has listed; traffic is balanced; a Service
// and an EndpointSlice written through the API server reach the kernel; a tainted Node turns
// /healthz to 503; with the API server killed the dataplane stays exactly as it was through
// periodic full resyncs, traffic flows and /healthz says how stale the view is; a change made
// while kipvs was cut off is picked up once the API server is back.
import assert from "node:assert/strict";
import { load } from "js-yaml";
import { testPki } from "../../support/certs.ts";
import {
  Api,
  type DataplaneDump,
  dumpDataplane,
  eventually,
  healthz,
  traffic,
} from "./_cluster.ts";
import { node, service, SERVICES, slice, SLICES } from "./_objects.ts";
import {
  CAPABILITY_BITS,
  fromDaemonSet,
  type Proc,
  processRights,
  startApiServer,
  startKipvs,
} from "./_proc.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const DIR = "/run/kipvs/cluster";
/** Where the kubelet mounts a pod's service account (the guest's own /run). */
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const ROOT = new URL("../../..", import.meta.url).pathname;
const PORT = 6443;
const SYNC_PERIOD_S = 3;

/** The real servers of TCP ip:80 in `ipvsadm -Sn` lines with their weights ("10.244.1.2:8080 w1"). */
function realServers(d: DataplaneDump, ip: string): string[] {
  const prefix = `-a -t ${ip}:80 -r `;
  return d.ipvs.filter((l) => l.startsWith(prefix)).map((l) => {
    const [addr] = l.slice(prefix.length).split(" ");
    return `${addr} w${/ -w (\d+)/.exec(l)?.[1]}`;
  }).sort();
}

/** Waits until TCP ip:80 has exactly `want` as real servers; returns the ms it took. */
async function programmed(ip: string, want: string[], timeoutMs = 30_000): Promise<number> {
  const t0 = performance.now();
  const sorted = JSON.stringify([...want].sort());
  let last = "";
  await eventually(`${ip}:80 -> ${sorted}`, async () => {
    last = JSON.stringify(realServers(await dumpDataplane(), ip));
    return last === sorted ? true : undefined;
  }, timeoutMs).catch((err) => {
    throw new Error(`${err.message}; the kernel has ${last}`, { cause: err.cause });
  });
  return Math.round(performance.now() - t0);
}

/** Log lines of kipvs from index `from` whose msg is `msg` (kipvs logs JSON lines here). */
function logged(kipvs: Proc, msg: string, from = 0): Record<string, unknown>[] {
  return kipvs.lines.slice(from).flatMap((l) => {
    try {
      const j = JSON.parse(l);
      return j.msg === msg ? [j] : [];
    } catch {
      return [];
    }
  });
}

function figure(name: string, value: number | string, unit = "ms"): void {
  console.log(`figure: ${name}: ${value}${unit ? " " + unit : ""}`);
}

Deno.test("kipvs run --kubeconfig follows the API server, and keeps the dataplane while it is gone", async () => {
  await Deno.mkdir(`${DIR}/pki`, { recursive: true });
  // The PKI apiserver_main.ts keeps in --pki-dir, made first so that kipvs can start before the
  // API server exists.
  const pki = await testPki();
  for (
    const [k, f] of Object.entries({ caCert: "ca", clientCert: "client", serverCert: "server" })
  ) {
    await Deno.copyFile(pki.files[k as "caCert"], `${DIR}/pki/${f}.crt`);
  }
  await Deno.copyFile(pki.files.clientKey, `${DIR}/pki/client.key`);
  await Deno.copyFile(pki.files.serverKey, `${DIR}/pki/server.key`);
  const url = `https://127.0.0.1:${PORT}`;
  // deploy/configmap.yaml's kubeconfig.conf, pointed at the test API server, and the files the
  // kubelet would mount from kipvs's service account.
  const configMap = load(await Deno.readTextFile(`${ROOT}/deploy/configmap.yaml`)) as Json;
  const kubeconfig = String(configMap.data["kubeconfig.conf"]);
  assert.match(kubeconfig, /^\s+server: \S+$/m);
  await Deno.writeTextFile(
    `${DIR}/kubeconfig.conf`,
    kubeconfig.replace(/^(\s+server: )\S+$/m, `$1${url}`),
  );
  const token = crypto.randomUUID();
  await Deno.mkdir(SA_DIR, { recursive: true });
  await Deno.copyFile(pki.files.caCert, `${SA_DIR}/ca.crt`);
  await Deno.writeTextFile(`${SA_DIR}/token`, token + "\n");
  const apiserverOptions = {
    dir: DIR,
    port: PORT,
    token: `${token}=system:serviceaccount:kube-system:kipvs`,
    rbac: `${ROOT}/deploy/rbac.yaml`,
  };
  await Deno.writeTextFile(
    `${DIR}/objects.json`,
    JSON.stringify([
      node(),
      service("web", "10.96.0.10", 8080),
      slice("web-1", "web", 8080, ["pod-a", "pod-b"]),
      // The slice of a service that does not exist yet: nothing to program until it does.
      slice("api-1", "api", 9090, ["pod-c"]),
    ]),
  );

  console.log("== the DaemonSet's init container, then kipvs with the proxy container's rights");
  const ds = await fromDaemonSet();
  assert.deepEqual(ds.run, ["run", "--skip-sysctl"]);
  const init = await startKipvs(ds.init, { log: `${DIR}/init.log` });
  assert.equal((await init.status).code, 0, init.tail(20));
  // deno-fmt-ignore
  const kipvs = await startKipvs([
    "--log-format", "json",
    ...ds.run,
    "--kubeconfig", `${DIR}/kubeconfig.conf`,
    // As the DaemonSet runs it (auto) on 6.12, where an empty node's rules go to nf_tables; the
    // 6.1 kernel has no nf_tables NAT, so there the backend is named.
    ...(Deno.env.get("KIPVS_BACKEND") === "nft" ? [] : ["--iptables-backend", "legacy"]),
    "--cluster-cidr", "10.244.0.0/16",
    "--ipvs-sync-period", `${SYNC_PERIOD_S}s`,
    // Draining real servers stay for this test: their removal is not what it checks.
    "--graceful-termination-check-period", "10m",
    "--healthz-bind-address", "127.0.0.1:10256",
    "--metrics-bind-address", "127.0.0.1:10249",
  ], { log: `${DIR}/kipvs.log`, confine: ds.confine });
  let apiserver: Proc | undefined;
  let api: Api | undefined;
  try {
    console.log("== kipvs starts before the API server can be reached");
    await kipvs.waitLine(/API request failed; retrying/, { timeoutMs: 60_000 });
    const rights = await processRights(kipvs.pid);
    const want = ds.confine.capabilities.reduce(
      (m, n) => m | 1n << BigInt(CAPABILITY_BITS[n]!),
      0n,
    );
    assert.equal(
      rights.capEff.toString(16),
      want.toString(16),
      "exactly the container's capabilities",
    );
    assert.equal(rights.noNewPrivs, true);
    console.log(`== kipvs runs with CapEff ${rights.capEff.toString(16)} and no_new_privs`);
    // Probes get answers while kipvs waits: a liveness probe must not restart it meanwhile.
    // (They are served from their own thread at once, maybe before the first list has failed:
    // every answer is 200, and one soon says why the source is not synced.)
    const early = await eventually("healthz saying why the source fails", async () => {
      const h = await healthz();
      assert.equal(h.status, 200, JSON.stringify(h.body));
      assert.equal(h.body.source?.synced, false);
      return /cannot reach the server/.test(h.body.source?.error ?? "") ? h : undefined;
    }, 10_000);
    assert.match(early.body.source?.error ?? "", /cannot reach the server/);
    assert.equal((await healthz("/livez")).status, 200);
    const before = await dumpDataplane();
    assert.deepEqual(before.ipvs, [], "nothing in IPVS before the lists are complete");
    assert.ok(!before.iptables.some((l) => l.includes("KUBE-SERVICES")), "no kube chains yet");

    console.log("== the API server comes up: kipvs lists, programs and traffic is balanced");
    const t0 = performance.now();
    apiserver = await startApiServer({ ...apiserverOptions, objects: `${DIR}/objects.json` });
    api = await Api.open(url, DIR);
    // The service account's token is what kipvs uses, and RBAC holds it to deploy/rbac.yaml.
    assert.match(
      kipvs.lines.find((l) => l.includes("using the Kubernetes API")) ?? "",
      /"auth":"bearer"/,
    );
    const asKipvs = Deno.createHttpClient({ caCerts: [pki.caCert] });
    const get = await fetch(`${url}/api/v1/nodes/kipvs-node`, {
      client: asKipvs,
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(get.status, 403, "get nodes is not granted");
    await get.body?.cancel();
    asKipvs.close();
    await programmed("10.96.0.10", ["10.244.1.2:8080 w1", "10.244.1.3:8080 w1"]);
    figure("API server started to web programmed", Math.round(performance.now() - t0));
    const balanced = await traffic("10.96.0.10", 80, 6);
    assert.deepEqual(balanced, { "pod-a": 3, "pod-b": 3 }, "round robin over pod-a and pod-b");
    const h0 = await healthz();
    assert.equal(h0.status, 200);
    assert.equal(h0.body.nodeEligible, true);
    assert.equal(h0.body.source?.synced, true);
    assert.equal(h0.body.source?.error, undefined);
    assert.ok(h0.body.source!.staleSeconds < 2, JSON.stringify(h0.body));

    console.log("== a Service created and an EndpointSlice changed through the API server");
    let t = performance.now();
    await api.post(SERVICES, service("api", "10.96.0.20", 9090));
    figure("new Service to programmed", await programmed("10.96.0.20", ["10.244.1.4:9090 w1"]));
    assert.deepEqual(await traffic("10.96.0.20", 80, 3), { "pod-c": 3 });
    t = performance.now();
    await api.put(`${SLICES}/web-1`, slice("web-1", "web", 8080, ["pod-a", "pod-c"]));
    // pod-b stays at weight 0 (draining) while the kernel holds its connections.
    await programmed("10.96.0.10", [
      "10.244.1.2:8080 w1",
      "10.244.1.3:8080 w0",
      "10.244.1.4:8080 w1",
    ]);
    figure("EndpointSlice change to programmed", Math.round(performance.now() - t));
    assert.deepEqual(await traffic("10.96.0.10", 80, 6), { "pod-a": 3, "pod-c": 3 });

    console.log("== a Node tainted for deletion fails /healthz, not /livez");
    await api.put(
      "/api/v1/nodes/kipvs-node",
      node([
        { key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" },
      ]),
    );
    const tainted = await eventually("healthz 503", async () => {
      const h = await healthz();
      return h.status === 503 ? h : undefined;
    }, 20_000);
    assert.equal(tainted.body.nodeEligible, false);
    assert.equal((await healthz("/livez")).status, 200);
    await api.put("/api/v1/nodes/kipvs-node", node());
    await eventually("healthz 200 again", async () => {
      const h = await healthz();
      return h.status === 200 && h.body.nodeEligible === true ? true : undefined;
    }, 20_000);

    console.log("== the API server is killed: the dataplane stays exactly as it was");
    const kept = await dumpDataplane();
    // The rules went to the cell's backend (on 6.12 the one auto picked for an empty node).
    assert.ok(kept.iptables.includes(":KUBE-SERVICES - [-]"), kept.iptables.join("\n"));
    const mark = kipvs.lines.length;
    const killedAt = performance.now();
    await apiserver.stop("SIGKILL");
    apiserver = undefined;
    // Two sync periods: at least one periodic full resync runs on the stale view.
    await eventually("a full resync after the API server died", () =>
      Promise.resolve(
        logged(kipvs, "synced", mark).some((l) => l.full === true) &&
          performance.now() - killedAt > 2 * SYNC_PERIOD_S * 1000
          ? true
          : undefined,
      ), 30_000);
    const resyncs = logged(kipvs, "synced", mark).filter((l) => l.full === true).length;
    figure("full resyncs while the API server was down", resyncs, "");
    assert.deepEqual(
      await dumpDataplane(),
      kept,
      "ipvsadm -Sn, ipset save, iptables-save, kube-ipvs0",
    );
    assert.deepEqual(await traffic("10.96.0.10", 80, 4), { "pod-a": 2, "pod-c": 2 });
    assert.deepEqual(await traffic("10.96.0.20", 80, 2), { "pod-c": 2 });
    const stale = await healthz();
    assert.equal(
      stale.status,
      200,
      "kube-proxy's semantics: an unreachable API server alone is not unhealthy",
    );
    assert.equal(stale.body.source?.synced, true);
    assert.ok(stale.body.source!.staleSeconds >= 2 * SYNC_PERIOD_S - 1, JSON.stringify(stale.body));
    assert.match(stale.body.source?.error ?? "", /127\.0\.0\.1:6443/);
    figure("view staleness reported by /healthz", stale.body.source!.staleSeconds, "s");
    const metrics = await (await fetch("http://127.0.0.1:10249/metrics")).text();
    const contact = /^kipvs_source_last_contact_timestamp_seconds (\S+)$/m.exec(metrics)?.[1];
    assert.ok(
      Date.now() / 1000 - Number(contact) >= 2 * SYNC_PERIOD_S - 1,
      `last contact ${contact}`,
    );
    console.log(`healthz while the API server is down: ${JSON.stringify(stale.body)}`);

    console.log("== the API server restarts (same state): a change made then is picked up");
    apiserver = await startApiServer(apiserverOptions);
    t = performance.now();
    await api.put(`${SLICES}/web-1`, slice("web-1", "web", 8080, ["pod-a", "pod-b", "pod-c"]));
    figure(
      "API server back to change programmed",
      await programmed(
        "10.96.0.10",
        ["10.244.1.2:8080 w1", "10.244.1.3:8080 w1", "10.244.1.4:8080 w1"],
        60_000,
      ),
    );
    assert.deepEqual(await traffic("10.96.0.10", 80, 6), { "pod-a": 2, "pod-b": 2, "pod-c": 2 });
    const back = await eventually("healthz without an error", async () => {
      const h = await healthz();
      return h.body.source?.error === undefined ? h : undefined;
    }, 30_000);
    assert.ok(back.body.source!.staleSeconds < 2, JSON.stringify(back.body));
    assert.equal(logged(kipvs, "sync failed; retrying with backoff").length, 0, "no failed sync");
    // An API error names the status as ": 403 Forbidden" (a sync taking 403 ms must not count).
    assert.deepEqual(
      kipvs.lines.filter((l) => /: 403 |"status":403\b/.test(l)),
      [],
      "RBAC refused nothing",
    );

    console.log("== kipvs stops on SIGTERM and leaves the dataplane in place");
    const last = await dumpDataplane();
    const status = await kipvs.stop("SIGTERM");
    assert.equal(status.code, 0);
    assert.deepEqual(await dumpDataplane(), last);
  } catch (err) {
    console.log(`--- kipvs log (tail) ---\n${kipvs.tail(40)}`);
    if (apiserver) console.log(`--- apiserver log (tail) ---\n${apiserver.tail(10)}`);
    throw err;
  } finally {
    api?.close();
    await kipvs.stop("SIGKILL");
    await apiserver?.stop("SIGTERM");
  }
});
