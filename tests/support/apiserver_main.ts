/**
 * The test API server as a program, for scripts (a kernel test in the guest, a demo):
 *
 * ```
 * deno run -A tests/support/apiserver_main.ts --kubeconfig /run/k/kubeconfig \
 *   [--listen 127.0.0.1:0] [--tls] [--objects objects.json] [--bookmark-interval-ms 60000]
 * ```
 *
 * It writes a kubeconfig that reaches it (with `--tls`: a CA and a client certificate made for
 * the run; else plain HTTP), prints `ready <url>` on stdout and serves until SIGTERM or SIGINT.
 * `--objects` seeds it with a JSON array (or a `kind: List`) of Services, EndpointSlices and
 * Nodes. Objects change over HTTP as on a real server: `kubectl create|replace|delete -f`, or
 * curl with POST, PUT and DELETE.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TestApiServer } from "./apiserver.ts";
import type { Obj } from "./_store.ts";
import { testPki } from "./certs.ts";

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
const pki = values.tls ? await testPki() : undefined;
const server = await TestApiServer.start({
  hostname,
  port,
  bookmarkIntervalMs: Number(values["bookmark-interval-ms"]),
  ...(pki
    ? { tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert }, clientCerts: true }
    : {}),
});
if (values.objects) {
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
console.log(`ready ${server.url}`);
const stop = async () => {
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
