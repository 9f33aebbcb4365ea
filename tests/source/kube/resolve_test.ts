import assert from "node:assert/strict";
import { KipvsError } from "../../../src/errors.ts";
import { inClusterConnection } from "../../../src/source/kube/incluster.ts";
import { resolveConnection } from "../../../src/source/kube/resolve.ts";
import { FileToken } from "../../../src/source/kube/token.ts";

const SA = "/var/run/secrets/kubernetes.io/serviceaccount";

function world(o: { env?: Record<string, string>; files?: Record<string, string> }) {
  const files = { ...o.files };
  return {
    files,
    env: (n: string) => o.env?.[n],
    readTextFile: (p: string) =>
      p in files ? Promise.resolve(files[p]!) : Promise.reject(new Deno.errors.NotFound(p)),
    exists: (p: string) => Promise.resolve(p in files),
  };
}

const KC = (server: string) => `
current-context: c
clusters: [{ name: k, cluster: { server: "${server}" } }]
contexts: [{ name: c, context: { cluster: k } }]
`;

const POD = {
  env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443", HOME: "/root" },
  files: {
    [`${SA}/token`]: "sa-token\n",
    [`${SA}/ca.crt`]: "CLUSTER CA",
    "/root/.kube/config": KC("https://home:6443"),
  },
};

Deno.test("inClusterConnection() uses the service host and port, the pod's CA and its token", async () => {
  const w = world(POD);
  const c = await inClusterConnection(w);
  assert.equal(c.server, "https://10.96.0.1:443");
  assert.deepEqual(c.caCerts, ["CLUSTER CA"]);
  assert.ok(c.credentials.kind === "bearer");
  assert.equal(await c.credentials.token.token(), "sa-token");
  assert.equal(c.origin, "in-cluster service account");
});

Deno.test("inClusterConnection() brackets an IPv6 service host", async () => {
  const w = world({
    ...POD,
    env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" },
  });
  assert.equal((await inClusterConnection(w)).server, "https://[fd00::1]:6443");
});

Deno.test("inClusterConnection() fails naming what is missing", async () => {
  const noEnv = await inClusterConnection(world({ files: POD.files })).catch((e) => e);
  assert.ok(noEnv instanceof KipvsError);
  assert.match(noEnv.message, /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set/);
  const badPort = await inClusterConnection(
    world({ ...POD, env: { ...POD.env, KUBERNETES_SERVICE_PORT: "https" } }),
  )
    .catch((e) => e);
  assert.match(badPort.message, /KUBERNETES_SERVICE_PORT "https" is not a port/);
  const noToken = await inClusterConnection(
    world({ env: POD.env, files: { [`${SA}/ca.crt`]: "CA" } }),
  ).catch((e) => e);
  assert.equal(noToken.code, "io");
  assert.match(
    noToken.message,
    /cannot read token file \/var\/run\/secrets\/kubernetes.io\/serviceaccount\/token/,
  );
});

Deno.test("resolveConnection() prefers --kubeconfig, then --master, then the pod, then KUBECONFIG, then ~/.kube/config", async () => {
  const files = {
    ...POD.files,
    "/etc/kc": KC("https://flag:6443"),
    "/env/kc": KC("https://env:6443"),
  };
  const env = { ...POD.env, KUBECONFIG: "/missing:/env/kc" };
  const w = world({ env, files });
  assert.equal(
    (await resolveConnection({ ...w, kubeconfig: "/etc/kc" })).server,
    "https://flag:6443",
  );
  assert.equal(
    (await resolveConnection({ ...w, kubeconfig: "/etc/kc", master: "https://m:1" })).server,
    "https://m:1",
  );
  const master = await resolveConnection({ ...w, master: "http://127.0.0.1:8080" });
  assert.equal(master.server, "http://127.0.0.1:8080");
  assert.deepEqual(master.credentials, { kind: "none" });
  assert.equal((await resolveConnection(w)).origin, "in-cluster service account");
  const outside = world({ env: { HOME: "/root", KUBECONFIG: "/missing:/env/kc" }, files });
  assert.equal((await resolveConnection(outside)).server, "https://env:6443");
  const home = world({ env: { HOME: "/root" }, files });
  assert.equal((await resolveConnection(home)).server, "https://home:6443");
});

Deno.test("resolveConnection() says what it tried when nothing is configured", async () => {
  const err = await resolveConnection(world({ env: { HOME: "/root" } })).catch((e) => e);
  assert.ok(err instanceof KipvsError);
  assert.equal(err.code, "invalid-config");
  assert.match(
    err.message,
    /give --kubeconfig or --master.*KUBERNETES_SERVICE_HOST unset; KUBECONFIG unset; no \/root\/.kube\/config/,
  );
  const bad = await resolveConnection({ ...world({}), master: "::nope" }).catch((e) => e);
  assert.equal(bad.code, "usage");
  assert.match(bad.message, /--master "::nope" is not a URL/);
});

Deno.test("FileToken keeps its token for a period, re-reads it after, and keeps the last good one on failure", async () => {
  let t = 0;
  const files: Record<string, string> = { "/tok": "a" };
  const token = new FileToken({
    path: "/tok",
    periodMs: 60_000,
    now: () => t,
    readTextFile: (p) =>
      p in files ? Promise.resolve(files[p]!) : Promise.reject(new Deno.errors.NotFound(p)),
  });
  assert.equal(await token.token(), "a");
  files["/tok"] = "b";
  t = 59_999;
  assert.equal(await token.token(), "a", "cached within the period");
  t = 60_000;
  assert.equal(await token.token(), "b");
  delete files["/tok"];
  assert.equal(await token.refresh(), false);
  assert.equal(await token.token(), "b", "a vanished file keeps the last token");
  files["/tok"] = "c";
  assert.equal(await token.refresh(), true);
  assert.equal(await token.token(), "c");
});

Deno.test("FileToken refuses an empty token file at first read", async () => {
  const token = new FileToken({ path: "/tok", readTextFile: () => Promise.resolve(" \n") });
  await assert.rejects(token.token(), /token file \/tok is empty/);
});
