// deploy/rbac.yaml enforced on the test API server as kube-apiserver's RBAC authorizer would
// for kipvs's ServiceAccount: the Kubernetes source lists and watches everything it needs under
// it, and uses every verb it grants.
import assert from "node:assert/strict";
import { validateObject } from "../../src/k8s/validate.ts";
import { Logger } from "../../src/observe/log.ts";
import { KubeClient } from "../../src/source/kube/client.ts";
import { KubeSource } from "../../src/source/kube/kube_source.ts";
import { StaticToken } from "../../src/source/kube/token.ts";
import { TestApiServer, type Verb } from "../support/apiserver.ts";
import { rawNode, rawService, rawSlice } from "../support/kube_objects.ts";
import { waitFor } from "../support/wait.ts";
import { type Json, manifests, one } from "./_deploy.ts";

const TOKEN = "kipvs-sa-token";

/** "verb resource" pairs the ClusterRole grants to the ServiceAccount its binding names. */
async function grants(): Promise<{ user: string; allowed: Set<string> }> {
  const all = await manifests();
  const subject = one(all, "ClusterRoleBinding").subjects[0];
  const user = `system:serviceaccount:${subject.namespace}:${subject.name}`;
  const allowed = new Set<string>(
    one(all, "ClusterRole").rules.flatMap((r: Json) =>
      r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${v} ${res}`))
    ),
  );
  return { user, allowed };
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
  const { user, allowed } = await grants();
  assert.equal(user, "system:serviceaccount:kube-system:kipvs");
  const authorize = (r: { user: string; verb: Verb; resource: string }) =>
    r.user === user && allowed.has(`${r.verb} ${r.resource}`);
  await withSource(authorize, user, async (s, source) => {
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
    const used = new Set(s.requests.map((r) => `${r.verb} ${r.resource}`));
    assert.deepEqual([...used].sort(), [...allowed].sort(), "every grant is used, none is missing");
  });
});

Deno.test("without one of its grants (watch nodes) the source cannot follow its Node and says 403 Forbidden", async () => {
  const { user, allowed } = await grants();
  const authorize = (r: { user: string; verb: Verb; resource: string }) =>
    r.user === user && allowed.has(`${r.verb} ${r.resource}`) &&
    `${r.verb} ${r.resource}` !== "watch nodes";
  await withSource(authorize, user, async (_s, source) => {
    await source.start(); // lists are allowed
    await waitFor("the refusal", () => /403 Forbidden/.test(source.health().error ?? ""));
    assert.match(source.health().error!, /node: .*cannot watch resource "nodes"/);
  });
});
