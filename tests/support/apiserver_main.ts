/**
 * The test API server as a program, for scripts (a kernel test in the guest, a demo):
 *
 * ```
 * deno run -A tests/support/apiserver_main.ts --kubeconfig /run/k/kubeconfig \
 *   [--listen 127.0.0.1:0] [--tls [--pki-dir DIR]] [--objects objects.json] [--state FILE]
 *   [--token TOKEN=USER] [--rbac rbac.yaml] [--bookmark-interval-ms 60000]
 * ```
 *
 * It writes a kubeconfig that reaches it (with `--tls`: a CA and a client certificate made for
 * the run, or kept in `--pki-dir` and reused from there; else plain HTTP), prints `ready <url>`
 * on stdout and serves until SIGTERM or SIGINT. `--objects` seeds it with a JSON array (or a
 * `kind: List`) of Services, EndpointSlices and Nodes. Objects change over HTTP as on a real
 * server: `kubectl create|replace|delete -f`, or curl with POST, PUT and DELETE.
 *
 * `--state FILE` plays etcd across restarts: every write is saved there, and a server started
 * on an existing file (with the same `--listen` and `--pki-dir`) carries on where the last one
 * stopped, with the same objects and resourceVersions and an empty event log (`--objects` is
 * then ignored).
 *
 * `--token` accepts a bearer token for a user (beside the client certificate of `--tls`), and
 * `--rbac` enforces the ClusterRoles and ClusterRoleBindings of a file (deploy/rbac.yaml) on the
 * users they name (see `_rbac.ts`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TestApiServer } from "./apiserver.ts";
import type { Obj, StoreState } from "./_store.ts";
import { type TestPki, testPki } from "./certs.ts";
import { rbacAuthorizer } from "./_rbac.ts";

const PLURALS: Record<string, string> = {
  Service: "services",
  EndpointSlice: "endpointslices",
  Node: "nodes",
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    kubeconfig: { type: "string" },
    listen: { type: "string", default: "127.0.0.1:0" },
    tls: { type: "boolean", default: false },
    objects: { type: "string" },
    state: { type: "string" },
    "pki-dir": { type: "string" },
    token: { type: "string" },
    rbac: { type: "string" },
    "bookmark-interval-ms": { type: "string", default: "60000" },
  },
});
if (!values.kubeconfig) {
  console.error(
    "usage: apiserver_main.ts --kubeconfig PATH [--listen HOST:PORT] [--tls] [--objects FILE]",
  );
  Deno.exit(2);
}
const at = values.listen.lastIndexOf(":");
const hostname = values.listen.slice(0, at).replace(/^\[|\]$/g, "");
const port = Number(values.listen.slice(at + 1));
const pki = values.tls ? await keptPki(values["pki-dir"]) : undefined;
const token = values.token?.split("=");
if (token && (token.length !== 2 || !token[0] || !token[1])) {
  console.error(`--token: "${values.token}" is not TOKEN=USER`);
  Deno.exit(2);
}
const rbac = values.rbac ? rbacAuthorizer(await Deno.readTextFile(values.rbac)) : undefined;
const server = await TestApiServer.start({
  hostname,
  port,
  bookmarkIntervalMs: Number(values["bookmark-interval-ms"]),
  ...(token ? { tokens: { [token[0]!]: token[1]! } } : {}),
  ...(rbac ? { authorize: rbac.authorize } : {}),
  ...(pki
    ? { tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert }, clientCerts: true }
    : {}),
});
const saved = values.state ? await readState(values.state) : undefined;
if (saved) server.store.importState(saved);
else if (values.objects) {
  const doc = JSON.parse(await Deno.readTextFile(values.objects));
  const items: Obj[] = Array.isArray(doc) ? doc : doc.items ?? [doc];
  for (const o of items) {
    const plural = PLURALS[o.kind ?? ""];
    if (!plural) throw new Error(`--objects: unsupported kind "${o.kind}" of ${o.metadata?.name}`);
    server.apply(plural, o);
  }
}
const cluster = pki
  ? `{ server: "${server.url}", certificate-authority: "${pki.files.caCert}" }`
  : `{ server: "${server.url}" }`;
const user = pki
  ? `{ client-certificate: "${pki.files.clientCert}", client-key: "${pki.files.clientKey}" }`
  : "{}";
await Deno.writeTextFile(
  values.kubeconfig,
  `apiVersion: v1
kind: Config
current-context: test
clusters: [{ name: test, cluster: ${cluster} }]
users: [{ name: test, user: ${user} }]
contexts: [{ name: test, context: { cluster: test, user: test } }]
`,
);
if (values.state) {
  const file = values.state;
  const save = () => Deno.writeTextFileSync(file, JSON.stringify(server.store.exportState()));
  save();
  server.store.subscribe(save);
}
console.log(`ready ${server.url}`);
const stop = async () => {
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);

/** The saved state, or undefined when the file does not exist yet. */
async function readState(path: string): Promise<StoreState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as StoreState;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** The test PKI; with `dir`, made once and kept there so that a restarted server reuses it. */
async function keptPki(
  dir: string | undefined,
): Promise<Pick<TestPki, "caCert" | "serverCert" | "serverKey" | "files">> {
  if (!dir) return await testPki();
  const names = {
    caCert: "ca.crt",
    serverCert: "server.crt",
    serverKey: "server.key",
    clientCert: "client.crt",
    clientKey: "client.key",
  } as const;
  const files = Object.fromEntries(
    Object.entries(names).map(([k, f]) => [k, `${dir}/${f}`]),
  ) as TestPki["files"];
  try {
    await Deno.stat(files.clientKey);
  } catch {
    const made = await testPki();
    await Deno.mkdir(dir, { recursive: true });
    for (const k of Object.keys(names) as (keyof typeof names)[]) {
      await Deno.copyFile(made.files[k], files[k]);
    }
  }
  const read = (f: string) => Deno.readTextFile(f);
  return {
    caCert: await read(files.caCert),
    serverCert: await read(files.serverCert),
    serverKey: await read(files.serverKey),
    files,
  };
}
