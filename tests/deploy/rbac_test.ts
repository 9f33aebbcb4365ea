// deploy/rbac.yaml enforced on the test API server as kube-apiserver's RBAC authorizer would
// for kipvs's ServiceAccount: the Kubernetes source lists and watches everything it needs under
// it, and uses every verb it grants.
import assert from "node:assert/strict";
import { validateObject } from "../../src/k8s/validate.ts";
import { Logger } from "../../src/log.ts";
import { KubeClient } from "../../src/source/kube/client.ts";
import { KubeSource } from "../../src/source/kube/kube_source.ts";
import { StaticToken } from "../../src/source/kube/token.ts";
import { TestApiServer, type Verb } from "../support/apiserver.ts";
import { rawNode, rawService, rawSlice } from "../support/kube_objects.ts";
import { waitFor } from "../support/wait.ts";
import { rbacAuthorizer } from "../support/_rbac.ts";
import { RESOURCES } from "../support/_store.ts";
import { ROOT } from "./_deploy.ts";

const TOKEN = "kipvs-sa-token";

const USER = "system:serviceaccount:kube-system:kipvs";

/** deploy/rbac.yaml as kube-apiserver's RBAC authorizer would apply it. */
async function rbac() {
  return rbacAuthorizer(await Deno.readTextFile(`${ROOT}/deploy/rbac.yaml`));
}

async function withSource(
  authorize: (r: { user: string; verb: Verb; resource: string }) => boolean,
  user: string,
  fn: (s: TestApiServer, source: KubeSource) => Promise<void>,
): Promise<void> {
  const s = await TestApiServer.start({ tokens: { [TOKEN]: user }, authorize });
  s.apply("services", rawService("default", "web"));
  s.apply("endpointslices", rawSlice("default", "web-1", { service: "web" }));
  s.apply("nodes", rawNode("node-1"));
  const source = new KubeSource({
    client: new KubeClient({
      connection: {
        server: s.url,
        caCerts: [],
        insecureSkipTLSVerify: false,
        credentials: { kind: "bearer", token: new StaticToken(TOKEN) },
        origin: "test",
      },
    }),
    nodeName: "node-1",
    decode: (raw) => validateObject(raw),
    log: new Logger({ sink: () => {} }),
    tuning: { backoff: { initialMs: 20, maxMs: 100 } },
  });
  try {
    await fn(s, source);
  } finally {
    await source.stop();
    await s.close();
  }
}

Deno.test("the Kubernetes source needs exactly what deploy/rbac.yaml grants its ServiceAccount", async () => {
  const { authorize, grants } = await rbac();
  assert.deepEqual([...grants.keys()], [USER], "the binding names kipvs's ServiceAccount");
  await withSource(authorize, USER, async (s, source) => {
    await source.start();
    let changes = 0;
    source.onChange(() => changes++);
    s.apply(
      "endpointslices",
      rawSlice("default", "web-1", { service: "web", addresses: ["10.244.0.9"] }),
    );
    s.apply("nodes", rawNode("node-1", { zone: "zone-b" }));
    await waitFor(
      "the watched changes",
      () =>
        changes >= 1 &&
        source.snapshot().node?.metadata.labels["topology.kubernetes.io/zone"] === "zone-b",
    );
    assert.deepEqual(s.requests.filter((r) => r.status === 403), [], "nothing was refused");
    const group = (plural?: string) => RESOURCES.find((r) => r.plural === plural)?.group;
    const used = new Set(s.requests.map((r) => `${r.verb} ${group(r.resource)}/${r.resource}`));
    assert.deepEqual([...used].sort(), [...grants.get(USER)!].sort(), "every grant is used");
  });
});

Deno.test("without one of its grants (watch nodes) the source cannot follow its Node and says 403 Forbidden", async () => {
  const { authorize } = await rbac();
  const without = (r: { user: string; verb: Verb; resource: string }) =>
    authorize(r) && `${r.verb} ${r.resource}` !== "watch nodes";
  await withSource(without, USER, async (_s, source) => {
    await source.start(); // lists are allowed
    await waitFor("the refusal", () => /403 Forbidden/.test(source.health().error ?? ""));
    assert.match(source.health().error!, /node: .*cannot watch resource "nodes"/);
  });
});

Deno.test("the RBAC authorizer refuses the ServiceAccount what deploy/rbac.yaml does not grant", async () => {
  const { authorize } = await rbac();
  assert.equal(authorize({ user: USER, verb: "list", resource: "services" }), true);
  assert.equal(authorize({ user: USER, verb: "get", resource: "nodes" }), false);
  assert.equal(authorize({ user: USER, verb: "update", resource: "endpointslices" }), false);
  assert.equal(authorize({ user: "admin", verb: "update", resource: "services" }), true);
});
